import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest

from hlsd.db import repo
from hlsd.db.errors import NotFound

from .conftest import Db

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


async def _append(
    db: Db,
    recording_id: str,
    sequence: int,
    *,
    duration: float = 2.002,
    object_key: str | None = None,
    discontinuity: bool = False,
) -> bool:
    return await repo.append_segment(
        db.sessions,
        recording_id,
        sequence=sequence,
        duration=duration,
        program_date_time=T0 + timedelta(milliseconds=2002 * (sequence % 10**6)),
        object_key=object_key or f"rec/{recording_id}/seg-{sequence}.ts",
        size=188 * 1000 + sequence,
        discontinuity=discontinuity,
    )


async def test_append_and_list_in_order(db: Db) -> None:
    rec = await repo.create_recording(db.sessions, stream="cam", storage_prefix="rec/")
    for n in (3, 0, 2, 1):
        assert await _append(db, rec.id, n, discontinuity=n == 2) is True
    segments = await repo.list_segments(db.sessions, rec.id)
    assert [s.sequence for s in segments] == [0, 1, 2, 3]
    first = segments[0]
    assert (first.recording_id, first.duration, first.object_key, first.size) == (
        rec.id,
        2.002,
        f"rec/{rec.id}/seg-0.ts",
        188_000,
    )
    assert first.program_date_time == T0 and first.program_date_time.tzinfo is not None
    assert first.committed_at.tzinfo is not None
    assert [s.discontinuity for s in segments] == [False, False, True, False]
    assert await repo.total_duration(db.sessions, rec.id) == pytest.approx(4 * 2.002)


async def test_sequence_order_is_numeric_and_64_bit(db: Db) -> None:
    rec = await repo.create_recording(db.sessions, stream="cam", storage_prefix="rec/")
    for n in (10, 9, 2**40, 100):
        await _append(db, rec.id, n)
    assert [s.sequence for s in await repo.list_segments(db.sessions, rec.id)] == [
        9,
        10,
        100,
        2**40,
    ]


async def test_append_is_idempotent_first_write_wins(db: Db) -> None:
    rec = await repo.create_recording(db.sessions, stream="cam", storage_prefix="rec/")
    assert await _append(db, rec.id, 7) is True
    assert await _append(db, rec.id, 7) is False
    assert await _append(db, rec.id, 7, object_key="other.ts", duration=9.0) is False
    segments = await repo.list_segments(db.sessions, rec.id)
    assert [(s.sequence, s.object_key, s.duration) for s in segments] == [
        (7, f"rec/{rec.id}/seg-7.ts", 2.002)
    ]


async def test_same_sequence_in_two_recordings(db: Db) -> None:
    a = await repo.create_recording(db.sessions, stream="cam", storage_prefix="a/")
    b = await repo.create_recording(db.sessions, stream="cam", storage_prefix="b/")
    assert await _append(db, a.id, 0) and await _append(db, b.id, 0)
    assert len(await repo.list_segments(db.sessions, a.id)) == 1
    assert len(await repo.list_segments(db.sessions, b.id)) == 1


async def test_empty_and_unknown_recordings(db: Db) -> None:
    rec = await repo.create_recording(db.sessions, stream="cam", storage_prefix="rec/")
    assert await repo.list_segments(db.sessions, rec.id) == []
    assert await repo.total_duration(db.sessions, rec.id) == 0.0
    with pytest.raises(NotFound) as append:
        await _append(db, "nope", 0)
    assert append.value.kind == "recording"
    with pytest.raises(NotFound):
        await repo.list_segments(db.sessions, "nope")
    with pytest.raises(NotFound):
        await repo.total_duration(db.sessions, "nope")


async def test_concurrent_appends_from_several_tasks(db: Db) -> None:
    """Eight writers append the same 40 segments in their own orders, all at once."""
    rec = await repo.create_recording(db.sessions, stream="cam", storage_prefix="rec/")
    sequences = list(range(40))

    async def writer(seed: int) -> list[bool]:
        order = sequences[:]
        random.Random(seed).shuffle(order)
        return [await _append(db, rec.id, n) for n in order]

    results = await asyncio.gather(*(writer(seed) for seed in range(8)))
    assert sum(inserted for run in results for inserted in run) == len(sequences)
    segments = await repo.list_segments(db.sessions, rec.id)
    assert [s.sequence for s in segments] == sequences
    assert await repo.total_duration(db.sessions, rec.id) == pytest.approx(40 * 2.002)


async def test_concurrent_appends_to_several_recordings(db: Db) -> None:
    recordings = [
        await repo.create_recording(db.sessions, stream=f"s{i}", storage_prefix=f"{i}/")
        for i in range(5)
    ]

    async def writer(recording_id: str) -> None:
        for n in range(20):
            assert await _append(db, recording_id, n)

    await asyncio.gather(*(writer(r.id) for r in recordings))
    for r in recordings:
        assert [s.sequence for s in await repo.list_segments(db.sessions, r.id)] == list(range(20))


async def test_variants_keep_their_own_numbering_and_attributes(db: Db) -> None:
    rec = await repo.create_recording(db.sessions, stream="cam", storage_prefix="rec/")
    await repo.add_variant(db.sessions, rec.id, name="hi", position=0, bandwidth=800_000,
                           codecs="avc1.64001f,mp4a.40.2", resolution=(1280, 720),
                           frame_rate=30.0)
    await repo.add_variant(db.sessions, rec.id, name="lo", position=1)
    await repo.add_variant(db.sessions, rec.id, name="hi", position=5)  # already there
    variants = await repo.list_variants(db.sessions, rec.id)
    assert [(v.name, v.position) for v in variants] == [("hi", 0), ("lo", 1)]
    assert (variants[0].width, variants[0].height, variants[0].codecs) == (
        1280, 720, "avc1.64001f,mp4a.40.2")
    for variant, count in (("hi", 3), ("lo", 2)):
        for n in range(count):
            assert await repo.append_segment(
                db.sessions, rec.id, variant=variant, sequence=n, duration=2.0,
                program_date_time=T0 + timedelta(seconds=2 * n),
                object_key=f"rec/{variant}/{n}.m4s", size=10,
                init_key=f"rec/{variant}/init.mp4")
    assert await repo.next_sequences(db.sessions, rec.id) == {"hi": 3, "lo": 2}
    hi = await repo.list_segments(db.sessions, rec.id, variant="hi")
    assert [s.sequence for s in hi] == [0, 1, 2]
    assert {s.init_key for s in hi} == {"rec/hi/init.mp4"}
    assert len(await repo.list_segments(db.sessions, rec.id)) == 5
    assert await repo.total_duration(db.sessions, rec.id) == 6.0  # the longest variant
    with pytest.raises(NotFound):
        await repo.add_variant(db.sessions, "no-such-recording", name="", position=0)


async def test_recordings_by_stream_and_active_ones(db: Db) -> None:
    a = await repo.create_recording(db.sessions, stream="cam", storage_prefix="a/",
                                    start_ts=T0)
    b = await repo.create_recording(db.sessions, stream="cam", storage_prefix="b/",
                                    start_ts=T0 + timedelta(seconds=1))
    c = await repo.create_recording(db.sessions, stream="other", storage_prefix="c/")
    await repo.stop_recording(db.sessions, a.id)
    assert [r.id for r in await repo.list_stream_recordings(db.sessions, "cam")] == [a.id, b.id]
    assert {r.id for r in await repo.list_active_recordings(db.sessions)} == {b.id, c.id}
    assert [r.id for r in await repo.list_active_recordings(db.sessions, "cam")] == [b.id]
    assert await repo.next_sequences(db.sessions, a.id) == {}
