"""SrtServer against real publishers: ffmpeg (with its own libsrt) pushing MPEG-TS to
one UDP port, routed by stream id into a small real `Publishers` that keeps the bytes."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import socket
from collections.abc import AsyncIterator

import av
import pytest

from hlsd.ingest.continuous import (
    Container,
    PublishRefused,
    PublishRequest,
    RefusalReason,
    SessionEnded,
)
from hlsd.ingest.srt import SrtServer
from hlsd.streams import PublisherKind
from tests._support.polling import eventually
from tests._support.srt import SILENT, publish, srt_test

pytestmark = srt_test

KEY = "K"


class Collected:
    """One publisher's session: the bytes written, and how it was closed."""

    def __init__(self, request: PublishRequest) -> None:
        self.request = request
        self.data = bytearray()
        self.closed = asyncio.Event()
        self.error: str | None = None

    async def write(self, data: bytes) -> None:
        if self.closed.is_set():
            raise SessionEnded("closed")
        self.data += data

    async def close(self, error: str | None = None) -> None:
        if not self.closed.is_set():
            self.error = error
            self.closed.set()


class Collecting:
    """Publishers with one key, refusing a second publisher of a live stream."""

    def __init__(self) -> None:
        self.requests: list[PublishRequest] = []
        self.sessions: dict[str, Collected] = {}

    async def open(self, request: PublishRequest) -> Collected:
        self.requests.append(request)
        if request.key != KEY:
            raise PublishRefused("a wrong publish key", reason=RefusalReason.UNAUTHORIZED)
        held = self.sessions.get(request.stream)
        if held is not None and not held.closed.is_set():
            raise PublishRefused("published by another", reason=RefusalReason.BUSY)
        self.sessions[request.stream] = Collected(request)
        return self.sessions[request.stream]


def spans(data: bytes) -> dict[str, float]:
    """Each codec's timestamp span (seconds) in an MPEG-TS byte stream, as PyAV reads it."""
    seen: dict[str, tuple[float, float]] = {}
    with av.open(io.BytesIO(bytes(data)), format="mpegts") as container:
        for packet in container.demux():
            if packet.pts is None or packet.time_base is None:
                continue
            at = float(packet.pts * packet.time_base)
            name = packet.stream.codec_context.name
            low, high = seen.get(name, (at, at))
            seen[name] = (min(low, at), max(high, at))
    return {name: high - low for name, (low, high) in seen.items()}


@pytest.fixture
async def publishers() -> Collecting:
    return Collecting()


@pytest.fixture
async def server(publishers: Collecting) -> AsyncIterator[SrtServer]:
    server = SrtServer(publishers, idle_timeout=5)
    await server.start("127.0.0.1", 0)
    yield server
    await server.close()


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]


async def test_a_publisher_s_mpegts_arrives_whole(server: SrtServer,
                                                   publishers: Collecting) -> None:
    code, err = await (await publish(server.port, "publish:cam1:K", seconds=3)).finished()
    assert code == 0, err
    session = publishers.sessions["cam1"]
    await asyncio.wait_for(session.closed.wait(), 5)
    assert session.error is None
    request = session.request
    assert (request.stream, request.key, request.host) == ("cam1", KEY, "127.0.0.1")
    assert request.kind is PublisherKind.SRT and request.container is Container.MPEGTS
    covered = spans(session.data)
    assert set(covered) == {"h264", "aac"}
    assert all(2.5 <= seconds <= 3.2 for seconds in covered.values()), covered


async def test_two_publishers_share_the_port_each_in_its_own_stream(
        server: SrtServer, publishers: Collecting) -> None:
    first = await publish(server.port, "publish:cam1:K")
    second = await publish(server.port, "#!::u=bob,key=K,m=publish,r=room/cam2")
    assert (await first.finished())[0] == 0
    assert (await second.finished())[0] == 0
    assert sorted(publishers.sessions) == ["cam1", "room/cam2"]
    for session in publishers.sessions.values():
        await asyncio.wait_for(session.closed.wait(), 5)
        assert set(spans(session.data)) == {"h264", "aac"}
    assert publishers.sessions["room/cam2"].request.key == KEY


@pytest.mark.parametrize(("stream_id", "code", "opened"), [
    ("publish:cam1:WRONG", 1401, True),
    ("publish:cam1", 1401, True),
    ("read:cam1", 1405, False),
    ("#!::r=cam1,key=K", 1405, False),  # no m=publish: a reader
    ("cam1", 1400, False),
])
async def test_a_refused_caller_is_told_why_before_it_connects(
        server: SrtServer, publishers: Collecting, caplog: pytest.LogCaptureFixture,
        stream_id: str, code: int, opened: bool) -> None:
    caplog.set_level(logging.INFO, logger="hlsd.ingest.srt")
    returncode, err = await (await publish(server.port, stream_id)).finished()
    assert returncode != 0
    # ffmpeg's libsrt reports the listener's code (1000 + an HTTP status).
    assert f"PREDEFINED:{code - 1000}" in err, err
    assert bool(publishers.requests) == opened
    assert publishers.sessions == {}
    [line] = refusals(caplog)
    assert f"({code})" in line and "Traceback" not in caplog.text
    assert "WRONG" not in caplog.text  # keys stay out of logs


async def test_a_second_publisher_of_a_live_stream_meets_a_conflict(
        server: SrtServer, publishers: Collecting) -> None:
    first = await publish(server.port, "publish:cam1:K", source=SILENT, seconds=30)
    await eventually(lambda: "cam1" in publishers.sessions, what="the first publisher")
    code, err = await (await publish(server.port, "publish:cam1:K")).finished()
    assert code != 0 and "PREDEFINED:409" in err, err
    await first.stop()


async def test_garbage_datagrams_disturb_nothing(server: SrtServer,
                                                 publishers: Collecting) -> None:
    noise = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with noise:
        def spray() -> None:
            for size in range(1, 1500, 7):
                noise.sendto(os.urandom(size), ("127.0.0.1", server.port))
                # an SRT control packet's first bit, then junk: a "handshake" of nothing
                noise.sendto(b"\x80\x00\x00\x00" + os.urandom(size), ("127.0.0.1", server.port))

        spray()
        publisher = await publish(server.port, "publish:cam1:K")
        await eventually(lambda: "cam1" in publishers.sessions, what="the publisher")
        spray()
        assert (await publisher.finished())[0] == 0
    session = publishers.sessions["cam1"]
    await asyncio.wait_for(session.closed.wait(), 5)
    assert session.error is None
    assert set(spans(session.data)) == {"h264", "aac"}


async def test_an_idle_publisher_is_closed(publishers: Collecting) -> None:
    server = SrtServer(publishers, idle_timeout=0.5)
    await server.start("127.0.0.1", 0)
    try:
        publisher = await publish(server.port, "publish:quiet:K", source=SILENT, seconds=30)
        await eventually(lambda: "quiet" in publishers.sessions, what="the publisher")
        session = publishers.sessions["quiet"]
        await asyncio.wait_for(session.closed.wait(), 5)
        assert session.error == "the publisher sent nothing for 0.5 s"
        await publisher.stop()
    finally:
        await server.close()


async def test_connections_are_bounded(publishers: Collecting,
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hlsd.ingest.srt")
    server = SrtServer(publishers, idle_timeout=30, max_connections=1)
    await server.start("127.0.0.1", 0)
    try:
        first = await publish(server.port, "publish:one:K", source=SILENT, seconds=30)
        await eventually(lambda: "one" in publishers.sessions, what="the first publisher")
        code, err = await (await publish(server.port, "publish:two:K")).finished()
        assert code != 0 and "PREDEFINED:402" in err, err
        assert "two" not in publishers.sessions
        [line] = refusals(caplog)
        assert "1 SRT publishers at once" in line
        await first.stop()
    finally:
        await server.close()


async def test_closing_the_server_ends_every_session_with_an_error(
        publishers: Collecting) -> None:
    server = SrtServer(publishers, idle_timeout=30)
    await server.start("127.0.0.1", 0)
    publisher = await publish(server.port, "publish:cam1:K", source=SILENT, seconds=30)
    try:
        await eventually(lambda: "cam1" in publishers.sessions, what="the publisher")
        await server.close()
        session = publishers.sessions["cam1"]
        assert session.closed.is_set() and session.error == "the server is closing"
    finally:
        await server.close()
        await publisher.stop()


async def test_a_handshake_failing_after_the_callback_closes_its_session(
        server: SrtServer, publishers: Collecting, monkeypatch: pytest.MonkeyPatch) -> None:
    # The callback opens the session; libsrt then refuses the caller's encryption (hlsd
    # sets no passphrase), so no socket is ever accepted for it.
    monkeypatch.setattr("hlsd.ingest.srt.server._HANDSHAKE_GRACE", 0.5)
    publisher = await publish(server.port, "publish:cam1:K",
                              options="&passphrase=0123456789abcdef")
    assert (await publisher.finished())[0] != 0
    session = publishers.sessions["cam1"]
    await asyncio.wait_for(session.closed.wait(), 5)
    assert session.error == "the SRT handshake did not complete"
    assert session.data == b""


async def test_a_dual_stack_listener_sees_ipv4_publishers_as_ipv4(
        publishers: Collecting) -> None:
    server = SrtServer(publishers, idle_timeout=5)
    await server.start("::", 0)
    try:
        assert (await (await publish(server.port, "publish:cam1:K")).finished())[0] == 0
        # as ``live.publish_keys``' loopback rule needs it (not ``::ffff:127.0.0.1``)
        assert publishers.sessions["cam1"].request.host == "127.0.0.1"
    finally:
        await server.close()


async def test_a_taken_port_is_an_oserror(server: SrtServer, publishers: Collecting) -> None:
    second = SrtServer(publishers, idle_timeout=5)
    with pytest.raises(OSError):
        await second.start("127.0.0.1", server.port)
    await second.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        third = SrtServer(publishers, idle_timeout=5)
        with pytest.raises(OSError):
            await third.start("127.0.0.1", taken.getsockname()[1])
