"""One RTMP connection: the handshake, the commands an encoder sends (connect,
releaseStream, FCPublish, createStream, publish, FCUnpublish, deleteStream), and while it
publishes, its media written as FLV into the `IngestSession` `Publishers.open` gave.

Only one task reads and writes, so the session's backpressure is the socket's: while
`write` waits, nothing is read and the encoder's TCP window closes. Deadlines bound the
reads alone: the handshake's, then `idle_timeout` to publish and between two media
messages; the time a write waits for the pipeline never counts against the publisher.
Every way a connection ends is one log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import struct
from dataclasses import dataclass

from hlsd import errors
from hlsd.infra.logs import clip
from hlsd.ingest.continuous import (
    Container,
    Publishers,
    PublishRefused,
    PublishRequest,
    SessionEnded,
)
from hlsd.ingest.rtmp import _amf0, _messages
from hlsd.ingest.rtmp._chunks import (
    ChunkReader,
    ChunkWriter,
    Closed,
    Expired,
    Input,
    Message,
    MessageType,
    ProtocolError,
)
from hlsd.ingest.rtmp._handshake import HandshakeError, handshake
from hlsd.ingest.rtmp._messages import Outgoing
from hlsd.ingest.rtmp._publishing import MEDIA, Publishing
from hlsd.ingest.rtmp._target import publish_target
from hlsd.streams import PublisherKind

__all__ = ["Connection", "Limits", "State"]

logger = logging.getLogger(__name__)

OUT_CHUNK_SIZE = 4096
WINDOW = 2_500_000
"""The acknowledgement window and peer bandwidth this server announces."""
WRITE_TIMEOUT = 10.0
"""A client that does not read this server's few small messages for this long is gone."""
LINGER = 2.0
"""After a refusal: how long the client has to read it and close first."""
MAX_STREAMS = 8
"""createStream calls per connection (an encoder makes one)."""
MAX_COMMAND_BYTES = 64 * 1024
"""The longest message before a publish starts (commands are a few hundred bytes), so
a connection that has not given a key holds little memory."""

_PING_REQUEST = 6


class State(enum.Enum):
    HANDSHAKE = "handshake"
    CONNECTING = "connecting"
    """Handshake done, `connect` awaited."""
    CONNECTED = "connected"
    PUBLISHING = "publishing"


@dataclass(frozen=True, kw_only=True, slots=True)
class Limits:
    idle_timeout: float
    handshake_timeout: float
    max_message_bytes: int


class _Close(Exception):
    """Stop serving this connection: `log` says why, `error` is what the session (if one
    is open) is closed with (None: a clean end)."""

    def __init__(self, log: str, *, level: int = logging.INFO, error: str | None = None,
                 linger: bool = False) -> None:
        super().__init__(log)
        self.log = log
        self.level = level
        self.error = error
        self.linger = linger


def _text(value: _amf0.Value) -> str:
    return value if isinstance(value, str) else ""


def _u32(message: Message) -> int:
    if len(message.body) < 4:
        raise ProtocolError(f"a control message of type {message.type_id} too short")
    return int(struct.unpack_from(">I", message.body)[0])


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 publishers: Publishers, limits: Limits) -> None:
        peer = writer.get_extra_info("peername")
        self._host, self._port = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) \
            else ("", 0)
        self._who = f"[{self._host}]:{self._port}" if ":" in self._host \
            else f"{self._host}:{self._port}"
        self._reader = reader
        self._writer = writer
        self._publishers = publishers
        self._limits = limits
        self._in = Input(reader)
        self._chunks = ChunkReader(self._in, max_message_bytes=min(
            MAX_COMMAND_BYTES, limits.max_message_bytes))
        self._out = ChunkWriter()
        self.state = State.HANDSHAKE
        self._app = ""
        self._tc_url = ""
        self._streams = 0
        self._window = WINDOW
        self._acknowledged = 0
        self._publishing: Publishing | None = None

    async def run(self) -> None:
        """Serve until the connection ends; never raises but for cancellation (the
        server closing: the session is closed with an error first)."""
        try:
            try:
                await self._serve()
            except HandshakeError as exc:
                raise _Close(str(exc), level=logging.WARNING) from None
            except ProtocolError as exc:
                raise _Close(f"RTMP protocol error: {exc}", level=logging.WARNING,
                             error=f"RTMP protocol error: {exc}") from None
            except Expired:
                raise self._expired() from None
            except Closed:
                raise self._closed() from None
            except ConnectionError as exc:
                raise _Close(f"connection lost ({type(exc).__name__})",
                             error="the publisher's connection was lost") from None
        except _Close as close:
            logger.log(close.level, "rtmp %s: %s", self._who, close.log)
            await self._end(close.error)
            if close.linger:
                await self._linger()
        except asyncio.CancelledError:
            if self._publishing is not None:
                logger.info("rtmp %s: %s: the server is closing", self._who,
                            clip(self._publishing.stream))
            await self._end("the server is closing")
            raise
        except Exception:
            logger.exception("rtmp %s: failed", self._who)
            await self._end("the RTMP server failed")
        finally:
            self._writer.transport.abort()

    def _expired(self) -> _Close:
        if self.state is State.HANDSHAKE:
            return _Close(f"no RTMP handshake within {self._limits.handshake_timeout:g}s")
        if self._publishing is not None:
            why = f"no media for {self._limits.idle_timeout:g}s"
            return _Close(f"{clip(self._publishing.stream)}: {why}", level=logging.WARNING,
                          error=why)
        return _Close(f"did not publish within {self._limits.idle_timeout:g}s")

    def _closed(self) -> _Close:
        if self.state is State.HANDSHAKE:
            level = logging.INFO if self._in.taken or self._in.buffered() else logging.DEBUG
            return _Close("closed during the RTMP handshake", level=level)
        if self._publishing is not None:
            return _Close(f"{clip(self._publishing.stream)}: the publisher disconnected")
        return _Close("disconnected", level=logging.DEBUG)

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        self._in.deadline = loop.time() + self._limits.handshake_timeout
        await handshake(self._in, self._send_bytes)
        self.state = State.CONNECTING
        self._wait_for_media()
        while True:
            message = await self._chunks.read()
            if self._in.taken - self._acknowledged >= self._window:
                self._acknowledged = self._in.taken
                await self._send(_messages.acknowledgement(self._in.taken))
            await self._dispatch(message)

    def _wait_for_media(self) -> None:
        self._in.deadline = asyncio.get_running_loop().time() + self._limits.idle_timeout

    async def _send_bytes(self, data: bytes) -> None:
        self._writer.write(data)
        try:
            await asyncio.wait_for(self._writer.drain(), WRITE_TIMEOUT)
        except TimeoutError:
            raise _Close(f"reads nothing this server sends ({WRITE_TIMEOUT:g}s)",
                         level=logging.WARNING,
                         error="the publisher stopped reading its connection") from None

    async def _send(self, *outgoing: Outgoing) -> None:
        await self._send_bytes(b"".join(self._out.encode(item.chunk_stream_id, item.message)
                                        for item in outgoing))

    async def _farewell(self, outgoing: Outgoing) -> None:
        """A last message before closing, sent if the client takes it soon."""
        self._writer.write(self._out.encode(outgoing.chunk_stream_id, outgoing.message))
        with contextlib.suppress(ConnectionError, TimeoutError):
            await asyncio.wait_for(self._writer.drain(), LINGER)

    async def _linger(self) -> None:
        """Close our side and let the client close its own: closing with its bytes
        unread would reset the connection, and a reset can destroy the refusal before
        the client reads it."""
        with contextlib.suppress(ConnectionError, TimeoutError, OSError, RuntimeError):
            if self._writer.can_write_eof():
                self._writer.write_eof()
            async with asyncio.timeout(LINGER):
                while await self._reader.read(64 * 1024):
                    pass

    async def _end(self, error: str | None) -> None:
        publishing, self._publishing = self._publishing, None
        if publishing is not None:
            self.state = State.CONNECTED
            self._chunks.max_message_bytes = min(MAX_COMMAND_BYTES,
                                                 self._limits.max_message_bytes)
            try:
                await publishing.session.close(error)
            except Exception:
                logger.exception("rtmp %s: closing the session of %s failed", self._who,
                                 clip(publishing.stream))

    async def _dispatch(self, message: Message) -> None:
        kind = message.type_id
        if kind in MEDIA:
            await self._media(message)
        elif kind in (MessageType.COMMAND_AMF0, MessageType.COMMAND_AMF3):
            # An AMF3 command starts with a format byte, then AMF0.
            body = message.body[1:] if kind == MessageType.COMMAND_AMF3 else message.body
            await self._command(message.stream_id, body)
        elif kind == MessageType.SET_CHUNK_SIZE:
            self._chunks.set_chunk_size(_u32(message))
        elif kind == MessageType.ABORT:
            self._chunks.abort(_u32(message))
        elif kind == MessageType.WINDOW_ACK_SIZE:
            self._window = max(1, _u32(message))
        elif kind == MessageType.USER_CONTROL:
            body = message.body
            if len(body) >= 6 and struct.unpack_from(">H", body)[0] == _PING_REQUEST:
                await self._send(_messages.ping_response(body[2:6]))
        # Acknowledgements, peer bandwidth and shared objects ask nothing of a publish server.

    async def _media(self, message: Message) -> None:
        publishing = self._publishing
        if publishing is None:  # late after an unpublish, or never published: nowhere to go
            return
        try:
            media = await publishing.write(message)
        except SessionEnded as ended:
            await self._farewell(_messages.stream_failed(publishing.stream_id, str(ended)))
            raise _Close(f"{clip(publishing.stream)} ended: {clip(ended)}", error=str(ended),
                         linger=True) from None
        if media:
            self._wait_for_media()

    async def _command(self, stream_id: int, body: bytes) -> None:
        try:
            values = _amf0.decode(body)
        except _amf0.AmfError as exc:
            raise ProtocolError(f"a command that is not AMF0 ({exc})") from None
        if len(values) < 2 or not isinstance(values[0], str) \
                or not isinstance(values[1], float):
            raise ProtocolError("a command without a name and a transaction id")
        name, transaction, arguments = values[0], values[1], values[2:]
        if self.state is State.CONNECTING and name != "connect":
            raise ProtocolError(f"{clip(name)} before connect")
        if name == "connect":
            await self._connect(transaction, arguments)
        elif name in ("releaseStream", "FCPublish"):
            if transaction:
                await self._send(_messages.result(transaction, None, _amf0.UNDEFINED))
        elif name == "createStream":
            self._streams += 1
            if self._streams > MAX_STREAMS:
                raise ProtocolError(f"more than {MAX_STREAMS} createStream calls")
            await self._send(_messages.result(transaction, None, float(self._streams)))
        elif name == "publish":
            await self._publish(stream_id, arguments)
        elif name in ("play", "play2"):
            await self._farewell(_messages.play_refused(stream_id))
            raise _Close("asked to play: refused (publish only)", linger=True)
        elif name in ("FCUnpublish", "deleteStream", "closeStream"):
            await self._unpublish()
        # Other calls (_checkbw, getStreamLength, FCSubscribe…) need no answer to publish.

    async def _connect(self, transaction: float, arguments: list[_amf0.Value]) -> None:
        if self.state is not State.CONNECTING:
            raise ProtocolError("connect on a connected connection")
        info = arguments[0] if arguments and isinstance(arguments[0], dict) else {}
        self._app, self._tc_url = _text(info.get("app")), _text(info.get("tcUrl"))
        self.state = State.CONNECTED
        await self._send(*_messages.connected(transaction, window=WINDOW,
                                              chunk_size=OUT_CHUNK_SIZE))

    async def _publish(self, stream_id: int, arguments: list[_amf0.Value]) -> None:
        name = arguments[1] if len(arguments) >= 2 else None
        if not isinstance(name, str):
            raise ProtocolError("publish without a stream name")
        if self._publishing is not None:
            raise ProtocolError("publish while publishing")
        target = publish_target(name, tc_url=self._tc_url, app=self._app)
        request = PublishRequest(stream=target.stream, key=target.key, host=self._host,
                                 port=self._port, kind=PublisherKind.RTMP,
                                 container=Container.FLV)
        try:
            session = await self._publishers.open(request)
        except errors.DomainError as refused:
            reason = refused.reason if isinstance(refused, PublishRefused) else None
            await self._farewell(_messages.publish_refused(stream_id, reason, refused.message))
            raise _Close(f"refused to publish {clip(target.stream)}: "
                         f"{clip(refused.message)}", linger=True) from None
        self._publishing = Publishing(session, stream=target.stream, stream_id=stream_id)
        self.state = State.PUBLISHING
        self._chunks.max_message_bytes = self._limits.max_message_bytes
        self._wait_for_media()
        logger.info("rtmp %s: publishing %s", self._who, clip(target.stream))
        await self._send(*_messages.published(stream_id, target.stream))

    async def _unpublish(self) -> None:
        if self._publishing is not None:
            logger.info("rtmp %s: %s unpublished", self._who, clip(self._publishing.stream))
            await self._end(None)
            self._wait_for_media()  # the time to publish again, or to leave
