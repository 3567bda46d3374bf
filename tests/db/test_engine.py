import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text, update
from sqlalchemy.engine import Connection

from hlsd.db import repo
from hlsd.db.engine import (
    SCHEMA_VERSION,
    database_url,
    init_schema,
    make_engine,
    session_factory,
)
from hlsd.db.errors import SchemaMismatch
from hlsd.db.models import AssetRow, ChannelRow, SchemaVersion

from .conftest import Db, EmptyDb


def test_default_url_is_an_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    url = database_url(tmp_path / "hlsd-data", None)
    assert url == f"sqlite+aiosqlite:///{tmp_path}/hlsd-data/hlsd.db"
    assert database_url(tmp_path, "  ") == f"sqlite+aiosqlite:///{tmp_path}/hlsd.db"


def test_relative_data_dir_becomes_absolute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert database_url(Path("data"), None) == f"sqlite+aiosqlite:///{tmp_path}/data/hlsd.db"


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ("postgresql+asyncpg://u:p@db:5432/hlsd", "postgresql+asyncpg://u:p@db:5432/hlsd"),
        ("postgresql://u:p@db/hlsd", "postgresql+asyncpg://u:p@db/hlsd"),
        ("postgres://u@db/hlsd?ssl=require", "postgresql+asyncpg://u@db/hlsd?ssl=require"),
        ("sqlite:////var/lib/hlsd/meta.db", "sqlite+aiosqlite:////var/lib/hlsd/meta.db"),
        ("sqlite+aiosqlite:///rel.db", "sqlite+aiosqlite:///rel.db"),
    ],
)
def test_configured_urls_get_their_async_driver(configured: str, expected: str) -> None:
    assert database_url(Path("unused"), configured) == expected


@pytest.mark.parametrize("configured", ["mysql://u@h/db", "postgresql+psycopg2://u@h/db"])
def test_unsupported_schemes_are_refused(configured: str) -> None:
    with pytest.raises(ValueError, match="unsupported database URL scheme"):
        database_url(Path("unused"), configured)


async def test_sqlite_gets_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    url = database_url(tmp_path / "nested" / "dir", None)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 10000
            assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert (tmp_path / "nested" / "dir" / "hlsd.db").is_file()
        await init_schema(engine)
    finally:
        await engine.dispose()
    # WAL is a property of the file: a later engine finds it on.
    again = make_engine(url)
    try:
        async with again.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        await again.dispose()


async def test_in_memory_sqlite_works(tmp_path: Path) -> None:
    engine = make_engine("sqlite+aiosqlite://")
    try:
        await init_schema(engine)
        source = await repo.create_source(session_factory(engine), name="m", segment_length=2)
        assert (await repo.get_source(session_factory(engine), source.id)).name == "m"
    finally:
        await engine.dispose()


def _tables_and_indexes(conn: Connection) -> tuple[set[str], set[str]]:
    inspector = inspect(conn)
    tables = set(inspector.get_table_names())
    indexes = {i["name"] or "" for t in tables for i in inspector.get_indexes(t)}
    return tables, indexes


async def test_init_schema_creates_tables_and_indexes(empty_db: EmptyDb) -> None:
    engine = make_engine(empty_db.url, connect_args=empty_db.connect_args)
    try:
        assert await init_schema(engine) == SCHEMA_VERSION
        async with engine.connect() as conn:
            tables, indexes = await conn.run_sync(_tables_and_indexes)
        assert tables == {"schema_version", "sources", "recordings", "recorded_segments",
                      "recorded_variants", "channels", "assets"}
        assert {
            "ix_recordings_source_id_start_ts",
            "ix_recordings_start_ts",
            "ix_recordings_stream_active",
        } <= indexes
    finally:
        await engine.dispose()


async def test_init_schema_is_idempotent_and_keeps_data(db: Db) -> None:
    source = await repo.create_source(db.sessions, name="cam", segment_length=4)
    assert await init_schema(db.engine) == SCHEMA_VERSION
    assert await init_schema(db.engine) == SCHEMA_VERSION
    assert (await repo.get_source(db.sessions, source.id)).name == "cam"
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(SchemaVersion.id, SchemaVersion.version))).all()
    assert [tuple(r) for r in rows] == [(1, SCHEMA_VERSION)]


async def test_concurrent_init_from_several_engines(empty_db: EmptyDb) -> None:
    """Several processes starting at once (one engine each) all succeed."""
    engines = [make_engine(empty_db.url, connect_args=empty_db.connect_args) for _ in range(4)]
    try:
        versions = await asyncio.gather(*(init_schema(e) for e in engines))
        assert versions == [SCHEMA_VERSION] * 4
        async with engines[0].connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM schema_version"))).scalar()
        assert count == 1
    finally:
        for engine in engines:
            await engine.dispose()


async def test_another_schema_version_is_refused(empty_db: EmptyDb) -> None:
    engine = make_engine(empty_db.url, connect_args=empty_db.connect_args)
    try:
        await init_schema(engine)
        async with engine.begin() as conn:
            await conn.execute(update(SchemaVersion).values(version=SCHEMA_VERSION + 1))
        with pytest.raises(SchemaMismatch, match=f"schema version {SCHEMA_VERSION + 1}"):
            await init_schema(engine)
    finally:
        await engine.dispose()


async def test_version_1_is_migrated(empty_db: EmptyDb) -> None:
    engine = make_engine(empty_db.url, connect_args=empty_db.connect_args)
    try:
        await init_schema(engine)
        async with engine.begin() as conn:
            await conn.execute(update(SchemaVersion).values(version=1))
        assert await init_schema(engine) == SCHEMA_VERSION == 5
        async with engine.connect() as conn:
            columns = await conn.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_columns("recorded_segments")})
            version = (await conn.execute(select(SchemaVersion.version))).scalar()
        assert {"variant", "init_key"} <= columns
        assert version == SCHEMA_VERSION
    finally:
        await engine.dispose()


@pytest.mark.parametrize("old", [2, 3])
async def test_versions_2_and_3_gain_the_newer_tables(empty_db: EmptyDb, old: int) -> None:
    engine = make_engine(empty_db.url, connect_args=empty_db.connect_args)
    try:
        await init_schema(engine)
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: AssetRow.__table__.drop(sync))
            if old == 2:
                await conn.run_sync(lambda sync: ChannelRow.__table__.drop(sync))
            await conn.execute(update(SchemaVersion).values(version=old))
        assert await init_schema(engine) == SCHEMA_VERSION
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            version = (await conn.execute(select(SchemaVersion.version))).scalar()
        assert {"channels", "assets"} <= set(tables)
        assert version == SCHEMA_VERSION
    finally:
        await engine.dispose()


async def test_version_4_gains_the_edge_columns_and_keeps_its_rows(empty_db: EmptyDb) -> None:
    engine = make_engine(empty_db.url, connect_args=empty_db.connect_args)
    try:
        await init_schema(engine)
        async with engine.begin() as conn:
            for table, column in (("sources", "rr_target"), ("sources", "local_time"),
                                  ("sources", "reported_at"), ("recordings", "feed")):
                await conn.execute(text(f'ALTER TABLE {table} DROP COLUMN "{column}"'))
            await conn.execute(text(
                "INSERT INTO sources (id, name, segment_length, streaming, created_at, "
                "updated_at) VALUES ('s1', 'cam', 2, false, CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP)"))
            await conn.execute(update(SchemaVersion).values(version=4))
        assert await init_schema(engine) == SCHEMA_VERSION
        sessions = session_factory(engine)
        source = await repo.get_source(sessions, "s1")
        assert source.name == "cam" and source.rr_target is None
        minute_ago = datetime.now(UTC) - timedelta(minutes=1)
        assert await repo.report_source(sessions, "s1", rr_target="lan",
                                        local_time=datetime.now(UTC),
                                        others_silent_since=minute_ago)
        assert (await repo.get_source(sessions, "s1")).rr_target == "lan"
        # Another edge's report is not taken while "lan" reports; once it is silent, it is.
        assert not await repo.report_source(sessions, "s1", rr_target="lan-2",
                                            local_time=datetime.now(UTC),
                                            others_silent_since=minute_ago)
        assert await repo.report_source(sessions, "s1", rr_target="lan-2",
                                        local_time=datetime.now(UTC),
                                        others_silent_since=datetime.now(UTC))
        assert (await repo.get_source(sessions, "s1")).rr_target == "lan-2"
        assert await init_schema(engine) == SCHEMA_VERSION  # again: nothing to add
    finally:
        await engine.dispose()
