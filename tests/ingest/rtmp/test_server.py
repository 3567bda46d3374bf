"""RtmpServer in the test's event loop, published to by real ffmpeg (and by a raw client
for what ffmpeg will not do: silence, extended timestamps, resets, garbage), its
sessions collected by a `Publishers` of the test's own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from collections.abc import AsyncIterator

import pytest

from hlsd.ingest.continuous import Container
from hlsd.ingest.rtmp import RtmpServer, _amf0
from hlsd.ingest.rtmp._chunks import MessageType
from hlsd.streams import PublisherKind
from tests._support.polling import eventually
from tests.ingest.rtmp._support import (
    FFMPEG,
    KEY,
    LIBRTMP,
    CollectingPublishers,
    RawClient,
    chunk_header,
    chunked,
    demux_flv,
    ffmpeg_flv,
    ffmpeg_has,
    ffmpeg_publish,
    flv_tags,
    librtmp_publish,
)


@contextlib.asynccontextmanager
async def running(publishers: CollectingPublishers, *, idle_timeout: float = 5.0,
                  handshake_timeout: float = 10.0, max_connections: int = 256,
                  max_message_bytes: int = 16 << 20) -> AsyncIterator[RtmpServer]:
    server = RtmpServer(publishers, idle_timeout=idle_timeout,
                        handshake_timeout=handshake_timeout, max_connections=max_connections,
                        max_message_bytes=max_message_bytes)
    await server.start("127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.close()


async def test_ffmpeg_publishes_h264_and_aac_as_flv() -> None:
    publishers = CollectingPublishers()
    async with running(publishers) as server:
        url = f"rtmp://127.0.0.1:{server.port}/live/cam1?key={KEY}"
        code, errors = await ffmpeg_publish(url, seconds=3, realtime=True)
        assert code == 0, errors
        session = publishers.only("cam1")
        await asyncio.wait_for(session.closed.wait(), 5)
    assert session.error is None  # FCUnpublish and deleteStream: a clean end
    request = session.request
    assert (request.stream, request.key, request.host) == ("cam1", KEY, "127.0.0.1")
    assert (request.kind, request.container) == (PublisherKind.RTMP, Container.FLV)
    flags, tags = flv_tags(bytes(session.data))
    assert flags == 0x05
    assert tags[0].kind == 18 and tags[0].body.startswith(_amf0.encode("onMetaData"))
    tracks = demux_flv(bytes(session.data))
    assert set(tracks) == {"h264", "aac"}
    assert tracks["h264"].span >= 2.5 and tracks["aac"].span >= 2.5


@pytest.mark.parametrize("form", ["obs", "tcurl"])
async def test_the_key_on_the_server_url(form: str) -> None:
    publishers = CollectingPublishers()
    async with running(publishers) as server:
        base = f"rtmp://127.0.0.1:{server.port}"
        if form == "obs":  # Server rtmp://HOST/live?key=K: on the app and the tcUrl
            url, options = f"{base}/live?key={KEY}", ["-rtmp_playpath", "cam2"]
        else:
            url = base
            options = ["-rtmp_app", "live", "-rtmp_tcurl", f"{base}/live?key={KEY}",
                       "-rtmp_playpath", "cam2"]
        code, errors = await ffmpeg_publish(url, options=options)
        assert code == 0, errors
        session = publishers.only("cam2")
        await asyncio.wait_for(session.closed.wait(), 5)
    assert session.request.key == KEY
    assert set(demux_flv(bytes(session.data))) == {"h264", "aac"}


@pytest.mark.parametrize(("path", "said"), [
    ("live/cam1?key=not-the-key-42", "wrong or missing publish key"),
    ("live/cam1", "wrong or missing publish key"),
    (f"live/taken?key={KEY}", "taken is published by another publisher"),
])
async def test_a_refused_publisher(path: str, said: str,
                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hlsd.ingest.rtmp")
    publishers = CollectingPublishers(busy=["taken"])
    async with running(publishers) as server:
        code, errors = await ffmpeg_publish(f"rtmp://127.0.0.1:{server.port}/{path}")
    assert code != 0
    assert f"Server error: {said}" in errors
    assert len(publishers.requests) == 1 and not publishers.sessions
    assert any("refused to publish" in r.getMessage() for r in caplog.records)
    assert not any("not-the-key-42" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(LIBRTMP is None, reason="librtmp (Debian's librtmp1) is not installed")
async def test_librtmp_publishes_as_obs_does() -> None:
    # librtmp does the Flash Player 9 handshake unless S1 says otherwise, converts the
    # file's onMetaData to @setDataFrame, and waits for NetStream.Publish.Start.
    flv = ffmpeg_flv(seconds=1)
    publishers = CollectingPublishers()
    async with running(publishers) as server:
        base = f"rtmp://127.0.0.1:{server.port}"
        assert await asyncio.to_thread(librtmp_publish, f"{base}/live/cam1?key={KEY}",
                                       flv) == (True, len(flv))
        # OBS: Server rtmp://HOST/live?key=K, Stream Key cam2
        assert await asyncio.to_thread(librtmp_publish,
                                       f"{base}/live?key={KEY} playpath=cam2", flv) \
            == (True, len(flv))
        assert await asyncio.to_thread(librtmp_publish, f"{base}/live/cam3?key=no",
                                       flv) == (False, 0)
        sessions = [publishers.only(name) for name in ("cam1", "cam2")]
        await asyncio.wait_for(asyncio.gather(*(s.closed.wait() for s in sessions)), 5)
    assert "cam3" not in publishers.sessions
    for session in sessions:
        assert session.error is None and session.request.key == KEY
        tracks = demux_flv(bytes(session.data))
        assert set(tracks) == {"h264", "aac"} and tracks["h264"].span >= 0.9
        assert flv_tags(bytes(session.data))[1][0].body.startswith(
            _amf0.encode("onMetaData"))


async def test_play_is_refused() -> None:
    async with running(CollectingPublishers()) as server:
        process = await asyncio.create_subprocess_exec(
            *[FFMPEG, "-hide_banner", "-nostdin", "-v", "error", "-i",
              f"rtmp://127.0.0.1:{server.port}/live/cam1", "-f", "null", "-"],
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, errors = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode != 0
    assert "takes RTMP publishers only" in errors.decode()


async def test_two_publishers_at_once() -> None:
    publishers = CollectingPublishers()
    async with running(publishers) as server:
        urls = [f"rtmp://127.0.0.1:{server.port}/live/{name}?key={KEY}" for name in "ab"]
        results = await asyncio.gather(*(ffmpeg_publish(url, seconds=2, realtime=True)
                                         for url in urls))
        assert [code for code, _ in results] == [0, 0], results
        sessions = [publishers.only(name) for name in "ab"]
        await asyncio.wait_for(asyncio.gather(*(s.closed.wait() for s in sessions)), 5)
    for session in sessions:
        assert session.error is None
        tracks = demux_flv(bytes(session.data))
        assert set(tracks) == {"h264", "aac"} and tracks["h264"].span >= 1.5


def _handshake_and(data: bytes) -> bytes:
    return b"\x03" + bytes(1536) + bytes(1536) + data


PUBLISH = _amf0.encode("publish", 0.0, None, "cam1", "live")
GARBAGE = {
    "http": b"GET / HTTP/1.1\r\nHost: example\r\n\r\n",
    "tls": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(32),
    "random": b"\x00" + os.urandom(4000),
    "rtmpe": b"\x06" + os.urandom(1536),
    "chunks": _handshake_and(b"\xff" * 64),
    "chunk-size": _handshake_and(chunk_header(0, 2, length=4, type_id=1) + b"\x7f\xff\xff\xff"),
    "huge-message": _handshake_and(chunk_header(0, 6, length=0xFFFFFF, type_id=9)),
    "big-before-publish": _handshake_and(chunk_header(0, 6, length=65 * 1024, type_id=9)),
    "bad-amf": _handshake_and(chunk_header(0, 3, length=4, type_id=20) + b"\x02\x00\x09x"),
    "no-connect": _handshake_and(chunk_header(0, 3, length=len(PUBLISH), type_id=20)
                                 + PUBLISH),
}


async def test_garbage_is_one_log_line_and_the_next_publisher_is_served(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="hlsd.ingest.rtmp")
    publishers = CollectingPublishers()
    async with running(publishers, max_message_bytes=1 << 20) as server:
        ports = {}
        for name, payload in GARBAGE.items():
            client = await RawClient.open(server.port)
            ports[name] = client.writer.get_extra_info("sockname")[1]
            with contextlib.suppress(ConnectionError):
                await client.send(payload)
            assert await client.closed(), name
            client.close()
        code, errors = await ffmpeg_publish(
            f"rtmp://127.0.0.1:{server.port}/live/after?key={KEY}")
        assert code == 0, errors
    for name, port in ports.items():
        lines = [r for r in caplog.records if f"127.0.0.1:{port}:" in r.getMessage()]
        assert len(lines) == 1, (name, [r.getMessage() for r in lines])
        assert lines[0].exc_info is None and lines[0].levelno >= logging.INFO, name
    assert "HTTP request" in str([r.getMessage() for r in caplog.records])
    assert set(demux_flv(bytes(publishers.only("after").data))) == {"h264", "aac"}


async def _media(client: RawClient, *messages: bytes) -> None:
    for message in messages:
        await client.send(message)


async def test_raw_publisher_timestamps_metadata_and_aggregates() -> None:
    publishers = CollectingPublishers()
    big = 0x01000000 + 40                    # past the 24-bit field
    video = b"\x17\x01" + bytes(298)
    keyframe = b"\x17\x01" + os.urandom(100 * 1024)  # past the bound before a publish
    aggregate_tag = (b"\x08\x00\x00\x02" + (500).to_bytes(3, "big") + b"\x00\x00\x00\x00"
                     + b"\xaf\x01" + (13).to_bytes(4, "big"))
    async with running(publishers) as server:
        client = await RawClient.open(server.port)
        status = await client.publish(f"raw?key={KEY}")
        assert status["code"] == "NetStream.Publish.Start"
        metadata = _amf0.encode("@setDataFrame", "onMetaData", {"videocodecid": 7.0})
        await _media(
            client,
            chunk_header(0, 4, length=len(metadata), type_id=18, stream_id=1) + metadata,
            chunk_header(0, 6, timestamp=0, length=300, type_id=9, stream_id=1) + video[:128],
            chunk_header(3, 6) + video[128:256] + chunk_header(3, 6) + video[256:],
            chunk_header(2, 6, timestamp=40) + video[:128],
            chunk_header(3, 6) + video[128:256] + chunk_header(3, 6) + video[256:],
            chunked(chunk_header(0, 6, timestamp=big, length=len(keyframe), type_id=9,
                                 stream_id=1, extended=True), keyframe, 6, extended=big),
            chunk_header(0, 5, timestamp=big + 5, length=len(aggregate_tag), type_id=22,
                         stream_id=1, extended=True) + aggregate_tag,
        )
        await client.command("FCUnpublish", 3.0, None, "raw")
        session = publishers.only("raw")
        await asyncio.wait_for(session.closed.wait(), 5)
        client.close()
    assert session.error is None
    flags, tags = flv_tags(bytes(session.data))
    assert flags == 0x01  # the metadata came first and names video alone
    assert [(t.kind, t.timestamp) for t in tags] == [(18, 0), (9, 0), (9, 40), (9, big),
                                                     (8, big + 5)]
    assert tags[0].body == _amf0.encode("onMetaData", {"videocodecid": 7.0})
    assert tags[1].body == video and tags[3].body == keyframe and tags[4].body == b"\xaf\x01"


async def test_an_idle_connection_is_closed() -> None:
    publishers = CollectingPublishers()
    async with running(publishers, idle_timeout=0.5, handshake_timeout=0.5) as server:
        silent = await RawClient.open(server.port)           # says nothing at all
        shook = await RawClient.open(server.port)            # never publishes
        await shook.handshake()
        publisher = await RawClient.open(server.port)        # stops sending media
        await publisher.publish(f"quiet?key={KEY}")
        await publisher.send(chunk_header(0, 4, length=2, type_id=8, stream_id=1) + b"\xaf\x01")
        for client in (silent, shook, publisher):
            assert await client.closed(timeout=5)
            client.close()
        session = publishers.only("quiet")
        await asyncio.wait_for(session.closed.wait(), 5)
    assert session.error == "no media for 0.5s"
    assert [t.kind for t in flv_tags(bytes(session.data))[1]] == [8]


PING = chunk_header(0, 2, length=6, type_id=4) + b"\x00\x06\x00\x00\x00\x2a"


async def test_a_waiting_session_stops_the_reads_without_counting_as_idle() -> None:
    gate = asyncio.Event()
    publishers = CollectingPublishers(gate=gate)
    async with running(publishers, idle_timeout=0.3) as server:
        client = await RawClient.open(server.port)
        await client.publish(f"slow?key={KEY}")
        await client.send(chunk_header(0, 4, length=2, type_id=8, stream_id=1) + b"\xaf\x01"
                          + PING)
        session = publishers.only("slow")
        await eventually(lambda: session.waiting)
        # The write waits: the ping behind the audio is not read, for longer than the
        # idle timeout, and that time does not count as silence.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.receive(), 0.6)
        gate.set()
        pong = await client.receive()
        assert pong.body == b"\x00\x07\x00\x00\x00\x2a"
        assert not session.closed.is_set()
        await client.command("deleteStream", 4.0, None, 1.0)
        await asyncio.wait_for(session.closed.wait(), 5)
        client.close()
    assert session.error is None and session.writes == 1


async def test_disconnects_and_resets() -> None:
    publishers = CollectingPublishers()
    async with running(publishers) as server:
        leaving = await RawClient.open(server.port)
        await leaving.publish(f"leaving?key={KEY}")
        leaving.writer.close()                               # a FIN without unpublishing
        reset = await RawClient.open(server.port)
        await reset.publish(f"reset?key={KEY}")
        sock = reset.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        reset.close()                                        # a RST
        for name in ("leaving", "reset"):
            await asyncio.wait_for(publishers.only(name).closed.wait(), 5)
    assert publishers.only("leaving").error is None
    assert publishers.only("reset").error == "the publisher's connection was lost"


async def test_connections_are_bounded() -> None:
    async with running(CollectingPublishers(), max_connections=1) as server:
        first = await RawClient.open(server.port)
        await first.handshake()
        second = await RawClient.open(server.port)
        assert await second.closed(timeout=5)
        second.close()
        first.close()

        async def served() -> bool:
            client = await RawClient.open(server.port)
            try:
                await client.handshake()
                return True
            except (ConnectionError, asyncio.IncompleteReadError):
                return False
            finally:
                client.close()

        await eventually(served, what="a connection served once the first is gone")


async def test_closing_the_server_ends_sessions_with_an_error() -> None:
    publishers = CollectingPublishers()
    server = RtmpServer(publishers, idle_timeout=5)
    await server.start("127.0.0.1", 0)
    port = server.port
    client = await RawClient.open(port)
    await client.publish(f"cam?key={KEY}")
    await client.send(chunk_header(0, 4, length=2, type_id=8, stream_id=1) + b"\xaf\x01")
    session = publishers.only("cam")
    await eventually(lambda: session.writes >= 1)
    await server.close()
    assert session.error == "the server is closing"
    assert await client.closed(timeout=5)
    client.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_a_session_that_ends_stops_the_publisher() -> None:
    publishers = CollectingPublishers(end_after=3)
    async with running(publishers) as server:
        code, _ = await ffmpeg_publish(
            f"rtmp://127.0.0.1:{server.port}/live/cam1?key={KEY}", seconds=3, realtime=True)
        session = publishers.only("cam1")
        await asyncio.wait_for(session.closed.wait(), 5)
    assert code != 0
    assert session.error == "unsupported codec"


async def test_pings_are_answered_and_acknowledgements_sent() -> None:
    async with running(CollectingPublishers()) as server:
        client = await RawClient.open(server.port)
        await client.publish(f"acks?key={KEY}")
        window = 4096
        await client.send(chunk_header(0, 2, length=4, type_id=5) + window.to_bytes(4, "big")
                          + PING)
        pong = await client.receive()
        assert (pong.type_id, pong.body) == (MessageType.USER_CONTROL, b"\x00\x07\x00\x00\x00\x2a")
        body = b"\xaf\x01" + bytes(100)
        for _ in range(60):
            await client.send(chunk_header(0, 4, length=len(body), type_id=8, stream_id=1)
                              + body)
        ack = await client.receive()
        assert ack.type_id == MessageType.ACKNOWLEDGEMENT
        assert struct.unpack(">I", ack.body)[0] >= window
        client.close()


@pytest.mark.skipif(not ffmpeg_has("libx265") or not ffmpeg_has("libopus"),
                    reason="this ffmpeg binary has no libx265 or libopus encoder")
async def test_hevc_and_opus_over_enhanced_rtmp() -> None:
    publishers = CollectingPublishers()
    async with running(publishers) as server:
        code, errors = await ffmpeg_publish(
            f"rtmp://127.0.0.1:{server.port}/live/hevc?key={KEY}", seconds=1,
            video=("libx265", "-preset", "ultrafast", "-x265-params", "log-level=error"),
            audio=("libopus",))
        assert code == 0, errors
        session = publishers.only("hevc")
        await asyncio.wait_for(session.closed.wait(), 5)
    tracks = demux_flv(bytes(session.data))
    assert set(tracks) == {"hevc", "opus"}
    assert tracks["hevc"].span >= 0.8
