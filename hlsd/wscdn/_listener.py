"""hlsd's own websocket listener for the CDN protocol (``websocket.listen``).

It exists for fan-out: the default engine's ASGI websocket send copies each fragment
twice per spectator in Rust (docs/ARCHITECTURE.md, "Websocket fan-out and the engine");
here a fragment is framed once and the same bytes go to every spectator's transport.
The sessions are `WebsocketCdn`'s, the same as on ``/ws``.

The HTTP/1.1 upgrade is bounded: the request line and headers within `_MAX_HEAD` bytes
and ``http.header_timeout`` seconds, a GET of the websocket path with ``Upgrade:
websocket``, ``Connection: Upgrade``, ``Sec-WebSocket-Version: 13`` and a key;
anything else is answered with a plain status (400, 404, 426) and closed. The client
is decided as on the main port (`hlsd.infra.client_address`: forwarding headers only
from ``trusted_proxies``), and admitted by the CDN's per-address limits (403 past
them); `max_connections` bounds the listener's connections, handshakes included (503).
``/ws`` checks no ``Origin`` (a pull is authorised by its token), and neither does this.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import ssl
from typing import cast

from hlsd.infra.client_address import Client, TrustedProxies, resolve
from hlsd.infra.logs import clip
from hlsd.wscdn import _frames
from hlsd.wscdn._socket import Carrier, FramedFragments, SocketConnection
from hlsd.wscdn.server import WebsocketCdn

__all__ = ["WebsocketListener"]

log = logging.getLogger(__name__)

_MAX_HEAD = 16 * 1024
"""Bytes of request line and headers (a handshake is a few hundred)."""
_MAX_HEADERS = 64
_FORWARDING = (b"forwarded", b"x-forwarded-for", b"x-real-ip", b"x-forwarded-proto")
_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found",
            426: "Upgrade Required", 431: "Request Header Fields Too Large",
            503: "Service Unavailable"}


class _Refused(Exception):
    def __init__(self, status: int, why: str, *headers: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why
        self.headers = headers


class WebsocketListener:
    """`hlsd.ingest.listeners.Listener`: start, the bound port, close."""

    def __init__(self, cdn: WebsocketCdn, *, path: str, proxies: TrustedProxies,
                 frames: FramedFragments, header_timeout: float, max_connections: int,
                 tls: ssl.SSLContext | None = None) -> None:
        self.cdn = cdn
        self.path = path
        self.proxies = proxies
        self.frames = frames
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self.tls = tls
        self.peers: set[_Peer] = set()
        self.sessions: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Peer(self), host, port, backlog=2048, ssl=self.tls,
            ssl_handshake_timeout=self.header_timeout if self.tls else None)

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self.sessions:
            task.cancel()
        await asyncio.gather(*self.sessions, return_exceptions=True)
        for peer in tuple(self.peers):
            peer.transport.abort()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)


class _Peer(Carrier, asyncio.Protocol):
    """One connection: its handshake, then its `SocketConnection`."""

    def __init__(self, listener: WebsocketListener) -> None:
        self.listener = listener
        self.head = bytearray()
        self.conn: SocketConnection | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.peer = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are no subclasses of asyncio's: a cast, not a check.
        self.transport = cast(asyncio.Transport, transport)
        peername = self.transport.get_extra_info("peername")
        self.peer = str(peername[0]) if peername else ""
        listener = self.listener
        listener.peers.add(self)
        if len(listener.peers) > listener.max_connections:
            self._answer(_Refused(503, f"at most {listener.max_connections} websocket "
                                       "connections at once"))
            return
        self.timer = asyncio.get_running_loop().call_later(
            listener.header_timeout, self._too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self.listener.peers.discard(self)
        if self.timer is not None:
            self.timer.cancel()
        if self.conn is not None:
            self.conn.lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.conn is not None:
            self.conn.received(data)
            return
        if self.transport.is_closing():
            return
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > _MAX_HEAD:
                self._answer(_Refused(431, "request headers too large"))
            return
        if end > _MAX_HEAD:
            self._answer(_Refused(431, "request headers too large"))
            return
        if self.timer is not None:
            self.timer.cancel()
        rest = bytes(self.head[end + 4:])
        try:
            client, key = self._check(bytes(self.head[:end]))
        except _Refused as refused:
            self._answer(refused)
            return
        self.head.clear()
        self._upgrade(client, key, rest)

    def _too_slow(self) -> None:
        log.debug("websocket listener: %s sent no whole handshake in %.0fs", self.peer,
                  self.listener.header_timeout)
        self.transport.abort()

    def _check(self, head: bytes) -> tuple[Client, str]:
        """The client and ``Sec-WebSocket-Key`` of a valid upgrade; `_Refused` else."""
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or parts[2] != b"HTTP/1.1":
            raise _Refused(400, "not an HTTP/1.1 request line")
        method, target = parts[0], parts[1].decode("latin-1")
        if len(lines) - 1 > _MAX_HEADERS:
            raise _Refused(431, f"more than {_MAX_HEADERS} headers")
        headers: dict[bytes, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip() or line[:1] in b" \t":
                raise _Refused(400, "a malformed header line")
            name = name.lower()
            text = value.strip().decode("latin-1")
            # Repeated headers: the first value counts for the forwarding chain (as the
            # main port decides it), the values are joined for tokens lists.
            if name in headers and name not in _FORWARDING:
                headers[name] += f", {text}"
            else:
                headers.setdefault(name, text)
        if target.partition("?")[0] != self.listener.path:
            raise _Refused(404, f"the websocket endpoint is {self.listener.path}")
        if method != b"GET":
            raise _Refused(400, "a websocket handshake is a GET")
        if "websocket" not in _frames.tokens(headers.get(b"upgrade", "")) \
                or "upgrade" not in _frames.tokens(headers.get(b"connection", "")):
            raise _Refused(426, f"{self.listener.path} is a websocket endpoint (the "
                                "hls-websocket-cdn protocol): connect with Upgrade: "
                                "websocket", "Upgrade: websocket", "Connection: Upgrade")
        if headers.get(b"sec-websocket-version") != "13":
            raise _Refused(426, "only websocket version 13 is spoken",
                           "Sec-WebSocket-Version: 13")
        key = headers.get(b"sec-websocket-key", "")
        try:
            if len(base64.b64decode(key, validate=True)) != 16:
                raise ValueError(key)
        except (ValueError, binascii.Error):
            raise _Refused(400, "Sec-WebSocket-Key is not 16 bytes of base64") from None
        forwarded = {name: value for name, value in headers.items() if name in _FORWARDING}
        if not any(name in forwarded for name in _FORWARDING[:3]):
            forwarded = {}
        client, _ = resolve(self.peer or None, forwarded, self.listener.proxies)
        return client, key

    def _upgrade(self, client: Client, key: str, rest: bytes) -> None:
        listener, cdn = self.listener, self.listener.cdn
        refusal = cdn.admit(client.host)
        if refusal is not None:
            self._answer(_Refused(403, refusal))
            return
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
            + _frames.accept_key(key).encode() + b"\r\n\r\n")
        config = cdn.config
        conn = SocketConnection(self.transport, peer=client.host, local=client.local,
                                write_timeout=config.write_timeout,
                                max_binary=config.max_binary_message, frames=listener.frames)
        self.conn = conn
        task = asyncio.create_task(self._run(conn, client.host))
        listener.sessions.add(task)
        task.add_done_callback(listener.sessions.discard)
        if rest:
            conn.received(rest)

    async def _run(self, conn: SocketConnection, peer: str) -> None:
        try:
            await self.listener.cdn.session(conn)
        finally:
            self.listener.cdn.release(peer)

    def _answer(self, refused: _Refused) -> None:
        """A plain HTTP answer, then the end of the connection."""
        if self.timer is not None:
            self.timer.cancel()
        log.debug("websocket listener: %s refused %d: %s", self.peer, refused.status,
                  clip(refused.why))
        body = json.dumps({"error": refused.why}).encode()
        head = [f"HTTP/1.1 {refused.status} {_REASONS[refused.status]}",
                "Content-Type: application/json", f"Content-Length: {len(body)}",
                "Connection: close", *refused.headers]
        self.transport.write("\r\n".join(head).encode() + b"\r\n\r\n" + body)
        self.transport.close()
