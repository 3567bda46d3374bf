"""RTMP's handshake, the simple form (RTMP 1.0 §5.2): C0 C1 → S0 S1 S2 → C2.

S1's version bytes are zero, which tells librtmp (OBS) and FFmpeg that this server does
not sign its S1, so they do not look for the Flash Player 9 digest (only a *playing*
FFmpeg would check it anyway). S2 echoes C1 whole; C2 is read and not checked (a
client doing the digest handshake signs it instead of echoing S1).
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Awaitable, Callable

from hlsd.infra.logs import clip
from hlsd.ingest.rtmp._chunks import Input

__all__ = ["SIZE", "VERSION", "HandshakeError", "handshake"]

VERSION = 3
SIZE = 1536
_RTMPE = (6, 8)
_SHOWN = 24
"""Bytes of a stranger's first message shown in the log line."""


class HandshakeError(Exception):
    """Not an RTMP client; the message says what came instead, clipped for the log."""


def _describe(first: bytes) -> str:
    if first[:1] and first[0] in _RTMPE:
        return "an encrypted RTMP (RTMPE) client: not supported"
    if first[:4] in (b"GET ", b"POST", b"HEAD", b"PUT ", b"OPTI", b"PRI "):
        return f"an HTTP request ({clip(first.decode('latin-1'), _SHOWN)})"
    if first[:1] == b"\x16":
        return "a TLS handshake (RTMPS is not served on this port)"
    return f"not an RTMP client (first bytes {clip(first.hex(' '), 3 * _SHOWN)})"


async def handshake(source: Input, send: Callable[[bytes], Awaitable[None]]) -> None:
    """Answer the client's handshake; `HandshakeError` when it is not one."""
    first = await source.peek(1)
    if first[0] != VERSION:
        raise HandshakeError(_describe(source.buffered()[:_SHOWN]))
    c1 = (await source.take(1 + SIZE))[1:]
    uptime = int(time.monotonic() * 1000) & 0xFFFFFFFF
    s1 = struct.pack(">II", uptime, 0) + os.urandom(SIZE - 8)
    await send(bytes([VERSION]) + s1 + c1)
    await source.take(SIZE)
