"""The chunk stream reader on hand-made chunks: every header type, timestamp deltas,
extended timestamps, interleaving, and its bounds."""

from __future__ import annotations

import asyncio

import pytest

from hlsd.ingest.rtmp._chunks import (
    MAX_CHUNK_STREAMS,
    ChunkReader,
    ChunkWriter,
    Closed,
    Expired,
    Input,
    Message,
    ProtocolError,
)
from tests.ingest.rtmp._support import chunk_header, chunked

AUDIO, VIDEO = 8, 9


def reader(data: bytes, *, max_message_bytes: int = 1 << 20, eof: bool = True) -> ChunkReader:
    stream = asyncio.StreamReader()
    stream.feed_data(data)
    if eof:
        stream.feed_eof()
    return ChunkReader(Input(stream), max_message_bytes=max_message_bytes)


async def read_all(chunks: ChunkReader) -> list[Message]:
    messages = []
    while True:
        try:
            messages.append(await chunks.read())
        except Closed:
            return messages


async def test_type_1_2_3_headers_carry_deltas() -> None:
    data = (chunk_header(0, 4, timestamp=1000, length=2, type_id=AUDIO, stream_id=1) + b"a0"
            + chunk_header(2, 4, timestamp=20) + b"a1"
            + chunk_header(3, 4) + b"a2"          # a new message: the last delta again
            + chunk_header(1, 4, timestamp=30, length=3, type_id=VIDEO) + b"v00"
            + chunk_header(3, 4) + b"v01")
    messages = await read_all(reader(data))
    assert [(m.type_id, m.stream_id, m.timestamp, m.body) for m in messages] == [
        (AUDIO, 1, 1000, b"a0"), (AUDIO, 1, 1020, b"a1"), (AUDIO, 1, 1040, b"a2"),
        (VIDEO, 1, 1070, b"v00"), (VIDEO, 1, 1100, b"v01")]


async def test_type_3_after_type_0_repeats_its_timestamp_as_the_delta() -> None:
    # RTMP 1.0 §5.3.1.2.4's own example; FFmpeg reads it so too.
    data = (chunk_header(0, 4, timestamp=40, length=1, type_id=AUDIO) + b"x"
            + chunk_header(3, 4) + b"y")
    assert [m.timestamp for m in await read_all(reader(data))] == [40, 80]


async def test_a_message_split_over_chunks_and_interleaved() -> None:
    video = bytes(range(256)) + b"end"
    audio = b"A" * 10
    data = (chunk_header(0, 6, timestamp=0, length=len(video), type_id=VIDEO) + video[:128]
            + chunk_header(0, 4, timestamp=5, length=len(audio), type_id=AUDIO) + audio
            + chunk_header(3, 6) + video[128:256]
            + chunk_header(3, 6) + video[256:])
    messages = await read_all(reader(data))
    assert [(m.type_id, m.timestamp, m.body) for m in messages] == [
        (AUDIO, 5, audio), (VIDEO, 0, video)]


async def test_extended_timestamps_on_every_header_type() -> None:
    big = 0x01000000 + 7                    # past 24 bits: 4 hours 39 minutes in
    body = bytes(300)
    data = (chunked(chunk_header(0, 6, timestamp=big, length=300, type_id=VIDEO,
                                 extended=True), body, 6, extended=big)
            # type 3 starting a message: the extended field is the delta, here `big` again
            + chunked(chunk_header(3, 6) + big.to_bytes(4, "big"), body, 6, extended=big)
            # a delta that does not need extending ends the extended run
            + chunk_header(2, 6, timestamp=40) + body[:128]
            + chunk_header(3, 6) + body[128:256] + chunk_header(3, 6) + body[256:]
            + chunk_header(2, 6, timestamp=0x1FFFFFF, extended=True) + body[:128]
            + chunk_header(3, 6) + (0x1FFFFFF).to_bytes(4, "big") + body[128:256]
            + chunk_header(3, 6) + (0x1FFFFFF).to_bytes(4, "big") + body[256:])
    messages = await read_all(reader(data))
    assert [m.timestamp for m in messages] == [big, 2 * big, 2 * big + 40,
                                               2 * big + 40 + 0x1FFFFFF]
    assert all(m.body == body for m in messages)


async def test_continuations_without_the_extended_timestamp_are_read_too() -> None:
    big = 0x02000000
    body = b"\x01" * 200
    data = chunked(chunk_header(0, 6, timestamp=big, length=200, type_id=VIDEO,
                                extended=True), body, 6)
    [message] = await read_all(reader(data))
    assert (message.timestamp, message.body) == (big, body)


async def test_timestamps_wrap_at_32_bits() -> None:
    data = (chunk_header(0, 4, timestamp=0xFFFFFFF0, length=1, type_id=AUDIO, extended=True)
            + b"a" + chunk_header(2, 4, timestamp=0x20) + b"b")
    assert [m.timestamp for m in await read_all(reader(data))] == [0xFFFFFFF0, 0x10]


async def test_chunk_size_abort_and_long_chunk_stream_ids() -> None:
    fresh = bytes(range(30))
    chunks = reader(chunk_header(0, 70, length=300, type_id=VIDEO) + bytes(300)
                    + chunk_header(0, 400, length=30, type_id=AUDIO) + bytes(20)
                    + chunk_header(0, 5, length=1, type_id=AUDIO) + b"z"
                    + chunk_header(3, 400) + fresh[:20] + chunk_header(3, 400) + fresh[20:])
    chunks.set_chunk_size(4096)
    first = await chunks.read()
    assert len(first.body) == 300
    chunks.set_chunk_size(20)
    assert (await chunks.read()).body == b"z"
    chunks.abort(400)                       # the first 20 bytes on 400 are dropped
    assert (await chunks.read()).body == fresh


async def test_a_new_header_replaces_a_message_left_half_read() -> None:
    data = (chunk_header(0, 4, length=200, type_id=AUDIO) + bytes(128)
            + chunk_header(0, 4, timestamp=9, length=2, type_id=AUDIO) + b"ok")
    [message] = await read_all(reader(data))
    assert (message.timestamp, message.body) == (9, b"ok")


async def test_a_type_1_header_first_counts_from_zero() -> None:
    data = chunk_header(1, 4, timestamp=7, length=1, type_id=AUDIO) + b"x"
    assert [(m.timestamp, m.body) for m in await read_all(reader(data))] == [(7, b"x")]


async def test_zero_length_messages() -> None:
    data = chunk_header(0, 3, length=0, type_id=20) + chunk_header(0, 3, length=1,
                                                                   type_id=20) + b"x"
    assert [m.body for m in await read_all(reader(data))] == [b"", b"x"]


@pytest.mark.parametrize(("data", "error"), [
    (chunk_header(3, 4) + b"x", "type 3 chunk header before"),
    (chunk_header(2, 4, timestamp=5) + b"x", "type 2 chunk header before"),
    (chunk_header(0, 4, length=2000, type_id=9), "a message of 2000 bytes"),
])
async def test_protocol_errors(data: bytes, error: str) -> None:
    with pytest.raises(ProtocolError, match=error):
        await read_all(reader(data, max_message_bytes=1000))


async def test_partial_messages_are_bounded_across_chunk_streams() -> None:
    data = b"".join(chunk_header(0, csid, length=900, type_id=9) + bytes(128)
                    for csid in range(3, 20))
    with pytest.raises(ProtocolError, match="partial messages"):
        await read_all(reader(data, max_message_bytes=1000))


async def test_chunk_streams_are_bounded() -> None:
    data = b"".join(chunk_header(0, 64 + n, length=1, type_id=8) + b"x"
                    for n in range(MAX_CHUNK_STREAMS + 1))
    with pytest.raises(ProtocolError, match="chunk streams"):
        await read_all(reader(data))


async def test_chunk_size_bounds() -> None:
    chunks = reader(b"")
    for size in (0, 16 * 1024 * 1024 + 1, 0x80000000):
        with pytest.raises(ProtocolError, match="chunk size"):
            chunks.set_chunk_size(size)


async def test_reads_stop_at_the_deadline() -> None:
    chunks = reader(chunk_header(0, 4, length=10, type_id=8), eof=False)
    source = chunks._in  # the deadline belongs to the input
    source.deadline = asyncio.get_running_loop().time() + 0.05
    with pytest.raises(Expired):
        await chunks.read()


async def test_the_writer_applies_its_own_chunk_size() -> None:
    writer = ChunkWriter()
    data = (writer.encode(2, Message(1, 0, 0, (300).to_bytes(4, "big")))
            + writer.encode(3, Message(20, 0, 0, bytes(300))))
    assert writer.chunk_size == 300 and len(data) == 12 + 4 + 12 + 300
    chunks = reader(data)
    assert (await chunks.read()).type_id == 1
    chunks.set_chunk_size(300)
    assert (await chunks.read()).body == bytes(300)


async def test_the_writer_reads_back() -> None:
    writer = ChunkWriter()
    writer.chunk_size = 100
    messages = [Message(20, 0, 0, bytes(range(250))), Message(9, 1, 0x1234567, bytes(201)),
                Message(8, 1, 5, b"")]
    data = b"".join(writer.encode(5, message) for message in messages)
    chunks = reader(data)
    chunks.set_chunk_size(100)
    assert await read_all(chunks) == messages
