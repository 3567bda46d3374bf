"""The client end of a CDN websocket, for relays: hlsd's own framing (`_frames`) and
connection (`SocketConnection`, client side) after a small RFC 6455 handshake.

A relay reads 1 MB fragments; read through hlsd's `FrameReader` straight off the
transport, each costs one copy out of the receive buffer, which keeps a relay hop
within a few milliseconds. The handshake: a GET with a fresh ``Sec-WebSocket-Key``,
answered by ``101`` with ``Upgrade: websocket``, ``Connection: Upgrade`` and the
matching ``Sec-WebSocket-Accept``, no extension and no subprotocol (none was asked
for); the answer within `_MAX_HEAD` bytes and the open timeout. ``wss://`` verifies
the server as the default TLS context does.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import os
import ssl
from typing import cast
from urllib.parse import urlsplit

from hlsd.infra.logs import clip
from hlsd.wscdn import _frames
from hlsd.wscdn._connection import Connection, Disconnected
from hlsd.wscdn._socket import Carrier, SocketConnection

__all__ = ["Connection", "Disconnected", "HandshakeFailed", "connect"]

_MAX_HEAD = 16 * 1024
"""Bytes of status line and headers in the answer (a handshake's is a few hundred)."""
_READ = 256 * 1024
"""Bytes read from the socket at once, into one buffer kept for the connection (no
fresh allocation per read: on a VM a page touched for the first time is costly)."""


class HandshakeFailed(Exception):
    """The server did not upgrade the connection to a websocket."""


async def connect(url: str, *, open_timeout: float, write_timeout: float,
                  max_binary: int) -> Connection:
    """A websocket to `url` (``ws://`` or ``wss://``), open within `open_timeout`
    seconds; `HandshakeFailed`, `OSError` or `TimeoutError` otherwise. Its receives
    raise `Disconnected` once it is gone; close it."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise HandshakeFailed(f"not a websocket URL: {clip(url)}")
    tls = ssl.create_default_context() if parts.scheme == "wss" else None
    port = parts.port or (443 if tls else 80)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} "
               f"HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    opened: asyncio.Future[SocketConnection] = loop.create_future()
    transport, _ = await asyncio.wait_for(loop.create_connection(
        lambda: _Client(request, key, opened, host=parts.hostname or "",
                        write_timeout=write_timeout, max_binary=max_binary),
        parts.hostname, port, ssl=tls), open_timeout)
    try:
        return await asyncio.wait_for(opened, open_timeout)
    except BaseException:
        transport.abort()
        raise


class _Client(Carrier, asyncio.BufferedProtocol):
    """The handshake, then the `SocketConnection` it feeds."""

    def __init__(self, request: bytes, key: str, opened: asyncio.Future[SocketConnection],
                 *, host: str, write_timeout: float, max_binary: int) -> None:
        self.request = request
        self.accept = _frames.accept_key(key)
        self.opened = opened
        self.host = host
        self.write_timeout = write_timeout
        self.max_binary = max_binary
        self.head = bytearray()
        self.conn: SocketConnection | None = None
        self.into = memoryview(bytearray(_READ))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are no subclasses of asyncio's: a cast, not a check.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.conn.lost(exc)
        elif not self.opened.done():
            self.opened.set_exception(exc or ConnectionResetError("closed in the handshake"))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.into

    def buffer_updated(self, nbytes: int) -> None:
        # Only copied out of `into`: the reader's buffer, the handshake's head.
        with self.into[:nbytes] as data:
            if self.conn is not None:
                self.conn.received(data)
                return
            self._handshake(data)

    def _handshake(self, data: memoryview) -> None:
        if self.opened.done():
            return  # failed: the transport is being closed
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0 or end > _MAX_HEAD:
            if len(self.head) > _MAX_HEAD:
                self._fail(HandshakeFailed("the handshake's answer is too large"))
            return
        try:
            self._check(bytes(self.head[:end]))
        except HandshakeFailed as exc:
            self._fail(exc)
            return
        rest = bytes(self.head[end + 4:])
        self.head.clear()
        self.conn = SocketConnection(self.transport, peer=self.host, local=False,
                                     write_timeout=self.write_timeout,
                                     max_binary=self.max_binary, frames=None, client=True)
        self.opened.set_result(self.conn)
        if rest:
            self.conn.received(rest)

    def _check(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ", 2)
        if len(status) < 2 or status[0] != "HTTP/1.1" or status[1] != "101":
            raise HandshakeFailed(f"answered {clip(lines[0])!r}, not 101")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            headers[name] = f"{headers[name]}, {value.strip()}" if name in headers \
                else value.strip()
        if "websocket" not in _frames.tokens(headers.get("upgrade", "")) \
                or "upgrade" not in _frames.tokens(headers.get("connection", "")):
            raise HandshakeFailed("the answer upgrades to no websocket")
        if not hmac.compare_digest(headers.get("sec-websocket-accept", ""), self.accept):
            raise HandshakeFailed("Sec-WebSocket-Accept does not match the key")
        for name in ("sec-websocket-extensions", "sec-websocket-protocol"):
            if name in headers:
                raise HandshakeFailed(f"{name} was not asked for")

    def _fail(self, exc: HandshakeFailed) -> None:
        self.opened.set_exception(exc)
        self.transport.close()
