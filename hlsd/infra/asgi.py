"""Plain ASGI answers, for the layers that run before (or instead of) the framework: the
playback hot paths and the admission middleware."""

from __future__ import annotations

import json

from starlette.types import Send

__all__ = ["Headers", "respond", "respond_error"]

Headers = list[tuple[bytes, bytes]]


async def respond(send: Send, status: int, headers: Headers, body: bytes = b"", *,
                  head: bool = False) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def respond_error(send: Send, status: int, message: str, extra: Headers) -> None:
    """``{"error": message}`` as JSON, with `extra` headers."""
    body = json.dumps({"error": message}).encode()
    await respond(send, status, [(b"content-type", b"application/json"), *extra], body)
