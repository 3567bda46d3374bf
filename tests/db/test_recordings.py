from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from hlsd.db import repo
from hlsd.db.errors import Conflict, NotFound
from hlsd.db.models import RecordedSegment, new_id

from .conftest import Db

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


async def _segment(db: Db, recording_id: str, sequence: int) -> None:
    await repo.append_segment(
        db.sessions,
        recording_id,
        sequence=sequence,
        duration=2.0,
        program_date_time=T0 + timedelta(seconds=2 * sequence),
        object_key=f"recordings/{recording_id}/{sequence}.ts",
        size=1000,
    )


async def test_create_get_list_recordings(db: Db) -> None:
    cam = await repo.create_source(db.sessions, name="cam", segment_length=2)
    yard = await repo.create_source(db.sessions, name="yard", segment_length=2)
    rid = new_id()
    second = await repo.create_recording(
        db.sessions,
        recording_id=rid,
        stream="cam",
        storage_prefix=f"recordings/{rid}/",
        source_id=cam.id,
        alias="door",
        description="front door",
        start_ts=T0 + timedelta(minutes=5),
    )
    assert second.id == rid and second.active is True and second.end_ts is None
    assert second.start_ts == T0 + timedelta(minutes=5) and second.created_at.tzinfo is not None
    first = await repo.create_recording(
        db.sessions, stream="cam", storage_prefix="p1/", source_id=cam.id, start_ts=T0
    )
    other = await repo.create_recording(
        db.sessions, stream="yard", storage_prefix="p2/", source_id=yard.id, start_ts=T0
    )
    own = await repo.create_recording(db.sessions, stream="hlsd-only", storage_prefix="p3/")
    assert own.source_id is None and own.start_ts >= own.created_at - timedelta(seconds=1)

    got = await repo.get_recording(db.sessions, rid)
    assert (got.source_id, got.stream, got.alias, got.description, got.storage_prefix) == (
        cam.id,
        "cam",
        "door",
        "front door",
        f"recordings/{rid}/",
    )
    assert [r.id for r in await repo.list_source_recordings(db.sessions, cam.id)] == [
        first.id,
        second.id,
    ]
    everything = [r.id for r in await repo.list_recordings(db.sessions)]
    assert set(everything) == {first.id, second.id, other.id, own.id}
    assert everything.index(first.id) < everything.index(second.id) < everything.index(own.id)


async def test_unknown_ids_are_not_found(db: Db) -> None:
    with pytest.raises(NotFound) as source:
        await repo.create_recording(db.sessions, stream="x", storage_prefix="p/", source_id="nope")
    assert source.value.kind == "source"
    assert await repo.list_recordings(db.sessions) == []
    with pytest.raises(NotFound):
        await repo.list_source_recordings(db.sessions, "nope")
    for call in (repo.get_recording, repo.stop_recording, repo.delete_recording):
        with pytest.raises(NotFound) as missing:
            await call(db.sessions, "nope")
        assert missing.value.kind == "recording"


async def test_a_reused_recording_id_is_a_conflict(db: Db) -> None:
    taken = await repo.create_recording(db.sessions, stream="s", storage_prefix="p/")
    with pytest.raises(Conflict):
        await repo.create_recording(
            db.sessions, stream="s", storage_prefix="q/", recording_id=taken.id
        )


async def test_stop_recording_is_idempotent(db: Db) -> None:
    rec = await repo.create_recording(db.sessions, stream="cam", storage_prefix="p/", start_ts=T0)
    assert [r.id for r in await repo.list_active_recordings(db.sessions, "cam")] == [rec.id]
    end = T0 + timedelta(minutes=1)
    stopped = await repo.stop_recording(db.sessions, rec.id, end_ts=end)
    assert stopped.active is False and stopped.end_ts == end
    assert stopped.updated_at >= rec.updated_at
    again = await repo.stop_recording(db.sessions, rec.id, end_ts=end + timedelta(hours=1))
    assert again.active is False and again.end_ts == end
    assert (await repo.get_recording(db.sessions, rec.id)).end_ts == end
    assert await repo.list_active_recordings(db.sessions, "cam") == []


async def test_stop_defaults_to_now(db: Db) -> None:
    rec = await repo.create_recording(db.sessions, stream="cam", storage_prefix="p/")
    before = datetime.now(UTC)
    stopped = await repo.stop_recording(db.sessions, rec.id)
    assert stopped.end_ts is not None
    assert before - timedelta(seconds=1) <= stopped.end_ts <= datetime.now(UTC)


async def test_delete_recording_cascades_to_its_segments(db: Db) -> None:
    keep = await repo.create_recording(db.sessions, stream="cam", storage_prefix="keep/")
    gone = await repo.create_recording(db.sessions, stream="cam", storage_prefix="gone/")
    for n in range(3):
        await _segment(db, keep.id, n)
        await _segment(db, gone.id, n)
    deleted = await repo.delete_recording(db.sessions, gone.id)
    assert deleted.id == gone.id and deleted.storage_prefix == "gone/"
    with pytest.raises(NotFound):
        await repo.list_segments(db.sessions, gone.id)
    async with db.sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(RecordedSegment))
    assert rows == 3
    assert len(await repo.list_segments(db.sessions, keep.id)) == 3


async def test_deleting_a_source_keeps_its_recordings(db: Db) -> None:
    cam = await repo.create_source(db.sessions, name="cam", segment_length=2)
    rec = await repo.create_recording(
        db.sessions, stream="cam", storage_prefix="p/", source_id=cam.id
    )
    await _segment(db, rec.id, 0)
    await repo.delete_source(db.sessions, cam.id)
    kept = await repo.get_recording(db.sessions, rec.id)
    assert kept.source_id is None and kept.storage_prefix == "p/"
    assert [s.sequence for s in await repo.list_segments(db.sessions, rec.id)] == [0]
    with pytest.raises(NotFound):
        await repo.list_source_recordings(db.sessions, cam.id)
