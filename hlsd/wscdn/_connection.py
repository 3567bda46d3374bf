"""One websocket of the CDN protocol: typed receives with deadlines and size limits, and
sends that never interleave (``F`` and its binary frame go out together) and never wait
past the write deadline; the ASGI transport of it (``/ws`` on the main port)."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import itertools

from starlette.websockets import WebSocket

from hlsd.infra.client_address import client_of
from hlsd.wscdn import protocol
from hlsd.wscdn.protocol import HEARTBEAT, MAX_TEXT_MESSAGE, ProtocolError

_ids = itertools.count(1)


@functools.lru_cache(maxsize=64)
def fragment_text(duration: float) -> str:
    """The ``F`` message of a duration: a stream's fragments share a few durations, and a
    fragment's message is sent to every spectator, so it is encoded once."""
    return protocol.fragment(duration).encode()


class Disconnected(Exception):
    """The peer went away (or stayed silent past the read deadline)."""


class Connection(abc.ABC):
    """What a session of `WebsocketCdn` talks to; the transports differ only in how a
    message is received and how one goes out (`AsgiConnection` through the server
    engine, `hlsd.wscdn._socket.SocketConnection` on hlsd's own listener)."""

    def __init__(self, *, peer: str, local: bool, write_timeout: float,
                 max_binary: int) -> None:
        self.id = next(_ids)
        self.peer = peer
        self.local = local
        self._write_timeout = write_timeout
        self._max_binary = max_binary
        self._sending = asyncio.Lock()

    @abc.abstractmethod
    async def _receive(self, timeout: float | None) -> str | bytes:
        """The next message; `Disconnected` when the peer is gone or silent past
        `timeout` (None: no deadline)."""

    @abc.abstractmethod
    async def send_text(self, text: str) -> None:
        """One text message, within the write deadline (`TimeoutError` past it)."""

    @abc.abstractmethod
    async def send_fragment(self, duration: float, data: bytes) -> None:
        """One fragment: its ``F`` message, then its MPEG-TS bytes, together and within
        the write deadline. `data` is the one bytes object every spectator shares."""

    @abc.abstractmethod
    async def close(self, code: int = 1000) -> None:
        """Close (never raises, never waits past the write deadline)."""

    async def receive(self, timeout: float | None = None) -> str | bytes:
        """The next message, text or binary, unchecked (a relay reads its upstream)."""
        return await self._receive(timeout)

    async def receive_text(self, timeout: float) -> str:
        received = await self._receive(timeout)
        if isinstance(received, bytes):
            raise protocol.error(protocol.EXPECTED_TEXT)
        if len(received.encode()) > MAX_TEXT_MESSAGE:
            raise protocol.error(protocol.TOO_LARGE)
        return received

    async def receive_binary(self, timeout: float) -> bytes:
        received = await self._receive(timeout)
        if isinstance(received, str):
            raise protocol.error(protocol.EXPECTED_BINARY)
        if not received:
            raise protocol.error(protocol.EMPTY_BINARY)
        if len(received) > self._max_binary:
            raise protocol.error(protocol.TOO_LARGE)
        return received

    async def send_error(self, error: ProtocolError) -> None:
        with contextlib.suppress(Exception):
            await self.send_text(error.message_frame())

    async def heartbeat(self, interval: float) -> None:
        """``H`` every `interval` seconds, for as long as the connection lasts."""
        while True:
            await asyncio.sleep(interval)
            await self.send_text(HEARTBEAT)


class AsgiConnection(Connection):
    """A websocket the server engine accepted (``/ws`` on the main port)."""

    def __init__(self, ws: WebSocket, *, write_timeout: float, max_binary: int) -> None:
        client = client_of(ws.scope)
        super().__init__(peer=client.host, local=client.local, write_timeout=write_timeout,
                         max_binary=max_binary)
        self.ws = ws

    async def _receive(self, timeout: float | None) -> str | bytes:
        try:
            message = await asyncio.wait_for(self.ws.receive(), timeout)
        except TimeoutError:
            raise Disconnected(f"nothing received for {timeout:.0f}s") from None
        if message["type"] == "websocket.disconnect":
            raise Disconnected("closed by the peer")
        text = message.get("text")
        if text is not None:
            return str(text)
        return bytes(message.get("bytes") or b"")

    async def send_text(self, text: str) -> None:
        async with self._sending:
            await asyncio.wait_for(self.ws.send_text(text), self._write_timeout)

    async def send_fragment(self, duration: float, data: bytes) -> None:
        # The engine is handed the shared bytes object as it is.
        async with self._sending:
            async with asyncio.timeout(self._write_timeout):
                await self.ws.send_text(fragment_text(duration))
                await self.ws.send_bytes(data)

    async def close(self, code: int = 1000) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(code), self._write_timeout)
