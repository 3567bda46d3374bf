"""Every operation of ``/openapi.json``, fuzzed by schemathesis against a real hlsd.

The server is a real process with every management surface on (admin key set and sent,
so requests reach the handlers, not only the auth check; no handshake, so the
Go-HLS-Streamer routes take loopback clients as the seed's config without one would).
Each operation runs schemathesis' examples, coverage (boundary values: the longest
string allowed and one longer, the maximum and past it, a missing required field...)
and fuzzing phases, with data that fits the schema (positive) and data that does not
(negative), seeded and derandomized so a run repeats exactly.

Checks, and why these:
- ``not_a_server_error``: no input gives a 5xx. The point of the test.
- ``negative_data_rejection``: data outside the schema is refused with a 4xx, so the
  bounds the schema states are the bounds the server enforces.
- ``response_schema_conformance`` and ``content_type_conformance``: a response the
  schema describes (every 4XX is ``{"error"}``, or LiveMix's envelope) has that shape.
Left out: ``status_code_conformance`` (4XX covers every refusal; the exact status is
each test's business), ``positive_data_acceptance`` (schema-valid data names ids that do
not exist, so 404 is right), and the stateful checks (no links are declared).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
)

from tests._support import media as fx
from tests._support.hlsd_server import HlsdServer
from tests._support.servers import Upstream

ADMIN_KEY = "fuzz-admin-key"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
CHECKS = [not_a_server_error, negative_data_rejection, response_schema_conformance,
          content_type_conformance]
MAX_EXAMPLES = 25
"""Fuzzing examples per operation and mode (the coverage phase adds its own cases)."""
SEED = 20261206

# Raw bodies: playlists whose numbers go past every bound, and subtitle text.
_NUMBERS = st.one_of(
    st.sampled_from(["0", "-1", "1e308", "1e400", "nan", "inf", "-inf", "4", "2.5",
                     "99999999999999999999999", "18446744073709551616", "1e-320", "", "x"]),
    st.integers().map(str), st.floats().map(repr))
_TIMES = st.sampled_from(["2026-12-06T12:00:00Z", "9999-12-31T23:59:59Z",
                          "0001-01-01T00:00:00+01:00", "2026-13-40T99:99:99Z", "x"])


@st.composite
def _playlists(draw: st.DrawFn) -> bytes:
    lines = ["#EXTM3U"]
    for tag in ("VERSION", "TARGETDURATION", "MEDIA-SEQUENCE", "DISCONTINUITY-SEQUENCE"):
        if draw(st.booleans()):
            lines.append(f"#EXT-X-{tag}:{draw(_NUMBERS)}")
    if draw(st.booleans()):
        lines.append(f"#EXT-X-STREAM-INF:BANDWIDTH={draw(_NUMBERS)},"
                     f"RESOLUTION={draw(_NUMBERS)}x{draw(_NUMBERS)},FRAME-RATE={draw(_NUMBERS)}")
        lines.append("v/index.m3u8")
    for n in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{draw(_TIMES)}")
        if draw(st.booleans()):
            lines.append(f"#EXT-X-BYTERANGE:{draw(_NUMBERS)}@{draw(_NUMBERS)}")
        lines.append(f"#EXTINF:{draw(_NUMBERS)},")
        lines.append(f"seg-{n}.ts")
    if draw(st.booleans()):
        lines.append("#EXT-X-ENDLIST")
    return ("\n".join(lines) + "\n").encode()


schemathesis.openapi.media_type(
    "application/vnd.apple.mpegurl", st.one_of(_playlists(), st.binary(max_size=64)),
    aliases=["application/x-mpegurl"])
schemathesis.openapi.media_type(
    "text/vtt", st.one_of(
        st.just(b"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nhello\n"),
        st.text(max_size=200).map(lambda t: ("WEBVTT\n\n" + t).encode()),
        st.binary(max_size=64)),
    aliases=["application/x-subrip"])
schemathesis.openapi.media_type("application/offset+octet-stream", st.binary(max_size=64))


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    media = fx.mp3(tmp_path_factory.mktemp("fuzz-media") / "tone.mp3", seconds=2)
    with Upstream() as up:
        up.add_file("/media/tone.mp3", media)
        yield up


@pytest.fixture(scope="module")
def server(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[HlsdServer]:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "library").mkdir()
    cfg: dict[str, Any] = {
        "admin_key": ADMIN_KEY,
        "url": {"video": f"{upstream.url}/media", "vtt": f"{upstream.url}/vtt"},
        "upstream": {"read_timeout": "2s", "total_timeout": "10s"},
        "packager": {"max_id_length": 1024},
        "channels": {"library": str(root / "library")},
        "livemix": {"file_roots": [str(root / "library")]},
        # Fuzzed tus creations declare sizes up to 19 digits: past this they are refused
        # (413) instead of filling the uploads' room (whose 507 is by design).
        "assets": {"max_upload": "1MB"},
        "log_level": "warning",
    }
    with HlsdServer(cfg, tmp_dir=root) as hlsd:
        yield hlsd


@pytest.fixture(scope="module")
def api_schema(server: HlsdServer) -> Any:
    config = SchemathesisConfig.from_dict({
        "seed": SEED,
        # Path parameters like {path:path} make Hypothesis filter many inputs; that is
        # expected, not a problem of the test.
        "suppress-health-check": ["filter_too_much", "too_slow", "data_too_large"],
        "headers": AUTH,
        "request-timeout": 30,
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES,
                       "deterministic": True, "database": "none"},
        # Refusals of invalid data: schemathesis' list, plus tus's 412 for a missing or
        # wrong Tus-Resumable.
        "checks": {"negative_data_rejection": {"expected-statuses": [
            400, 401, 403, 404, 405, 406, 409, 412, 415, 422, 428, 429, "5XX"]}},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
                   "fuzzing": {"enabled": True}, "stateful": {"enabled": False}},
    })
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_no_input_gives_a_server_error(case: Case, server: HlsdServer) -> None:
    response = case.call(base_url=server.url, headers=AUTH)
    case.validate_response(response, checks=CHECKS)


PLAYBACK = {"/hls/{rid}/{file}", "/live/{stream}/index.m3u8", "/live/{stream}/{path}",
            "/vod/{asset}/index.m3u8", "/vod/{asset}/manifest.mpd", "/vod/{asset}/{path}",
            "/play/{asset}", "/recordings/{recording_id}/index.m3u8",
            "/recordings/{recording_id}/{path}", "/recordings/{recording_id}.mp4",
            "/v1/vod/live/{source_id}/vid.m3u8", "/v1/vod/live/{source_id}/{path}",
            "/v1/vod/recording/{recording_id}/vid.m3u8",
            "/v1/vod/recording/{recording_id}/{path}"}
"""The playback paths served before the framework (public or token-gated, never the
admin key), documented all the same."""
OPEN = {("get", "/api/health"), ("get", "/api/ready"), ("post", "/api/token"),
        ("post", "/api/batch"), ("post", "/api/unlock"), ("post", "/v1/playlist"),
        *(("post", "/ingest/{stream}/{path}"), ("put", "/ingest/{stream}/{path}"),
          ("delete", "/ingest/{stream}/{path}"), ("post", "/ingest/{stream}.ts"),
          ("put", "/ingest/{stream}.ts")),
        ("get", "/web/spectate"), ("get", "/web/client/{name}"), ("get", "/web/vendor/{name}"),
        ("get", "/ws"), ("get", "/v1/edge"), ("options", "/api/uploads"),
        ("options", "/api/uploads/{upload_id}"),
        *(("get", path) for path in PLAYBACK)}
"""Operations without the admin key: the service and web pages, the Go-HLS-Streamer API
(its handshake), ingest (publish keys), the websocket (its JWTs), the edge link (edge
keys), tus discovery, and playback (public, or its own tokens)."""


def test_every_management_operation_needs_the_admin_key(server: HlsdServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as c:
        paths = c.get("/openapi.json").json()["paths"]
        checked = 0
        for path, operations in paths.items():
            url = path.replace("{", "").replace("}", "")  # ids that name nothing
            for method in operations:
                if (method, path) in OPEN:
                    continue
                for headers in ({}, {"Authorization": "Bearer not-the-key"}):
                    r = c.request(method.upper(), url, headers=headers, json={})
                    assert r.status_code == 401, (method, path, r.status_code, r.text)
                    if method == "head":
                        continue  # no body to read the reason in
                    error = r.json()["error"]
                    message = error["message"] if path.startswith("/v1/") else error
                    assert "admin key" in message, (method, path, message)
                checked += 1
        assert checked >= 40
        assert {(m, p) for p, ops in paths.items() for m in ops} >= OPEN, "OPEN names an " \
            "operation the document lacks"


def test_the_fast_paths_are_documented(server: HlsdServer) -> None:
    """The paths served before the framework are in the document all the same, with
    their media types, tokens and error shape."""
    with httpx.Client(base_url=server.url, timeout=10) as c:
        document = c.get("/openapi.json").json()
        paths = document["paths"]
        assert set(paths) >= PLAYBACK
        for prefix in ("/hls/", "/live/", "/vod/", "/play/", "/recordings/", "/v1/vod/live/",
                       "/v1/vod/recording/"):
            assert any(p.startswith(prefix) for p in paths), prefix
        for path in PLAYBACK:
            op = paths[path]["get"]
            assert op["x-hlsd-fast-path"] is True
            assert op["responses"]["4XX"]["content"]["application/json"]["schema"][
                "required"] == ["error"], path
        kinds = {kind for p in PLAYBACK for r in paths[p]["get"]["responses"].values()
                 for kind in r.get("content", {})}
        assert {"application/vnd.apple.mpegurl", "video/mp2t", "video/mp4",
                "application/dash+xml", "text/vtt"} <= kinds
        hls = paths["/hls/{rid}/{file}"]["get"]
        given = {(p["in"], p["name"]) for p in hls["parameters"]}
        assert {("header", "x-gostreamer-token"), ("query", "token")} <= given
        assert "Authorization: Bearer" in hls["parameters"][2]["description"]
        # LL-HLS on /live: the delivery directives, their refusals, parts.
        for path in ("/live/{stream}/index.m3u8", "/live/{stream}/{path}"):
            live = paths[path]["get"]
            schemas = {p["name"]: p["schema"] for p in live["parameters"]}
            assert schemas["_HLS_msn"]["type"] == schemas["_HLS_part"]["type"] == "integer"
            assert schemas["_HLS_skip"]["enum"] == ["YES", "v2"]
            assert {"400", "503"} <= set(live["responses"])
            assert "cache-control" in live["responses"]["200"]["headers"]
        assert "PRELOAD-HINT" in paths["/live/{stream}/{path}"]["get"]["description"]
        continuous = paths["/ingest/{stream}.ts"]["put"]
        assert "MPEG-TS" in continuous["description"]
        assert continuous["responses"]["200"]["content"]["application/json"]["schema"][
            "required"] == ["stream", "ended"]
        assert "key" in {p["name"] for p in continuous["parameters"]}
        assert paths["/metrics"]["get"]["responses"]["200"]["content"] == {
            "text/plain": {"schema": {"type": "string"}}}
        assert set(paths["/api/uploads/{upload_id}"]) == {"head", "patch", "delete", "post",
                                                            "options"}
        assert set(paths["/api/uploads"]) == {"post", "options"}
        ws = paths["/ws"]["get"]
        assert {"101", "426"} <= set(ws["responses"]) and "x-websocket" in ws
        # The document is not where they are routed: they answer as before.
        assert c.get("/live/nothing/index.m3u8").json() == {"error": "no such live stream"}
        plain = c.get("/ws")
        assert plain.status_code == 426 and plain.headers["upgrade"] == "websocket"
        assert "websocket" in plain.json()["error"]


def test_the_fuzzed_server_is_still_well(server: HlsdServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as c:
        assert c.get("/api/health").status_code == 200
        assert c.get("/api/streams", headers=AUTH).status_code == 200
    log = server.log_text()
    assert "Traceback" not in log and " failed" not in log, server.log_tail()
