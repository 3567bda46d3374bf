"""The playback hot paths' own cost per request, in process: no server, no sockets.

    python bench/request_path.py [--requests 20000] [--rounds 5]

The whole app `create_app` returns (client address, admission, dispatch, the playback
responder) is called as an ASGI app in a loop, with a `send` that drops the messages,
so what is measured is hlsd's request path alone: header reading, routing, the token
check, the response's headers. The body is never copied anywhere. A short clip is
served by a local `Upstream` for ``/hls``; a live stream is pushed in through
``/ingest`` for ``/live``.

Printed: CPU microseconds per request for each case (this thread's CPU time, so time
spent waiting for a core on a busy machine is not counted; the best of the rounds).
Compare two checkouts on the same machine, one right after the other; absolute figures
mean nothing across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import _common as c
import httpx
import yaml

from hlsd.app import create_app
from hlsd.config import load_settings

Message = dict[str, Any]
ASGI = Callable[[dict[str, Any], Callable[[], Awaitable[Message]],
                 Callable[[Message], Awaitable[None]]], Awaitable[None]]

SEGMENT = bytes([0x47]) + bytes(187 * 1000)  # ~188 KB of "MPEG-TS"


def clip() -> Path:
    path = c.OUT_DIR / "request-path-clip.mp4"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        c.media.h264_aac_mp4(path, seconds=12)
    return path


@contextlib.asynccontextmanager
async def running(app: ASGI) -> AsyncIterator[None]:
    """The app's lifespan, started and stopped as a server does."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}},
                                   inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    assert started["type"] == "lifespan.startup.complete", started
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task


def scope_for(path: str, headers: dict[str, str], method: str = "GET") -> dict[str, Any]:
    raw_path, _, query = path.partition("?")
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1", "method": method, "scheme": "http",
        "path": raw_path, "raw_path": raw_path.encode(), "query_string": query.encode(),
        "root_path": "", "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"),
                    (b"accept", b"*/*"),
                    *((k.encode(), v.encode()) for k, v in headers.items())],
        "extensions": {},
    }


async def per_request(app: ASGI, scope: dict[str, Any], expect: int, n: int,
                      rounds: int) -> float:
    """Microseconds per call of `app` (the best round)."""
    statuses: list[int] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(dict(scope), receive, send)
    assert statuses == [expect], (scope["path"], statuses)
    best = float("inf")
    for _ in range(rounds):
        started = time.thread_time()  # CPU time: a shared machine's other load aside
        for _ in range(n):
            await app(dict(scope), receive, send)
        best = min(best, time.thread_time() - started)
        statuses.clear()
    return best / n * 1e6


async def main(n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="hlsd-request-path-") as tmp, \
            c.Upstream() as up:
        up.add_file("/media/clip.mp4", clip())
        config = Path(tmp) / "hls.yaml"
        config.write_text(yaml.safe_dump({**c.hlsd_config(up.url), "data_dir": "data"}))
        app: ASGI = create_app(load_settings(config))
        async with running(app):
            transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=transport, base_url="http://h") as client:
                issued = (await client.post("/api/token", json={
                    "handshake": c.HANDSHAKE, "qid": "clip.mp4"})).json()
                root = f"/hls/{quote(issued['rid'], safe='')}"
                token = {c.TOKEN_HEADER: issued["token"]}
                playlist = await client.get(f"{root}/playlist.m3u8", headers=token)
                assert (await client.get(f"{root}/seg-1.ts", headers=token)).status_code == 200
                await client.put("/ingest/cam/seg-0.ts", content=SEGMENT)
                pushed = await client.put("/ingest/cam/index.m3u8", content=(
                    b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg-0.ts\n"))
                assert pushed.status_code == 201, pushed.text
                live = (await client.get("/live/cam/index.m3u8")).text
                live_segment = live.strip().splitlines()[-1]
            origin = {"origin": "http://player.example"}
            cases = [
                ("/hls playlist", f"{root}/playlist.m3u8", token, 200),
                ("/hls playlist, 304", f"{root}/playlist.m3u8",
                 {**token, "if-none-match": playlist.headers["etag"]}, 304),
                ("/hls playlist, Origin", f"{root}/playlist.m3u8", {**token, **origin}, 200),
                ("/hls segment", f"{root}/seg-1.ts", token, 200),
                ("/hls segment, Range", f"{root}/seg-1.ts",
                 {**token, "range": "bytes=0-187"}, 206),
                ("/live playlist", "/live/cam/index.m3u8", {}, 200),
                ("/live segment", f"/live/cam/{live_segment}", {}, 200),
                ("/live unknown (404)", "/live/nope/index.m3u8", {}, 404),
            ]
            print(f"{'case':<26} µs/request  ({n} requests, best of {rounds})")
            for name, path, headers, status in cases:
                micro = await per_request(app, scope_for(path, headers), status, n, rounds)
                print(f"{name:<26} {micro:8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.rounds))
