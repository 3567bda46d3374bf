"""RTMP's chunk stream: messages cut into chunks, interleaved by chunk stream id.

The reader keeps, per chunk stream, what later headers leave out (RTMP 1.0 §5.3.1.2):
type 1 and 2 headers carry a timestamp *delta*, a type 3 header starting a new message
adds the last delta again (after a type 0 header, its timestamp: the spec's own
example, and FFmpeg's reading), a type 3 continuation adds nothing. A timestamp field of
0xFFFFFF means a 4-byte extended timestamp follows, also after the type 3 headers of
that chunk stream while it is in force; a continuation chunk from a writer that leaves
it out is told apart by comparing the 4 bytes with the header's value, as servers do.

Bounds: the chunk size a peer may set, the length of one message, the bytes held in
partial messages across all chunk streams, and the number of chunk streams.
"""

from __future__ import annotations

import asyncio
import enum
import struct
from dataclasses import dataclass

__all__ = ["MAX_CHUNK_SIZE", "MAX_CHUNK_STREAMS", "ChunkReader", "ChunkWriter", "Closed",
           "Expired", "Input", "Message", "MessageType", "ProtocolError"]

MAX_CHUNK_SIZE = 16 * 1024 * 1024
"""A larger chunk than any message (whose length has 24 bits) makes no sense."""
MAX_CHUNK_STREAMS = 64
"""Chunk stream ids one connection may use (encoders use a handful)."""
DEFAULT_CHUNK_SIZE = 128
_READ_SIZE = 64 * 1024
_TIMESTAMP_MASK = 0xFFFFFFFF
_EXTENDED = 0xFFFFFF
_U32 = struct.Struct(">I")


class MessageType(enum.IntEnum):
    SET_CHUNK_SIZE = 1
    ABORT = 2
    ACKNOWLEDGEMENT = 3
    USER_CONTROL = 4
    WINDOW_ACK_SIZE = 5
    SET_PEER_BANDWIDTH = 6
    AUDIO = 8
    VIDEO = 9
    DATA_AMF3 = 15
    SHARED_OBJECT_AMF3 = 16
    COMMAND_AMF3 = 17
    DATA_AMF0 = 18
    SHARED_OBJECT_AMF0 = 19
    COMMAND_AMF0 = 20
    AGGREGATE = 22


class ProtocolError(Exception):
    """The peer broke the protocol, or a bound; the message says how (for the log)."""


class Closed(Exception):
    """The peer closed its end."""


class Expired(Exception):
    """Nothing arrived before the input's deadline."""


@dataclass(frozen=True, slots=True)
class Message:
    type_id: int
    """A `MessageType` value, or a type this server does not know."""
    stream_id: int
    timestamp: int
    """Milliseconds, 32 bits (wraps)."""
    body: bytes


class Input:
    """The socket's bytes, buffered for the parsers. A read waits until `deadline` (loop
    time; None: no deadline), then raises `Expired`. Counts the bytes taken (for
    acknowledgements)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._buffer = bytearray()
        self._at = 0
        self.taken = 0
        self.deadline: float | None = None

    def buffered(self) -> bytes:
        """What has arrived and is not taken yet, without waiting."""
        return bytes(self._buffer[self._at:])

    async def _fill(self, n: int) -> None:
        if self._at:
            del self._buffer[:self._at]
            self._at = 0
        while len(self._buffer) < n:
            try:
                async with asyncio.timeout_at(self.deadline):
                    data = await self._reader.read(max(_READ_SIZE, n - len(self._buffer)))
            except TimeoutError:
                raise Expired from None
            if not data:
                raise Closed
            self._buffer += data

    async def take(self, n: int) -> bytes:
        if len(self._buffer) - self._at < n:
            await self._fill(n)
        data = bytes(self._buffer[self._at:self._at + n])
        self._at += n
        self.taken += n
        return data

    async def peek(self, n: int) -> bytes:
        if len(self._buffer) - self._at < n:
            await self._fill(n)
        return bytes(self._buffer[self._at:self._at + n])


@dataclass(slots=True)
class _ChunkStream:
    timestamp: int = 0
    """Of the message read last, or being read."""
    delta: int = 0
    """The last header's timestamp field: a delta, or the timestamp after a type 0."""
    length: int = 0
    type_id: int = 0
    stream_id: int = 0
    extended: bool = False
    """The last type 0, 1 or 2 header had an extended timestamp."""
    started: bool = False
    partial: bytearray | None = None


class ChunkReader:
    def __init__(self, source: Input, *, max_message_bytes: int) -> None:
        self._in = source
        self.max_message_bytes = max_message_bytes
        """The longest message, and the most bytes of partial messages together; the
        owner may change it (less before a publish, when only commands come)."""
        self._chunk_size = DEFAULT_CHUNK_SIZE
        self._streams: dict[int, _ChunkStream] = {}
        self._partial_bytes = 0

    def set_chunk_size(self, size: int) -> None:
        if not 1 <= size <= MAX_CHUNK_SIZE:
            raise ProtocolError(f"chunk size {size} out of bounds (1 to {MAX_CHUNK_SIZE})")
        self._chunk_size = size

    def abort(self, chunk_stream_id: int) -> None:
        """Drop the message in progress on that chunk stream (Abort Message)."""
        stream = self._streams.get(chunk_stream_id)
        if stream is not None:
            self._drop_partial(stream)

    def _drop_partial(self, stream: _ChunkStream) -> None:
        if stream.partial is not None:
            self._partial_bytes -= len(stream.partial)
            stream.partial = None

    def _stream(self, chunk_stream_id: int) -> _ChunkStream:
        stream = self._streams.get(chunk_stream_id)
        if stream is None:
            if len(self._streams) >= MAX_CHUNK_STREAMS:
                raise ProtocolError(f"more than {MAX_CHUNK_STREAMS} chunk streams")
            stream = self._streams[chunk_stream_id] = _ChunkStream()
        return stream

    async def _basic_header(self) -> tuple[int, int]:
        first = (await self._in.take(1))[0]
        kind, chunk_stream_id = first >> 6, first & 0x3F
        if chunk_stream_id == 0:
            chunk_stream_id = 64 + (await self._in.take(1))[0]
        elif chunk_stream_id == 1:
            low, high = await self._in.take(2)
            chunk_stream_id = 64 + low + 256 * high
        return kind, chunk_stream_id

    async def _message_header(self, kind: int, stream: _ChunkStream) -> None:
        """A type 0, 1 or 2 header: a new message on this chunk stream."""
        header = await self._in.take((11, 7, 3)[kind])
        field = int.from_bytes(header[0:3], "big")
        stream.extended = field == _EXTENDED
        if stream.extended:
            field = _U32.unpack(await self._in.take(4))[0]
        if kind <= 1:
            stream.length = int.from_bytes(header[3:6], "big")
            stream.type_id = header[6]
        if kind == 0:
            stream.stream_id = int.from_bytes(header[7:11], "little")
            stream.timestamp = field
        elif kind == 2 and not stream.started:
            raise ProtocolError("a type 2 chunk header before any type 0 or 1 on its stream")
        else:
            # A type 1 header first on its stream (against the spec, read by FFmpeg)
            # counts from 0.
            stream.timestamp = (stream.timestamp + field) & _TIMESTAMP_MASK
        stream.delta = field
        stream.started = True

    async def read(self) -> Message:
        """The next whole message."""
        while True:
            kind, chunk_stream_id = await self._basic_header()
            stream = self._stream(chunk_stream_id)
            if kind < 3:
                # A new header while a message is half read: the peer gave that one up.
                self._drop_partial(stream)
                await self._message_header(kind, stream)
            elif not stream.started:
                raise ProtocolError("a type 3 chunk header before any type 0 on its stream")
            elif stream.partial is None:  # a new message, like the last one
                if stream.extended:
                    stream.delta = _U32.unpack(await self._in.take(4))[0]
                stream.timestamp = (stream.timestamp + stream.delta) & _TIMESTAMP_MASK
            elif stream.extended:
                # Continuation: the extended timestamp is repeated by most writers.
                repeated = _U32.unpack(await self._in.peek(4))[0]
                if repeated in (stream.delta, stream.timestamp):
                    await self._in.take(4)
            message = await self._chunk(stream)
            if message is not None:
                return message

    async def _chunk(self, stream: _ChunkStream) -> Message | None:
        if stream.partial is None:
            if stream.length > self.max_message_bytes:
                raise ProtocolError(f"a message of {stream.length} bytes (at most "
                                    f"{self.max_message_bytes})")
            stream.partial = bytearray()
        size = min(self._chunk_size, stream.length - len(stream.partial))
        if self._partial_bytes + size > self.max_message_bytes:
            raise ProtocolError(f"more than {self.max_message_bytes} bytes in partial "
                                "messages")
        stream.partial += await self._in.take(size)
        self._partial_bytes += size
        if len(stream.partial) < stream.length:
            return None
        body = bytes(stream.partial)
        self._drop_partial(stream)
        return Message(stream.type_id, stream.stream_id, stream.timestamp, body)


class ChunkWriter:
    """Messages to chunks: a type 0 header, then type 3 continuations. A Set Chunk Size
    it writes sets its own chunk size for the messages after it."""

    def __init__(self) -> None:
        self.chunk_size = DEFAULT_CHUNK_SIZE

    def encode(self, chunk_stream_id: int, message: Message) -> bytes:
        if not 2 <= chunk_stream_id <= 63:
            raise ValueError("hlsd sends on chunk streams 2 to 63")
        timestamp = message.timestamp & _TIMESTAMP_MASK
        extended = timestamp >= _EXTENDED
        body = message.body
        out = bytearray([chunk_stream_id])
        out += min(timestamp, _EXTENDED).to_bytes(3, "big")
        out += len(body).to_bytes(3, "big") + bytes([message.type_id])
        out += message.stream_id.to_bytes(4, "little")
        if extended:
            out += _U32.pack(timestamp)
        out += body[:self.chunk_size]
        for at in range(self.chunk_size, len(body), self.chunk_size):
            out.append(0xC0 | chunk_stream_id)
            if extended:
                out += _U32.pack(timestamp)
            out += body[at:at + self.chunk_size]
        if message.type_id == MessageType.SET_CHUNK_SIZE:
            self.chunk_size = _U32.unpack(body)[0]
        return bytes(out)
