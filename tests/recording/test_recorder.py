from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from hlsd.db import NotFound, repo
from hlsd.recording import RecordingError
from hlsd.streams import ConsumerKind, Overflow
from tests._support.polling import eventually

from .conftest import Rig, make_rig


async def settle(rig: Rig, recording_id: str, count: int) -> list[repo.RecordedSegment]:
    for _ in range(200):
        rows = await repo.list_segments(rig.sessions, recording_id)
        if len(rows) >= count:
            return list(rows)
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {len(rows)} of {count} segments were committed")


def counter(rig: Rig, name: str, **labels: str) -> float:
    value = rig.metrics.registry.get_sample_value(name, labels or None)
    return value or 0.0


async def test_live_segments_are_stored_then_indexed(rig: Rig) -> None:
    stream = rig.publish()
    recording = await rig.recorder.start("cam")
    rig.push(stream, 3)
    rows = await settle(rig, recording.id, 3)
    assert [r.sequence for r in rows] == [0, 1, 2]
    assert not any(r.discontinuity for r in rows)
    for row in rows:
        assert await rig.store.get(row.object_key) == b"\x47" * 1000
        assert row.object_key.startswith(f"recordings/{recording.id}/0/")
    stopped = await rig.recorder.stop(recording.id)
    assert stopped.active is False and stopped.end_ts == rig.clock.wall()
    rig.push(stream, 2)
    await asyncio.sleep(0.05)
    assert len(await repo.list_segments(rig.sessions, recording.id)) == 3


async def test_a_start_in_the_past_reaches_back_into_held_segments(rig: Rig) -> None:
    stream = rig.publish()
    rig.push(stream, 10)  # the window holds 3; the rest are held for the reach-back
    start = rig.clock.wall() - timedelta(seconds=6.5)
    recording = await rig.recorder.start("cam", start_ts=start)
    rows = await settle(rig, recording.id, 7)
    assert rows[0].program_date_time == start - timedelta(seconds=0.5)  # overlaps the start
    assert len(rows) == 7


async def test_a_start_beyond_the_reach_back_is_refused(rig: Rig) -> None:
    with pytest.raises(RecordingError, match="reach back at most 30s"):
        await rig.recorder.start("cam", start_ts=rig.clock.wall() - timedelta(minutes=5))
    assert await repo.list_recordings(rig.sessions) == []


async def test_store_failures_are_retried(rig: Rig) -> None:
    stream = rig.publish()
    recording = await rig.recorder.start("cam")
    rig.store.failures = 2
    rig.push(stream, 2)
    rows = await settle(rig, recording.id, 2)
    assert [r.sequence for r in rows] == [0, 1]
    assert counter(rig, "hlsd_recording_store_retries_total") == 2
    assert counter(rig, "hlsd_recording_lost_segments_total", reason="store") \
        == 0


async def test_a_segment_the_store_refuses_is_lost_counted_and_marked(rig: Rig) -> None:
    stream = rig.publish()
    recording = await rig.recorder.start("cam")
    rig.push(stream, 1)
    await settle(rig, recording.id, 1)
    rig.store.failures = 3  # every attempt for the next segment
    rig.push(stream, 2)
    rows = await settle(rig, recording.id, 2)
    assert [(r.sequence, r.discontinuity) for r in rows] == [(0, False), (1, True)]
    assert counter(rig, "hlsd_recording_lost_segments_total",
                   reason="store") == 1


async def test_a_full_queue_drops_and_counts_without_blocking_ingest(tmp_path: Path) -> None:
    async for rig in make_rig(tmp_path, queue_segments=8):
        stream = rig.publish()
        recording = await rig.recorder.start("cam")
        rig.push(stream, 20)  # synchronously: the writer gets no turn before the queue fills
        assert counter(rig, "hlsd_reader_dropped_total", consumer="recorder") == 12
        rows = await settle(rig, recording.id, 8)
        rig.push(stream, 1)
        rows = await settle(rig, recording.id, 9)
        assert [r.discontinuity for r in rows] == [False] * 8 + [True]


async def test_a_slow_store_drops_counts_and_marks_a_break_never_holding_ingest_up(
        tmp_path: Path) -> None:
    async for rig in make_rig(tmp_path, queue_segments=4):
        rig.store.gate = asyncio.Event()  # every put waits until the store is let go
        producer = rig.publish()
        assert producer.stream is not None
        spectator = rig.hub.reader(ConsumerKind.SPECTATOR, capacity=32,
                                   overflow=Overflow.SKIP)
        producer.stream.add_reader(spectator)
        recording = await rig.recorder.start("cam")
        rig.push(producer, 1)
        await eventually(lambda store=rig.store: store.puts == 1,
                         what="the writer waits in the store")
        rig.push(producer, 10)  # while the store holds the writer up
        assert len(producer.stream.renditions[""].history()) == 11  # all of them went live
        assert len(spectator) == 11  # and every other reader had every one
        assert counter(rig, "hlsd_reader_dropped_total", consumer="recorder") == 6
        rig.store.gate.set()
        rows = await settle(rig, recording.id, 5)
        rig.push(producer, 1)
        rows = await settle(rig, recording.id, 6)
        assert [r.discontinuity for r in rows] == [False] * 5 + [True]
        assert counter(rig, "hlsd_recording_lost_segments_total", reason="store") == 0


async def test_a_restarted_publisher_is_a_discontinuity_and_numbering_carries_on(
        rig: Rig) -> None:
    stream = rig.publish()
    recording = await rig.recorder.start("cam")
    rig.push(stream, 2)
    await settle(rig, recording.id, 2)
    stream = rig.publish(publisher="ffmpeg-2")  # takes over
    rig.push(stream, 2)
    rows = await settle(rig, recording.id, 4)
    assert [(r.sequence, r.discontinuity) for r in rows] == [
        (0, False), (1, False), (2, True), (3, False)]


async def test_active_recordings_carry_on_after_a_restart(tmp_path: Path) -> None:
    async for rig in make_rig(tmp_path):
        stream = rig.publish()
        recording = await rig.recorder.start("cam")
        rig.push(stream, 2)
        await settle(rig, recording.id, 2)
    async for rig in make_rig(tmp_path):  # the same database and store, a new process
        assert rig.recorder.is_recording(recording.id)
        stream = rig.publish()
        rig.push(stream, 2)
        rows = await settle(rig, recording.id, 4)
        assert [(r.sequence, r.discontinuity) for r in rows] == [
            (0, False), (1, False), (2, True), (3, False)]


async def test_several_variants_are_recorded_side_by_side(rig: Rig) -> None:
    stream = rig.publish()
    recording = await rig.recorder.start("cam")
    rig.push(stream, 2, variant="hi")
    rig.clock.advance(-2)
    rig.push(stream, 2, variant="lo")
    rows = await settle(rig, recording.id, 4)
    assert {(r.variant, r.sequence) for r in rows} == {
        ("hi", 0), ("hi", 1), ("lo", 0), ("lo", 1)}
    variants = await repo.list_variants(rig.sessions, recording.id)
    assert [(v.name, v.position) for v in variants] == [("hi", 0), ("lo", 1)]
    assert await repo.total_duration(rig.sessions, recording.id) == 2.0


async def test_delete_removes_rows_and_objects(rig: Rig) -> None:
    stream = rig.publish()
    recording = await rig.recorder.start("cam")
    rig.push(stream, 2)
    await settle(rig, recording.id, 2)
    await rig.recorder.delete(recording.id)
    assert [o async for o in rig.store.list(recording.storage_prefix)] == []
    with pytest.raises(NotFound):
        await repo.get_recording(rig.sessions, recording.id)
    rig.push(stream, 1)  # no longer fed
    assert not rig.recorder.is_recording(recording.id)


async def test_a_stop_keeps_the_segment_on_air_when_it_came(rig: Rig) -> None:
    stream = rig.publish()
    recording = await rig.recorder.start("cam")
    rig.push(stream, 2)
    stopping = asyncio.create_task(rig.recorder.stop(recording.id))
    await asyncio.sleep(0.01)  # the stop has taken its moment and waits for the tail
    end = rig.clock.wall()
    rig.clock.advance(-0.5)
    rig.push(stream, 1)  # began half a second before the stop: it belongs
    rig.push(stream, 1)  # begins after it: not recorded, and tells the stop it is done
    stopped = await asyncio.wait_for(stopping, 1.0)  # well within the 2.5 s grace
    assert stopped.end_ts == end
    rows = await repo.list_segments(rig.sessions, recording.id)
    assert [r.program_date_time for r in rows][-1] == end - timedelta(seconds=0.5)
    assert len(rows) == 3
