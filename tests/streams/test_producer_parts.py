"""The producer's parts (LL-HLS): `append_part` and `close_segment` on the handle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hlsd.streams import (
    HubProducer,
    InitSegment,
    NotPublishing,
    PublisherKind,
    PublishPolicy,
    StreamHub,
)
from tests._support.clock import FakeClock

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _published(clock: FakeClock) -> tuple[StreamHub, HubProducer]:
    hub = StreamHub(window=3, policy=PublishPolicy.REJECT, idle_timeout=10, retention=60,
                    max_streams=4, clock=clock, wall_clock=clock.wall)
    producer = hub.producer("cam", "a", kind=PublisherKind.RTMP)
    producer.publish()
    return hub, producer


def _part(producer: HubProducer, n: int, **kw: object) -> object:
    options: dict[str, object] = {
        "duration": 0.5, "data": bytes([n]) * 10, "independent": n % 2 == 0,
        "program_date_time": T0 + timedelta(seconds=n / 2), "part_target": 0.5,
        "target_duration": 1}
    options.update(kw)
    return producer.append_part("", **options)  # type: ignore[arg-type]


def test_parts_make_segments_and_count_as_activity() -> None:
    clock = FakeClock()
    hub, producer = _published(clock)
    init = InitSegment(name="init.mp4", data=b"moov")
    clock.advance(9)
    first = _part(producer, 0, init=init)
    stream = hub.get("cam")
    assert stream is not None and stream.last_activity == clock.now
    rendition = stream.renditions[""]
    assert first is not None and rendition.part_target == 0.5
    assert rendition.target_duration == 1
    _part(producer, 1, init=init)  # the same section: the segment goes on
    clock.advance(9)
    segment = producer.close_segment("")
    assert segment is not None and len(segment.parts) == 2
    assert segment.init is not None and segment.init.name.endswith("init.mp4")
    assert stream.last_activity == clock.now
    assert producer.close_segment("") is None  # nothing open
    assert producer.close_segment("other") is None  # no such variant
    hub.sweep()
    assert producer.holds  # kept alive by its parts


def test_refused_parts_are_none_and_a_new_encoding_begins_a_segment() -> None:
    _, producer = _published(FakeClock())
    first = InitSegment(name="a.mp4", data=b"moov")
    _part(producer, 0, duration=0.4, part_target=0.4, init=first)  # fixes the part target
    assert _part(producer, 1, duration=0.5) is None  # longer than 0.4: not taken
    stream = producer.stream
    assert stream is not None
    rendition = stream.renditions[""]
    assert len(rendition.segments) == 1 and rendition.open_segment is None
    assert _part(producer, 2, duration=0.4, init=first) is not None
    opened = rendition.open_segment
    assert opened is not None and opened.discontinuity
    # A new init section mid-segment: the open segment ends, the next one has it.
    _part(producer, 4, duration=0.4, init=InitSegment(name="b.mp4", data=b"other"))
    assert len(rendition.segments) == 2
    assert rendition.open_segment is not None and rendition.open_segment.discontinuity
    # A whole segment after parts: the open one is committed first.
    producer.append("", duration=0.5, data=b"w", extension="m4s",
                    program_date_time=T0 + timedelta(seconds=9))
    assert [len(s.parts) for s in rendition.segments][-2:] == [1, 0]


def test_only_the_holder_writes_parts() -> None:
    clock = FakeClock()
    hub, producer = _published(clock)
    other = hub.producer("cam", "b", kind=PublisherKind.RTMP)
    with pytest.raises(NotPublishing):
        _part(other, 0)
    producer.end()
    assert producer.close_segment("") is None
    with pytest.raises(NotPublishing):
        _part(producer, 0)
