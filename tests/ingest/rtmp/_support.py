"""What the RTMP tests share: a `Publishers` that collects each session's bytes (the
transport's contract boundary), ffmpeg publishing to a URL, librtmp (the library OBS's
RTMP output is a fork of) publishing an FLV file, an FLV reader for the collected
bytes, and a raw RTMP client that builds its chunks by hand."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import hmac
import io
import os
import struct
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

import av
import imageio_ffmpeg

from hlsd.ingest.continuous import (
    PublishRefused,
    PublishRequest,
    RefusalReason,
    SessionEnded,
)
from hlsd.ingest.rtmp import _amf0
from hlsd.ingest.rtmp._chunks import ChunkReader, Input, Message, MessageType

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
KEY = "K"


class CollectedSession:
    """Collects what is written; `gate`, while clear, holds every write (a pipeline
    that is behind); past `end_after` writes, the session ends itself."""

    def __init__(self, request: PublishRequest, *, end_after: int | None = None,
                 gate: asyncio.Event | None = None) -> None:
        self.request = request
        self.data = bytearray()
        self.writes = 0
        self.waiting = False
        self.closed = asyncio.Event()
        self.error: str | None = None
        self._end_after = end_after
        self._gate = gate

    async def write(self, data: bytes) -> None:
        if self.closed.is_set():
            raise SessionEnded("the session is closed")
        if self._gate is not None:
            self.waiting = True
            await self._gate.wait()
            self.waiting = False
        self.data += data
        self.writes += 1
        if self._end_after is not None and self.writes >= self._end_after:
            raise SessionEnded("unsupported codec")

    async def close(self, error: str | None = None) -> None:
        if not self.closed.is_set():
            self.error = error
            self.closed.set()


class CollectingPublishers:
    """Publishers with one key: a wrong one is refused, as is a name in `busy`."""

    def __init__(self, *, busy: Sequence[str] = (), end_after: int | None = None,
                 gate: asyncio.Event | None = None) -> None:
        self.sessions: dict[str, list[CollectedSession]] = {}
        self.requests: list[PublishRequest] = []
        self._busy = set(busy)
        self._end_after = end_after
        self._gate = gate

    async def open(self, request: PublishRequest) -> CollectedSession:
        self.requests.append(request)
        if request.key is None or not hmac.compare_digest(request.key, KEY):
            raise PublishRefused("wrong or missing publish key",
                                 reason=RefusalReason.UNAUTHORIZED)
        if request.stream in self._busy:
            raise PublishRefused(f"{request.stream} is published by another publisher",
                                 reason=RefusalReason.BUSY)
        session = CollectedSession(request, end_after=self._end_after, gate=self._gate)
        self.sessions.setdefault(request.stream, []).append(session)
        return session

    def only(self, stream: str) -> CollectedSession:
        sessions = self.sessions.get(stream, [])
        assert len(sessions) == 1, f"{stream}: {len(sessions)} sessions"
        return sessions[0]


@functools.cache
def ffmpeg_has(encoder: str) -> bool:
    listing = subprocess.run([FFMPEG, "-hide_banner", "-encoders"], capture_output=True,
                             text=True, check=True).stdout
    return f" {encoder} " in listing


async def ffmpeg_publish(url: str, *, seconds: float = 1.0, realtime: bool = False,
                         video: Sequence[str] = ("libx264", "-preset", "ultrafast"),
                         audio: Sequence[str] = ("aac",),
                         options: Sequence[str] = ()) -> tuple[int, str]:
    """Publish test patterns to `url` over RTMP; ffmpeg's exit code and its errors."""
    args = [FFMPEG, "-hide_banner", "-nostdin", "-v", "error",
            *(["-re"] if realtime else []),
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
            "-f", "lavfi", "-i", "sine=sample_rate=48000",
            "-t", str(seconds), "-c:v", *video, "-g", "25", "-pix_fmt", "yuv420p",
            "-c:a", *audio, *options, "-flvflags", "no_duration_filesize", "-f", "flv", url]
    process = await asyncio.create_subprocess_exec(*args, stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.PIPE)
    _, errors = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, errors.decode(errors="replace")


def ffmpeg_flv(seconds: float = 1.0) -> bytes:
    """An FLV file of H.264 and AAC test patterns."""
    return subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-v", "error",
         "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", "-"],
        capture_output=True, check=True).stdout


def _librtmp() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("rtmp")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    lib.RTMP_Alloc.restype = ctypes.c_void_p
    for function in ("RTMP_Init", "RTMP_EnableWrite", "RTMP_Close", "RTMP_Free"):
        getattr(lib, function).argtypes = [ctypes.c_void_p]
    lib.RTMP_SetupURL.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.RTMP_Connect.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.RTMP_ConnectStream.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.RTMP_Write.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    lib.RTMP_LogSetLevel.argtypes = [ctypes.c_int]
    lib.RTMP_LogSetLevel(0)  # critical only
    return lib


LIBRTMP = _librtmp()


def librtmp_publish(url: str, flv: bytes) -> tuple[bool, int]:
    """Publish an FLV file with librtmp (blocking: run it in a thread): whether the
    publish started, and the bytes written. `url` takes librtmp's options after a
    space (``playpath=cam1``), as OBS sets them."""
    assert LIBRTMP is not None
    rtmp = LIBRTMP.RTMP_Alloc()
    LIBRTMP.RTMP_Init(rtmp)
    url_buffer = ctypes.create_string_buffer(url.encode())  # librtmp points into it
    try:
        assert LIBRTMP.RTMP_SetupURL(rtmp, url_buffer)
        LIBRTMP.RTMP_EnableWrite(rtmp)
        if not (LIBRTMP.RTMP_Connect(rtmp, None) and LIBRTMP.RTMP_ConnectStream(rtmp, 0)):
            return False, 0
        written = 0
        for at in range(0, len(flv), 4096):
            piece = flv[at:at + 4096]
            if LIBRTMP.RTMP_Write(rtmp, piece, len(piece)) <= 0:
                break
            written += len(piece)
        return True, written
    finally:
        LIBRTMP.RTMP_Close(rtmp)
        LIBRTMP.RTMP_Free(rtmp)


@dataclass
class Track:
    codec: str
    times: list[float] = field(default_factory=list)
    """Decoding times, in seconds."""

    @property
    def span(self) -> float:
        return self.times[-1] - self.times[0]


def demux_flv(data: bytes) -> dict[str, Track]:
    """The collected bytes through FFmpeg's flv demuxer: each track's packet times,
    checked to never go back."""
    tracks: dict[int, Track] = {}
    with av.open(io.BytesIO(data), "r", format="flv") as container:
        for packet in container.demux():
            if packet.dts is None or packet.size == 0:
                continue
            stream = packet.stream
            track = tracks.setdefault(stream.index, Track(stream.codec_context.name))
            time = float(packet.dts * packet.time_base)
            assert not track.times or time >= track.times[-1], (track.codec, track.times[-1],
                                                                time)
            track.times.append(time)
    return {track.codec: track for track in tracks.values()}


@dataclass(frozen=True)
class FlvTag:
    kind: int
    timestamp: int
    body: bytes


def flv_tags(data: bytes) -> tuple[int, list[FlvTag]]:
    """The header's flags and every tag, their PreviousTagSize fields checked."""
    assert data[:4] == b"FLV\x01", data[:4]
    flags, offset = data[4], struct.unpack_from(">I", data, 5)[0]
    assert struct.unpack_from(">I", data, offset)[0] == 0
    at, tags = offset + 4, []
    while at < len(data):
        kind, size = data[at], int.from_bytes(data[at + 1:at + 4], "big")
        timestamp = int.from_bytes(data[at + 4:at + 7], "big") | data[at + 7] << 24
        body = data[at + 11:at + 11 + size]
        assert struct.unpack_from(">I", data, at + 11 + size)[0] == 11 + size
        tags.append(FlvTag(kind, timestamp, body))
        at += 11 + size + 4
    return flags, tags


def chunk_header(kind: int, chunk_stream_id: int, *, timestamp: int = 0, length: int = 0,
                 type_id: int = 0, stream_id: int = 0, extended: bool = False) -> bytes:
    """A chunk's basic and message headers, as RTMP 1.0 §5.3.1 lays them out."""
    if chunk_stream_id < 64:
        out = bytearray([kind << 6 | chunk_stream_id])
    elif chunk_stream_id < 320:
        out = bytearray([kind << 6, chunk_stream_id - 64])
    else:
        out = bytearray([kind << 6 | 1, (chunk_stream_id - 64) & 0xFF,
                         (chunk_stream_id - 64) >> 8])
    field = 0xFFFFFF if extended else timestamp
    if kind <= 2:
        out += field.to_bytes(3, "big")
    if kind <= 1:
        out += length.to_bytes(3, "big") + bytes([type_id])
    if kind == 0:
        out += stream_id.to_bytes(4, "little")
    if extended:
        out += timestamp.to_bytes(4, "big")
    return bytes(out)


def chunked(header: bytes, body: bytes, chunk_stream_id: int, *, size: int = 128,
            extended: int | None = None) -> bytes:
    """`body` after `header`, cut every `size` bytes by type 3 headers (repeating the
    extended timestamp `extended`, when given)."""
    out = bytearray(header + body[:size])
    for at in range(size, len(body), size):
        out.append(0xC0 | chunk_stream_id)
        if extended is not None:
            out += extended.to_bytes(4, "big")
        out += body[at:at + size]
    return bytes(out)


class RawClient:
    """A publisher written for the tests: a real socket, hand-made chunks."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._messages = ChunkReader(Input(reader), max_message_bytes=1 << 20)

    @classmethod
    async def open(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def handshake(self) -> None:
        c1 = bytes(8) + os.urandom(1528)
        await self.send(b"\x03" + c1)
        answer = await self.reader.readexactly(1 + 2 * 1536)
        assert answer[0] == 3 and answer[1 + 1536:] == c1
        await self.send(answer[1:1 + 1536])

    async def command(self, name: str, transaction: float, *values: _amf0.Value,
                      stream_id: int = 0) -> None:
        body = _amf0.encode(name, transaction, *values)
        header = chunk_header(0, 3, length=len(body), type_id=MessageType.COMMAND_AMF0,
                              stream_id=stream_id)
        await self.send(chunked(header, body, 3))

    async def receive(self) -> Message:
        message = await asyncio.wait_for(self._messages.read(), 10)
        if message.type_id == MessageType.SET_CHUNK_SIZE:
            self._messages.set_chunk_size(struct.unpack(">I", message.body)[0])
        return message

    async def answer(self) -> list[_amf0.Value]:
        """The next command the server sends, decoded."""
        while True:
            message = await self.receive()
            if message.type_id == MessageType.COMMAND_AMF0:
                return _amf0.decode(message.body)

    async def publish(self, name: str, *, app: str = "live") -> dict[str, _amf0.Value]:
        """connect, createStream, publish: the publish's onStatus information."""
        await self.handshake()
        await self.command("connect", 1.0, {"app": app, "tcUrl": f"rtmp://127.0.0.1/{app}"})
        assert (await self.answer())[0] == "_result"
        await self.command("createStream", 2.0, None)
        assert (await self.answer())[0] == "_result"
        await self.command("publish", 0.0, None, name, "live", stream_id=1)
        status = await self.answer()
        assert status[0] == "onStatus" and isinstance(status[3], dict)
        return status[3]

    async def closed(self, timeout: float = 10) -> bool:
        """Whether the server closed the connection (reading until it does)."""
        try:
            async with asyncio.timeout(timeout):
                while await self.reader.read(65536):
                    pass
        except ConnectionError:
            pass
        return True

    def close(self) -> None:
        self.writer.transport.abort()
