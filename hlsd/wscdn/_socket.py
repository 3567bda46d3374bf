"""A CDN websocket on hlsd's own listener: RFC 6455 over an asyncio transport.

The point is the fragment send. A fragment's outgoing bytes (the ``F:`` text frame and
the binary frame around the MPEG-TS) are built once, kept in `FramedFragments`, and the
same bytes object is handed to every spectator's ``transport.write``: no per-spectator
framing, no per-spectator copy in Python. A send then waits, within the write
deadline, until the transport's buffer is back under its high-water mark (asyncio's
flow control), so a stalled spectator costs one fragment of buffer and then a
`TimeoutError`, exactly as the engine's send does on ``/ws``.

The client end of the same connection (`client`: what `hlsd.wscdn.client` opens for a
relay) reads a server's unmasked frames and masks its own, as RFC 6455 requires.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os

from hlsd.infra.cache import Cache, Caches
from hlsd.wscdn import _frames, protocol
from hlsd.wscdn._connection import Connection, Disconnected, fragment_text
from hlsd.wscdn._frames import FrameError, FrameReader, Opcode
from hlsd.wscdn.protocol import MAX_TEXT_MESSAGE, ProtocolError

__all__ = ["FramedFragments", "SocketConnection"]

log = logging.getLogger(__name__)

_FRAMED_BYTES = 128 * 1024 * 1024
"""Framed fragments kept: the live edge and the initial buffers of a few streams."""
_INBOX = 4
"""Messages taken from a peer before its socket is no longer read (a publisher faster
than the hub, a client sending junk): TCP's window then holds it back."""
_CLOSE_WAIT = 2.0
"""Seconds the close handshake waits for the peer's close frame."""


class FramedFragments:
    """Each fragment's outgoing bytes, built once per fragment object and shared by
    every spectator (bounded: `_FRAMED_BYTES`, registered as ``websocket-frames``)."""

    def __init__(self, caches: Caches) -> None:
        self._kept: Cache[int, tuple[bytes, float, bytes]] = caches.new(
            "websocket-frames", max_entries=256, max_bytes=_FRAMED_BYTES,
            size=lambda entry: len(entry[2]), max_entry=_FRAMED_BYTES // 4)

    def of(self, duration: float, data: bytes) -> bytes:
        # Keyed by the object's id: the entry holds the object, so the id is not reused
        # while it is kept, and `is` tells a hit from another object.
        kept = self._kept.get(id(data))
        if kept is not None and kept[0] is data and kept[1] == duration:
            return kept[2]
        text = fragment_text(duration).encode()
        framed = b"".join((_frames.header(Opcode.TEXT, len(text)), text,
                           _frames.header(Opcode.BINARY, len(data)), data))
        self._kept.put(id(data), (data, duration, framed))
        return framed


class SocketConnection(Connection):
    """One upgraded connection; the listener's (or the client's) protocol feeds it
    (`received`, `lost`, `pause_writing`, `resume_writing`). A `client` end has no
    `frames`: it sends no fragments."""

    def __init__(self, transport: asyncio.Transport, *, peer: str, local: bool,
                 write_timeout: float, max_binary: int, frames: FramedFragments | None,
                 client: bool = False) -> None:
        super().__init__(peer=peer, local=local, write_timeout=write_timeout,
                         max_binary=max_binary)
        self._transport = transport
        self._frames = frames
        self._client = client
        self._reader = FrameReader(max_text=MAX_TEXT_MESSAGE, max_binary=max_binary,
                                   masked=not client)
        self._refusal: ProtocolError | None = None
        """A message past its bound: the session answers it as on ``/ws`` (the
        protocol's "Message too large"), and the close says 1009."""
        self._inbox: collections.deque[str | bytes] = collections.deque()
        self._arrived: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._paused_reading = False
        self._paused_writing = False
        self._gone: str | None = None
        self._close_sent = False
        self._finished = asyncio.get_running_loop().create_future()

    # -- fed by the listener's protocol --------------------------------------------

    def received(self, data: bytes | memoryview) -> None:
        if self._gone is not None or self._refusal is not None:
            return
        try:
            for message in self._reader.feed(data):
                if message.opcode is Opcode.PING:
                    self._write(self._encode(Opcode.PONG, message.payload))
                elif message.opcode is Opcode.CLOSE:
                    self._peer_closed(message.payload)
                    return
                elif message.opcode is not Opcode.PONG:
                    self._inbox.append(message.text if message.text is not None
                                       else message.payload)
                    self._wake()
        except FrameError as exc:
            if exc.code == _frames.TOO_BIG:
                # Read no further; the session sends the error and closes.
                self._refusal = protocol.error(protocol.TOO_LARGE)
                self._transport.pause_reading()
                self._wake()
                return
            log.debug("websocket %d from %s: %s; closed %d", self.id, self.peer, exc.reason,
                      exc.code)
            self._send_close(exc.code, exc.reason)
            self._end(f"refused: {exc.reason}")
            self._transport.close()
            return
        if len(self._inbox) >= _INBOX and not self._paused_reading:
            self._paused_reading = True
            self._transport.pause_reading()

    def lost(self, exc: Exception | None) -> None:
        self._end("connection lost" if exc is None else f"connection lost: {exc}")
        if not self._finished.done():
            self._finished.set_result(None)

    def pause_writing(self) -> None:
        self._paused_writing = True

    def resume_writing(self) -> None:
        self._paused_writing = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # -- Connection ------------------------------------------------------------------

    async def _receive(self, timeout: float | None) -> str | bytes:
        while not self._inbox:
            if self._refusal is not None:
                raise self._refusal
            if self._gone is not None:
                raise Disconnected(self._gone)
            self._arrived = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._arrived, timeout)
            except TimeoutError:
                raise Disconnected(f"nothing received for {timeout:.0f}s") from None
        message = self._inbox.popleft()
        if self._paused_reading and len(self._inbox) < _INBOX // 2:
            self._paused_reading = False
            self._transport.resume_reading()
        return message

    async def send_text(self, text: str) -> None:
        async with self._sending:
            self._write(self._encode(Opcode.TEXT, text.encode()))
            await self._drain()

    async def send_fragment(self, duration: float, data: bytes) -> None:
        assert self._frames is not None, "a client end sends no fragments"
        async with self._sending:
            # A memoryview: what the socket does not take at once is kept without
            # slicing a copy of the rest first.
            self._write(memoryview(self._frames.of(duration, data)))
            await self._drain()

    async def close(self, code: int = 1000) -> None:
        self._send_close(_frames.TOO_BIG if self._refusal is not None else code)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._finished),
                                   min(_CLOSE_WAIT, self._write_timeout))
        self._end("closed")
        if self._transport.get_write_buffer_size():
            self._transport.abort()  # a stalled peer: nothing more will reach it
        else:
            self._transport.close()

    # -- inside --------------------------------------------------------------------

    def _encode(self, opcode: Opcode, payload: bytes) -> bytes:
        return _frames.encode(opcode, payload, os.urandom(4) if self._client else None)

    def _write(self, data: bytes | memoryview) -> None:
        if self._gone is not None or self._transport.is_closing():
            raise Disconnected(self._gone or "closed")
        self._transport.write(data)

    async def _drain(self) -> None:
        if not self._paused_writing:
            return
        self._drained = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._drained), self._write_timeout)
        finally:
            self._drained = None
        if self._gone is not None:
            raise Disconnected(self._gone)

    def _send_close(self, code: int, reason: str = "") -> None:
        if self._close_sent or self._transport.is_closing():
            return
        self._close_sent = True
        self._transport.write(self._encode(Opcode.CLOSE, _frames.close_payload(code, reason)))

    def _peer_closed(self, payload: bytes) -> None:
        """The peer's close frame: answered (with its code, or 1000), then the end."""
        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1000
        self._send_close(code if 1000 <= code < 5000 and code not in (1005, 1006, 1015)
                         else 1002)
        self._end("closed by the peer")
        if not self._finished.done():
            self._finished.set_result(None)
        self._transport.close()

    def _end(self, why: str) -> None:
        if self._gone is None:
            self._gone = why
        self._wake()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _wake(self) -> None:
        if self._arrived is not None and not self._arrived.done():
            self._arrived.set_result(None)


class Carrier(asyncio.BaseProtocol):
    """What the listener's and the client's protocols share: once the handshake is done,
    the transport's flow control goes to the connection it carries."""

    conn: SocketConnection | None = None

    def pause_writing(self) -> None:
        if self.conn is not None:
            self.conn.pause_writing()

    def resume_writing(self) -> None:
        if self.conn is not None:
            self.conn.resume_writing()
