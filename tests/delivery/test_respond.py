"""What every playback surface shares, in process: `Playback` answering for resolvers
made up here (bytes, files, redirects, refusals), through its one responder: byte
ranges, HEAD, ETag/304, If-Range, caching, sendfile, errors and CORS."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hlsd.auth.tokens import TokenSigner
from hlsd.delivery import (
    Cors,
    FileBody,
    Mount,
    Playback,
    Redirect,
    Refused,
    Request,
    Resource,
    TokenGate,
)
from hlsd.delivery.resource import IMMUTABLE, M3U8, PLAYLIST, content_type
from hlsd.delivery.respond import byte_range
from hlsd.infra.backends import Backends, BackendUnavailable

BODY = bytes(range(256)) * 4  # 1024 bytes, each position telling where it is
OCTETS = content_type("application/octet-stream")
EXPOSED = "content-length, content-range, etag"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    sent_path: str | None = None
    header_list: list[tuple[bytes, bytes]] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)


def cors(origins: tuple[str, ...] = ("*",)) -> Cors:
    return Cors(origins, methods=["GET", "HEAD", "POST"], max_age=321,
                request_headers=["x-gostreamer-token", "range"],
                exposed=["content-length", "content-range", "etag"])


async def framework(scope: Scope, receive: Receive, send: Send) -> None:
    """What stands for FastAPI: one JSON answer."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"framework": true}'})


def playback(resolver: Callable[[Request], Awaitable[Resource | Redirect]], *,
             origins: tuple[str, ...] = ("*",)) -> Playback:
    return Playback(framework, mounts=[Mount("/p/", resolver)], cors=cors(origins),
                    backends=Backends())


def call(app: ASGIApp, path: str, headers: dict[str, str] | None = None, *,
         method: str = "GET", query: str = "", pathsend: bool = False) -> Answer:
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
             "http_version": "1.1", "method": method, "scheme": "http", "path": path,
             "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "client": ("127.0.0.1", 1234), "server": ("127.0.0.1", 80),
             "headers": [(k.lower().encode(), v.encode())
                         for k, v in (headers or {}).items()],
             "extensions": {"http.response.pathsend": {}} if pathsend else {}}
    messages: list[Message] = []
    asked = False

    async def receive() -> Message:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        messages.append(message)

    async def run() -> None:
        await app(scope, receive, send)

    asyncio.run(run())
    start = messages[0]
    assert start["type"] == "http.response.start"
    header_list = list(start["headers"])
    seen: dict[str, str] = {}
    for name, value in header_list:
        key = name.decode()
        seen[key] = f"{seen[key]}, {value.decode()}" if key in seen else value.decode()
    body = b"".join(m.get("body", b"") for m in messages[1:]
                    if m["type"] == "http.response.body")
    sent = next((m["path"] for m in messages if m["type"] == "http.response.pathsend"),
                None)
    if sent is None:
        assert messages[-1]["type"] == "http.response.body"
        assert not messages[-1].get("more_body", False), "the answer never ended"
    return Answer(start["status"], seen, body, sent, header_list)


def serving(resource: Resource | Redirect) -> Callable[[Request], Awaitable[Resource | Redirect]]:
    async def resolve(request: Request) -> Resource | Redirect:
        return resource

    return resolve


@pytest.mark.parametrize(("spec", "expected"), [
    (b"bytes=0-99", (0, 100)), (b"bytes=10-", (10, 1000)), (b"bytes=-100", (900, 1000)),
    (b"bytes=900-5000", (900, 1000)), (b"bytes=1000-", (1000, 1000)),
    (b"bytes=0-1,5-9", None), (b"items=0-1", None), (b"bytes=a-b", None), (b"bytes=-0", None),
    (b"bytes=5-2", (1000, 1000)),
])
def test_byte_ranges(spec: bytes, expected: tuple[int, int] | None) -> None:
    assert byte_range(spec, 1000) == expected


# --- bytes ----------------------------------------------------------------------------


def test_bytes_whole_one_range_or_nothing_past_the_end() -> None:
    app = playback(serving(Resource(BODY, OCTETS, IMMUTABLE)))
    whole = call(app, "/p/x")
    assert (whole.status, whole.body) == (200, BODY)
    assert whole.headers["content-length"] == "1024"
    assert whole.headers["accept-ranges"] == "bytes"
    part = call(app, "/p/x", {"range": "bytes=10-19"})
    assert (part.status, part.body) == (206, BODY[10:20])
    assert part.headers["content-range"] == "bytes 10-19/1024"
    assert part.headers["content-length"] == "10"
    tail = call(app, "/p/x", {"range": "bytes=-5"})
    assert (tail.status, tail.body) == (206, BODY[-5:])
    past = call(app, "/p/x", {"range": "bytes=1024-"})
    assert (past.status, past.body) == (416, b"")
    assert past.headers["content-range"] == "bytes */1024"
    several = call(app, "/p/x", {"range": "bytes=0-1,5-9"})
    assert (several.status, several.body) == (200, BODY)


def test_head_has_the_headers_of_a_get_and_no_body() -> None:
    app = playback(serving(Resource(BODY, OCTETS, IMMUTABLE)))
    head = call(app, "/p/x", method="HEAD")
    assert (head.status, head.body, head.headers["content-length"]) == (200, b"", "1024")
    ranged = call(app, "/p/x", {"range": "bytes=0-99"}, method="HEAD")
    assert (ranged.status, ranged.body, ranged.headers["content-length"]) == (206, b"", "100")


def test_an_etag_answers_if_none_match_with_304() -> None:
    app = playback(serving(Resource(b"#EXTM3U\n", M3U8, PLAYLIST, '"v1"', playlist=True)))
    first = call(app, "/p/x")
    assert first.headers["etag"] == '"v1"'
    for asked in ('"v1"', 'W/"v1"', '"v0", "v1"', "*"):
        again = call(app, "/p/x", {"if-none-match": asked})
        assert (again.status, again.body) == (304, b""), asked
        assert again.headers["etag"] == '"v1"' and "content-length" not in again.headers
        assert again.headers["cache-control"] == "public, max-age=60"
    assert call(app, "/p/x", {"if-none-match": '"v0"'}).status == 200


def test_if_range_sends_the_whole_body_when_it_names_another_version() -> None:
    app = playback(serving(Resource(BODY, OCTETS, IMMUTABLE, '"v1"')))
    same = call(app, "/p/x", {"range": "bytes=0-9", "if-range": '"v1"'})
    assert (same.status, same.body) == (206, BODY[:10])
    other = call(app, "/p/x", {"range": "bytes=0-9", "if-range": '"v0"'})
    assert (other.status, other.body) == (200, BODY)


def test_caching_is_public_until_a_gate_admits_the_request() -> None:
    signer = TokenSigner(b"k" * 32)
    gate = TokenGate(signer)
    token, _ = signer.issue_subject_token("live/x", 60)

    async def gated(request: Request) -> Resource:
        gate.admit(request, "live/x")
        return Resource(b"#EXTM3U\nseg-1.ts\n", M3U8, IMMUTABLE, '"v"', playlist=True)

    assert call(playback(serving(Resource(BODY, OCTETS, IMMUTABLE))), "/p/x").headers[
        "cache-control"] == "public, max-age=31536000, immutable"
    app = playback(gated)
    refused = call(app, "/p/x")
    assert refused.status == 401 and "token is required" in refused.json()["error"]
    assert call(app, "/p/x", {"x-gostreamer-token": "1.x"}).status == 403
    admitted = call(app, "/p/x", {"x-gostreamer-token": token})
    assert admitted.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert admitted.body == b"#EXTM3U\nseg-1.ts\n"  # a header token leaves URIs alone
    by_query = call(app, "/p/x", query=f"token={token}")
    assert by_query.body == f"#EXTM3U\nseg-1.ts?token={token}\n".encode()
    assert by_query.headers["etag"] != '"v"'  # another version of the playlist


# --- files ------------------------------------------------------------------------------


def test_a_file_whole_goes_to_sendfile_and_a_range_is_read(tmp_path: Path) -> None:
    data = bytes(range(256)) * 3000  # 768,000 bytes: several pieces of the stream
    path = tmp_path / "segment.ts"
    path.write_bytes(data)
    app = playback(serving(Resource(FileBody(path, missing="gone"), OCTETS, IMMUTABLE)))
    handed = call(app, "/p/x", pathsend=True)
    assert handed.status == 200 and handed.sent_path == str(path)
    assert handed.headers["content-length"] == str(len(data))
    assert handed.headers["etag"] and handed.headers["last-modified"]
    streamed = call(app, "/p/x")  # a server without sendfile
    assert streamed.sent_path is None and streamed.body == data
    part = call(app, "/p/x", {"range": "bytes=100000-500000"}, pathsend=True)
    assert (part.status, part.sent_path) == (206, None)
    assert part.body == data[100000:500001]
    assert part.headers["content-range"] == f"bytes 100000-500000/{len(data)}"
    assert call(app, "/p/x", {"range": f"bytes={len(data)}-"}).status == 416
    head = call(app, "/p/x", method="HEAD", pathsend=True)
    assert (head.body, head.sent_path) == (b"", None)
    assert head.headers["content-length"] == str(len(data))
    again = call(app, "/p/x", {"if-none-match": handed.headers["etag"]})
    assert (again.status, again.body) == (304, b"")
    path.unlink()
    missing = call(app, "/p/x", {"origin": "https://player.example"})
    assert missing.status == 404 and missing.json() == {"error": "gone"}
    assert missing.headers["access-control-allow-origin"] == "*"


def test_a_temporary_file_is_streamed_then_released(tmp_path: Path) -> None:
    path = tmp_path / "export.mp4"
    path.write_bytes(BODY)
    released: list[Path] = []

    async def release() -> None:
        released.append(path)

    app = playback(serving(Resource(
        FileBody(path, missing="gone", download="rec 1.mp4", release=release),
        content_type("video/mp4"), IMMUTABLE)))
    got = call(app, "/p/x", pathsend=True)
    assert (got.sent_path, got.body) == (None, BODY)  # never left for the server to read
    assert got.headers["content-disposition"] == "attachment; filename*=utf-8''rec%201.mp4"
    assert released == [path]
    ranged = call(app, "/p/x", {"range": "bytes=1000-"})
    assert (ranged.status, ranged.body) == (206, BODY[1000:])
    path.unlink()
    assert call(app, "/p/x").status == 404
    assert released == [path] * 3


# --- redirects, refusals, failures ---------------------------------------------------


def test_redirects_refusals_and_failures(caplog: pytest.LogCaptureFixture) -> None:
    moved = call(playback(serving(Redirect(307, "/p/y?a=b", ((b"vary", b"user-agent"),)))),
                 "/p/x")
    assert (moved.status, moved.headers["location"], moved.body) == (307, "/p/y?a=b", b"")
    assert moved.headers["vary"] == "user-agent"

    async def refuse(request: Request) -> Resource:
        raise Refused(410, "gone for good")

    async def fail(request: Request) -> Resource:
        raise RuntimeError("a bug")

    async def outage(request: Request) -> Resource:
        raise BackendUnavailable("database", "refused")

    refused = call(playback(refuse), "/p/x", {"origin": "https://player.example"})
    assert (refused.status, refused.json()) == (410, {"error": "gone for good"})
    assert refused.headers["access-control-allow-origin"] == "*"
    with caplog.at_level(logging.ERROR):
        failed = call(playback(fail), "/p/x")
    assert (failed.status, failed.json()) == (500, {"error": "internal error"})
    assert "GET /p/x failed" in caplog.text
    down = call(playback(outage), "/p/x")
    assert down.status == 503 and down.headers["retry-after"] == "5"
    assert "database is unavailable" in down.json()["error"]


def test_what_is_not_a_get_under_a_mount_goes_to_the_framework() -> None:
    app = playback(serving(Resource(BODY, OCTETS, IMMUTABLE)))
    assert call(app, "/p/x", method="POST").json() == {"framework": True}
    assert call(app, "/api/x").json() == {"framework": True}


# --- CORS ----------------------------------------------------------------------------


def test_any_origin_playback_and_framework_answer_alike() -> None:
    app = playback(serving(Resource(BODY, OCTETS, IMMUTABLE)))
    for path in ("/p/x", "/api/x"):
        answer = call(app, path, {"origin": "https://player.example"})
        assert answer.headers["access-control-allow-origin"] == "*", path
        assert answer.headers["access-control-expose-headers"] == EXPOSED
        assert "vary" not in answer.headers
        unasked = call(app, path)  # no origin: no CORS headers to pay for
        assert not any(h.startswith("access-control") for h in unasked.headers), path


def test_listed_origins_are_echoed_and_answers_vary_by_origin() -> None:
    app = playback(serving(Resource(BODY, OCTETS, IMMUTABLE)),
                   origins=("https://a.example",))
    for path in ("/p/x", "/api/x"):
        listed = call(app, path, {"origin": "https://a.example"})
        assert listed.headers["access-control-allow-origin"] == "https://a.example"
        assert listed.headers["access-control-expose-headers"] == EXPOSED
        assert listed.headers["vary"] == "origin"
        for other in ({"origin": "https://evil.example"}, {}):
            answer = call(app, path, other)
            assert "access-control-allow-origin" not in answer.headers
            assert answer.headers["vary"] == "origin"


@pytest.mark.parametrize(("origins", "asked", "status", "body"), [
    (("*",), {}, 200, b"OK"),
    (("https://a.example",), {}, 200, b"OK"),
    (("https://a.example",), {"origin": "https://b.example"}, 400, b"Disallowed CORS origin"),
    (("*",), {"access-control-request-method": "PATCH"}, 400, b"Disallowed CORS method"),
    (("*",), {"access-control-request-headers": "x-gostreamer-token, x-other"}, 400,
     b"Disallowed CORS headers"),
    (("*",), {"access-control-request-private-network": "true"}, 400,
     b"Disallowed CORS private-network"),
])
def test_preflights(origins: tuple[str, ...], asked: dict[str, str], status: int,
                    body: bytes) -> None:
    app = playback(serving(Resource(BODY, OCTETS, IMMUTABLE)), origins=origins)
    headers = {"origin": "https://a.example", "access-control-request-method": "GET",
               "access-control-request-headers": "X-Gostreamer-Token, range", **asked}
    for path in ("/p/x", "/api/x"):
        answer = call(app, path, headers, method="OPTIONS")
        assert (answer.status, answer.body) == (status, body)
        assert answer.headers["access-control-max-age"] == "321"
        assert "x-gostreamer-token" in answer.headers["access-control-allow-headers"]
        assert "GET" in answer.headers["access-control-allow-methods"]
        if status == 200:
            assert answer.headers["access-control-allow-origin"] == origins[0].replace(
                "https://a.example", headers["origin"])
