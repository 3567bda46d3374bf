"""The one reader type: bounded, drops and counts, never blocks whoever offers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from hlsd.metrics import Metrics
from hlsd.streams import (
    Committed,
    ConsumerKind,
    HubEventKind,
    HubProducer,
    Overflow,
    PublisherKind,
    PublishPolicy,
    Reader,
    ReaderClosed,
    Stream,
    StreamHub,
)
from tests._support.clock import FakeClock

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def by_parity(n: int) -> str:
    return "even" if n % 2 == 0 else "odd"


def reader(overflow: Overflow, capacity: int) -> tuple[Reader[int], list[int]]:
    counted: list[int] = []
    made: Reader[int] = Reader(kind=ConsumerKind.RECORDER, capacity=capacity,
                               overflow=overflow, key=by_parity,
                               on_drop=lambda kind, count: counted.append(count))
    return made, counted


async def test_drop_keeps_the_queue_and_the_next_item_of_its_key_tells_the_loss() -> None:
    made, counted = reader(Overflow.DROP, 3)
    assert [made.offer(n) for n in range(6)] == [True, True, True, False, False, False]
    assert made.dropped == 3 and counted == [1, 1, 1] and len(made) == 3
    assert [await made.next_with_loss() for _ in range(3)] == [(0, 0), (1, 0), (2, 0)]
    made.offer(6)  # even: after the even 4 that was dropped
    made.offer(7)  # odd: after the odd 3 and 5
    assert await made.next_with_loss() == (6, 1)
    assert await made.next_with_loss() == (7, 2)


async def test_skip_policy_jumps_to_the_newest() -> None:
    made, counted = reader(Overflow.SKIP, 3)
    for n in range(5):
        made.offer(n)
    assert made.dropped == 3 and counted == [3]
    assert await made.next_with_loss() == (3, 1)  # the odd 1 went before it
    assert await made.next_with_loss() == (4, 2)  # the even 0 and 2
    made.close()
    with pytest.raises(ReaderClosed, match="ended"):
        await made.next()


async def test_disconnect_policy_closes_the_reader() -> None:
    made, counted = reader(Overflow.DISCONNECT, 2)
    for n in range(3):
        made.offer(n)
    assert made.overflowed and made.closed and counted == [3]
    assert not made.offer(9)  # ignored from now on
    with pytest.raises(ReaderClosed, match="behind"):
        await made.next()


async def test_close_delivers_what_is_queued_first() -> None:
    made, _ = reader(Overflow.DROP, 4)
    made.offer(1)
    made.offer(2)
    made.close()
    assert [await made.next(), await made.next()] == [1, 2]
    with pytest.raises(ReaderClosed):
        await made.next()


async def test_a_waiting_consumer_is_woken_and_a_cancelled_wait_loses_nothing() -> None:
    made, _ = reader(Overflow.DROP, 2)
    waiting = asyncio.create_task(made.next())
    await asyncio.sleep(0)
    made.offer(5)
    assert await waiting == 5
    cancelled = asyncio.create_task(made.next())
    await asyncio.sleep(0)
    cancelled.cancel()
    made.offer(6)
    assert await made.next() == 6


def _on_air(metrics: Metrics) -> tuple[StreamHub, HubProducer, Stream]:
    """A hub counting drops in `metrics`, and a stream published on it."""
    hub = StreamHub(window=3, policy=PublishPolicy.REJECT, idle_timeout=10, retention=60,
                    max_streams=4, clock=FakeClock(), on_drop=metrics.reader_dropped)
    producer = hub.producer("cam", "p", kind=PublisherKind.HTTP)
    producer.publish()
    assert producer.stream is not None
    return hub, producer, producer.stream


async def test_a_reader_nobody_reads_never_holds_the_producer_up_and_is_counted() -> None:
    metrics = Metrics()
    hub, producer, stream = _on_air(metrics)
    stalled = hub.reader(ConsumerKind.SPECTATOR, capacity=4, overflow=Overflow.DROP)
    other = hub.reader(ConsumerKind.RELAY, capacity=4, overflow=Overflow.SKIP)
    stream.add_reader(stalled)
    stream.add_reader(other, variant="hi")
    for n in range(100):  # synchronously: no reader gets a turn
        producer.append("", duration=1.0, data=b"x", program_date_time=T0 + timedelta(n))
    assert stream.renditions[""].segments[-1].sequence == 99
    assert len(stalled) == 4 and stalled.dropped == 96 and len(other) == 0
    assert metrics.registry.get_sample_value(
        "hlsd_reader_dropped_total", {"consumer": "spectator"}) == 96
    assert [(await stalled.next()).segment.sequence for _ in range(4)] == [0, 1, 2, 3]
    assert stream.readers == 2 and stream.spectators == 2
    stream.remove_reader(other)
    assert stream.readers == 1


async def test_the_end_closes_readers_except_those_attached_through_it() -> None:
    metrics = Metrics()
    hub, producer, stream = _on_air(metrics)
    spectator = hub.reader(ConsumerKind.SPECTATOR, capacity=8, overflow=Overflow.SKIP)
    recording = hub.reader(ConsumerKind.RECORDER, capacity=8, overflow=Overflow.DROP)
    stream.add_reader(spectator)
    stream.add_reader(recording, through_end=True)
    producer.append("", duration=1.0, data=b"x", program_date_time=T0)
    producer.end()
    assert spectator.closed and stream.readers == 1 and stream.spectators == 0
    producer.publish()  # the publisher is back: the recording reads on
    producer.append("", duration=1.0, data=b"y", program_date_time=T0 + timedelta(1))
    got = [await recording.next_with_loss() for _ in range(2)]
    assert [(c.segment.data, lost) for c, lost in got] == [(b"x", 0), (b"y", 0)]
    assert got[1][0].segment.discontinuity
    assert (await spectator.next()).segment.data == b"x"
    with pytest.raises(ReaderClosed):
        await spectator.next()
    stream.close()  # forgotten by the hub: let go, not closed (its owner moves it on)
    assert stream.readers == 0 and not recording.closed


async def test_hub_events_tell_of_sessions_segments_and_ends_and_count_losses() -> None:
    metrics = Metrics()
    hub = StreamHub(window=3, policy=PublishPolicy.REJECT, idle_timeout=10, retention=60,
                    max_streams=4, clock=FakeClock(), on_drop=metrics.reader_dropped)
    everything = hub.watch(ConsumerKind.ANNOUNCER, capacity=3)
    sessions = hub.watch(ConsumerKind.RECORDER, events=(HubEventKind.PUBLISHED,))
    producer = hub.producer("cam", "p", kind=PublisherKind.HTTP)
    producer.publish()
    for n in range(3):
        producer.append("", duration=1.0, data=b"x", program_date_time=T0 + timedelta(n))
    producer.end()
    producer.publish()
    events = [await everything.next_with_loss() for _ in range(3)]
    assert [(e.kind, lost) for e, lost in events] == [
        (HubEventKind.PUBLISHED, 0), (HubEventKind.COMMITTED, 0),
        (HubEventKind.COMMITTED, 0)]
    assert events[1][0].segment is not None and events[1][0].segment.sequence == 0
    producer.append("", duration=1.0, data=b"x", program_date_time=T0 + timedelta(5))
    event, lost = await everything.next_with_loss()
    assert event.kind is HubEventKind.COMMITTED and lost == 3  # a segment, the end, a session
    assert metrics.registry.get_sample_value(
        "hlsd_reader_dropped_total", {"consumer": "announcer"}) == 3
    assert [(await sessions.next()).kind for _ in range(2)] == [HubEventKind.PUBLISHED] * 2
    assert len(sessions) == 0
    hub.unwatch(everything)
    producer.end()
    assert everything.closed and len(everything) == 0


async def test_committed_carries_the_variant() -> None:
    hub, producer, stream = _on_air(Metrics())
    low = hub.reader(ConsumerKind.SPECTATOR, capacity=4, overflow=Overflow.SKIP)
    every = hub.reader(ConsumerKind.RECORDER, capacity=4, overflow=Overflow.DROP)
    stream.add_reader(low, variant="lo")
    stream.add_reader(every)
    for variant in ("hi", "lo"):
        producer.append(variant, duration=1.0, data=b"x", program_date_time=T0)
    assert len(low) == 1 and len(every) == 2
    got: list[Committed] = [await every.next() for _ in range(2)]
    assert [c.rendition.name for c in got] == ["hi", "lo"]
