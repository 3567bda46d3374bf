"""The producer handle: the one way ingest writes a stream."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from hlsd.streams import (
    ConsumerKind,
    HubProducer,
    InitSegment,
    NotPublishing,
    Overflow,
    PublisherKind,
    PublishPolicy,
    ReaderClosed,
    StreamBusy,
    StreamHub,
    StreamState,
)
from tests._support.clock import FakeClock

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _hub(clock: FakeClock, policy: PublishPolicy = PublishPolicy.REJECT) -> StreamHub:
    return StreamHub(window=3, policy=policy, idle_timeout=10, retention=60, max_streams=4,
                     clock=clock, wall_clock=clock.wall)


def _published(hub: StreamHub, publisher: str, name: str = "cam") -> HubProducer:
    producer = hub.producer(name, publisher, kind=PublisherKind.HTTP)
    producer.publish()
    return producer


def test_nothing_is_written_before_publish() -> None:
    hub = _hub(FakeClock())
    producer = hub.producer("cam", "a", kind=PublisherKind.HTTP)
    assert hub.get("cam") is None and not producer.holds and producer.stream is None
    with pytest.raises(NotPublishing):
        producer.append("", duration=1.0, data=b"x")
    producer.end()  # nothing to end: nothing happens


def test_reject_policy_refuses_a_second_publisher_while_the_first_is_active() -> None:
    clock = FakeClock()
    hub = _hub(clock)
    first = _published(hub, "a")
    first.append("", duration=2.0, data=b"x")
    with pytest.raises(StreamBusy):
        _published(hub, "b")
    assert first.holds and not first.taken_over
    clock.advance(11)  # the first went quiet: the stream is free
    second = _published(hub, "b")
    assert second.holds and first.taken_over and not first.holds


def test_a_takeover_is_a_new_session_the_old_publisher_cannot_write_or_end() -> None:
    clock = FakeClock()
    hub = _hub(clock, PublishPolicy.TAKEOVER)
    first = _published(hub, "a")
    first.append("", duration=2.0, data=b"x")
    session = first.session
    second = _published(hub, "b")
    assert first.taken_over and second.holds and second.session != session
    with pytest.raises(NotPublishing):
        first.append("", duration=2.0, data=b"x")
    first.end()  # not its stream any more: the new publisher's goes on
    assert second.stream is not None and second.stream.state is StreamState.LIVE
    segment = second.append("", duration=2.0, data=b"y")
    assert segment is not None and segment.discontinuity
    assert segment.name.startswith(second.session)


def test_end_tells_readers_and_a_publish_again_resumes_after_a_break() -> None:
    clock = FakeClock()
    hub = _hub(clock)
    producer = _published(hub, "a")
    producer.append("", duration=2.0, data=b"x")
    stream = producer.stream
    assert stream is not None
    spectator = hub.reader(ConsumerKind.SPECTATOR, capacity=4, overflow=Overflow.SKIP)
    stream.add_reader(spectator)
    producer.end()
    assert stream.state is StreamState.ENDED and spectator.closed and not producer.holds
    assert b"#EXT-X-ENDLIST" in stream.renditions[""].playlist().body  # type: ignore[union-attr]
    producer.publish()
    segment = producer.append("", duration=2.0, data=b"y")
    assert producer.holds and segment is not None and segment.discontinuity


def test_ending_one_variant_ends_its_playlist_until_its_publisher_goes_on() -> None:
    clock = FakeClock()
    hub = _hub(clock)
    producer = _published(hub, "a")
    for variant in ("hi", "lo"):
        producer.append(variant, duration=2.0, data=b"x")
    producer.end("lo")
    stream = producer.stream
    assert stream is not None and stream.state is StreamState.LIVE
    assert stream.renditions["lo"].ended and not stream.renditions["hi"].ended
    segment = producer.append("lo", duration=2.0, data=b"x")  # it said ENDLIST, then went on
    assert segment is not None and segment.discontinuity and not stream.renditions["lo"].ended


def test_a_discontinuity_marks_the_next_segment_of_its_variant() -> None:
    hub = _hub(FakeClock())
    producer = _published(hub, "a")
    for variant in ("hi", "lo"):
        producer.append(variant, duration=2.0, data=b"x")
    producer.discontinuity("hi")
    producer.discontinuity("missing")  # no such variant: nothing to mark
    hi = producer.append("hi", duration=2.0, data=b"x")
    lo = producer.append("lo", duration=2.0, data=b"x")
    assert hi is not None and hi.discontinuity and lo is not None and not lo.discontinuity


def test_a_fragment_stream_fixes_its_target_with_headroom_and_drops_what_is_longer() -> None:
    clock = FakeClock()
    hub = _hub(clock)
    producer = _published(hub, "a")
    assert producer.append("", duration=2.0, data=b"x") is not None
    stream = producer.stream
    assert stream is not None
    assert stream.renditions[""].target_duration == 3  # GOPs vary: 1.5 times the first
    assert producer.append("", duration=2.9, data=b"x") is not None
    assert producer.append("", duration=3.6, data=b"x") is None  # the caller counts it
    after = producer.append("", duration=2.0, data=b"x")
    assert after is not None and after.discontinuity
    assert len(stream.renditions[""].segments) == 3


def test_segments_without_a_time_are_contiguous_and_count_as_activity() -> None:
    clock = FakeClock()
    hub = _hub(clock)
    producer = _published(hub, "a")
    times = []
    for _ in range(3):
        clock.advance(0.5)  # pushed faster than real time
        segment = producer.append("", duration=2.0, data=b"x", target_hint=2)
        assert segment is not None
        times.append(segment.program_date_time)
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [2.0, 2.0]
    clock.advance(9)
    producer.touch()  # a playlist came, no segment: still there
    clock.advance(9)
    hub.sweep()
    assert producer.holds
    clock.advance(11)
    hub.sweep()
    assert not producer.holds


def test_describe_and_init_sections() -> None:
    hub = _hub(FakeClock())
    producer = _published(hub, "a")
    producer.describe("720p")
    stream = producer.stream
    assert stream is not None and set(stream.renditions) == {"720p"}
    segment = producer.append("720p", duration=2.0, data=b"moof", extension="m4s",
                              init=InitSegment(name="init.mp4", data=b"moov"),
                              program_date_time=T0 + timedelta(seconds=1))
    assert segment is not None and segment.init is not None
    assert segment.init.data == b"moov" and segment.init.name.endswith("-init.mp4")
    assert stream.renditions["720p"].get(segment.init.name) is segment.init


async def test_a_producer_ending_its_stream_closes_its_spectators() -> None:
    hub = _hub(FakeClock())
    producer = _published(hub, "a")
    stream = producer.stream
    assert stream is not None
    spectator = hub.reader(ConsumerKind.SPECTATOR, capacity=2, overflow=Overflow.SKIP)
    stream.add_reader(spectator)
    producer.end()
    with pytest.raises(ReaderClosed, match="ended"):
        await spectator.next()
