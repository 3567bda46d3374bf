from datetime import UTC, datetime, timedelta, timezone

import pytest

from hlsd.db import repo
from hlsd.db.engine import init_schema, make_engine, session_factory
from hlsd.db.timestamps import require_aware

from .conftest import Db, PgTarget, require_postgres

KOLKATA = timezone(timedelta(hours=5, minutes=30))
LOCAL = datetime(2024, 3, 10, 1, 30, 15, 123456, tzinfo=KOLKATA)


async def test_aware_timestamps_come_back_as_the_same_instant_in_utc(db: Db) -> None:
    rec = await repo.create_recording(
        db.sessions, stream="cam", storage_prefix="p/", start_ts=LOCAL
    )
    stopped = await repo.stop_recording(db.sessions, rec.id, end_ts=LOCAL + timedelta(hours=1))
    await repo.append_segment(
        db.sessions,
        rec.id,
        sequence=0,
        duration=2.0,
        program_date_time=LOCAL,
        object_key="k",
        size=1,
    )
    got = await repo.get_recording(db.sessions, rec.id)
    segment = (await repo.list_segments(db.sessions, rec.id))[0]
    for value in (rec.start_ts, got.start_ts, segment.program_date_time):
        assert value == LOCAL and value.utcoffset() == timedelta(0)
        assert value.isoformat() == "2024-03-09T20:00:15.123456+00:00"
    assert stopped.end_ts == got.end_ts == LOCAL + timedelta(hours=1)
    assert got.end_ts is not None and got.end_ts.tzinfo == UTC
    for value in (got.created_at, got.updated_at, segment.committed_at):
        assert value.utcoffset() == timedelta(0)


async def test_instants_sort_by_time_not_by_local_clock(db: Db) -> None:
    # 10:00+05:30 is earlier than 06:00Z although its local clock reads later.
    early = datetime(2024, 1, 1, 10, 0, tzinfo=KOLKATA)
    late = datetime(2024, 1, 1, 6, 0, tzinfo=UTC)
    b = await repo.create_recording(db.sessions, stream="s", storage_prefix="b/", start_ts=late)
    a = await repo.create_recording(db.sessions, stream="s", storage_prefix="a/", start_ts=early)
    assert [r.id for r in await repo.list_recordings(db.sessions)] == [a.id, b.id]


async def test_naive_timestamps_are_refused(db: Db) -> None:
    naive = datetime(2024, 1, 1, 12, 0)
    with pytest.raises(ValueError, match="start_ts must be timezone-aware"):
        await repo.create_recording(db.sessions, stream="s", storage_prefix="p/", start_ts=naive)
    rec = await repo.create_recording(db.sessions, stream="s", storage_prefix="p/")
    with pytest.raises(ValueError, match="end_ts"):
        await repo.stop_recording(db.sessions, rec.id, end_ts=naive)
    with pytest.raises(ValueError, match="program_date_time"):
        await repo.append_segment(
            db.sessions,
            rec.id,
            sequence=0,
            duration=1.0,
            program_date_time=naive,
            object_key="k",
            size=1,
        )
    assert (await repo.get_recording(db.sessions, rec.id)).active is True


async def test_a_non_utc_postgres_session_time_zone_changes_nothing(
    postgres: PgTarget | str,
) -> None:
    target = require_postgres(postgres)
    engines = [
        make_engine(target.url, connect_args=target.connect_args(timezone=zone))
        for zone in ("America/New_York", "Asia/Tokyo")
    ]
    try:
        await init_schema(engines[0])
        new_york, tokyo = (session_factory(e) for e in engines)
        rec = await repo.create_recording(
            new_york, stream="tz", storage_prefix="p/", start_ts=LOCAL
        )
        for got in (rec, await repo.get_recording(new_york, rec.id)):
            assert got.start_ts == LOCAL and got.start_ts.tzinfo == UTC
        assert (await repo.get_recording(tokyo, rec.id)).start_ts == LOCAL
        await repo.delete_recording(tokyo, rec.id)
    finally:
        for engine in engines:
            await engine.dispose()


def test_require_aware_converts_to_utc() -> None:
    assert require_aware(LOCAL).tzinfo == UTC and require_aware(LOCAL) == LOCAL
    with pytest.raises(ValueError):
        require_aware(datetime(2024, 1, 1))
