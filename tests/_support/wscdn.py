"""A minimal client of the hls-websocket-cdn protocol, for tests (not the product's)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

import jwt
from websockets.asyncio.client import ClientConnection, connect


def token(secret: str, action: str, stream: str, ttl: float = 3600) -> str:
    return jwt.encode({"sub": f"{action}:{stream}", "exp": int(time.time() + ttl)}, secret,
                      algorithm="HS256")


def parse(text: str) -> tuple[str, dict[str, str]]:
    kind, _, query = text.partition(":")
    return kind, dict(parse_qsl(query))


async def open_session(url: str, action: str, stream: str, auth: str = "",
                       max_queue: int = 16, **params: str,
                       ) -> tuple[ClientConnection, tuple[str, dict[str, str]]]:
    """Connect, send PUSH/PULL, and return the socket with the first non-H answer.
    `max_queue` is how many messages the client takes in before it stops reading."""
    ws = await connect(url, max_size=None, max_queue=max_queue)
    await ws.send(f"{action}:{urlencode({'stream': stream, 'auth': auth, **params})}")
    while True:
        answer = parse(str(await asyncio.wait_for(ws.recv(), 10)))
        if answer[0] != "H":
            return ws, answer


async def push(ws: ClientConnection, fragments: list[bytes], *, duration: float = 1.0,
               pace: float = 0.0) -> None:
    for data in fragments:
        await ws.send(f"F:duration={duration}")
        await ws.send(data)
        if pace:
            await asyncio.sleep(pace)


@dataclass
class Received:
    fragments: list[tuple[float, bytes, float]] = field(default_factory=list)
    """(duration, bytes, arrival time.monotonic())"""
    closed: bool = False
    error: dict[str, str] | None = None


async def pull_all(ws: ClientConnection, *, until: int | None = None,
                   timeout: float = 30) -> Received:
    """Read fragments until CLOSE, an error, `until` fragments, or the timeout."""
    got = Received()
    deadline = time.monotonic() + timeout
    while until is None or len(got.fragments) < until:
        try:
            message = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
        except (TimeoutError, Exception):
            break
        kind, params = parse(str(message))
        if kind == "F":
            data = await ws.recv()
            assert isinstance(data, bytes)
            got.fragments.append((float(params["duration"]), data, time.monotonic()))
        elif kind == "CLOSE":
            got.closed = True
            break
        elif kind == "E":
            got.error = params
            break
    return got
