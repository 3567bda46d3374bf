"""Which variants a live stream offers players: never one that cannot play."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hlsd.streams import PublisherKind, PublishPolicy, StreamHub
from hlsd.streams.stream import Stream
from tests._support.clock import FakeClock

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _stream(clock: FakeClock) -> Stream:
    return Stream("cam", publisher="p", kind=PublisherKind.HTTP, session="s1", window=3,
                  clock=clock)


def _append(stream: Stream, variant: str, n: int, clock: FakeClock) -> None:
    rendition = stream.rendition(variant)
    for i in range(n):
        rendition.append(duration=2.0, data=b"x", extension="ts",
                         program_date_time=T0 + timedelta(seconds=2 * i + clock.now))
        clock.advance(2.0)


def test_variants_that_never_had_a_segment_are_not_offered() -> None:
    """A multivariant push whose segments never came, then a single-variant one: the
    stream plays as that single variant (the master used to name ``/index.m3u8``)."""
    clock = FakeClock()
    stream = _stream(clock)
    stream.rendition("720p")
    stream.rendition("360p")
    assert stream.multivariant and stream.master() is None  # nothing to play yet
    _append(stream, "", 3, clock)
    assert not stream.multivariant
    assert stream.default_variant() == ""


def test_a_variant_the_publisher_stopped_feeding_leaves_the_master() -> None:
    clock = FakeClock()
    stream = _stream(clock)
    for _ in range(3):
        _append(stream, "720p", 1, clock)
        _append(stream, "360p", 1, clock)
    master = stream.master()
    assert master is not None and b"360p/index.m3u8" in master.body
    _append(stream, "720p", 4, clock)  # 360p is 8 s (4 target durations) behind now
    master = stream.master()
    assert master is not None
    assert b"720p/index.m3u8" in master.body and b"360p" not in master.body
    assert stream.default_variant() == "720p"


def test_a_stream_taken_up_again_after_its_end_is_not_ended_by_the_next_sweep() -> None:
    """A websocket stream republished past `live.idle_timeout` (within retention) used to
    be ended again at once: its last activity still dated from before its end."""
    clock = FakeClock()
    hub = StreamHub(window=3, policy=PublishPolicy.REJECT, idle_timeout=5, retention=60,
                    max_streams=10, clock=clock)
    first = hub.producer("cam", "ws-1", kind=PublisherKind.HTTP)
    first.publish()
    stream = first.stream
    assert stream is not None
    _append(stream, "", 1, clock)
    clock.advance(6)
    hub.sweep()
    assert stream.state.value == "ended"
    clock.advance(20)
    second = hub.producer("cam", "ws-2", kind=PublisherKind.HTTP)
    second.publish()
    hub.sweep()
    assert second.stream is stream and stream.state.value == "live"
    _append(stream, "", 1, clock)  # takes the segment (it raised RenditionEnded)


def test_http_players_are_noted_on_the_streams_clock() -> None:
    clock = FakeClock()
    stream = _stream(clock)
    assert not stream.played_within(1e9)  # never played
    stream.played()
    clock.advance(5.0)
    assert stream.played_within(5.0)
    assert not stream.played_within(4.9)
