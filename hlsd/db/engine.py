"""Engines, sessions and the schema: SQLite in the data dir by default, PostgreSQL when
configured. Nothing here holds state at import time; `app.py` builds one engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, inspect, select, text, update
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from hlsd.db.availability import GuardedSessions
from hlsd.db.errors import SchemaMismatch
from hlsd.db.models import Base, RecordedSegment, SchemaVersion
from hlsd.db.timestamps import utcnow

SQLITE_FILE = "hlsd.db"
SCHEMA_VERSION = 5
"""Bumped by every schema change; `init_schema` migrates from the versions it knows
(`_migrate`) and refuses any other."""

# pg_advisory_xact_lock key that serialises schema creation across processes ("hlsd").
_PG_SCHEMA_LOCK = 0x686C7364
_SQLITE_BUSY_TIMEOUT = 10.0
_PG_CONNECT_TIMEOUT = 5.0
_SQLITE_PRAGMAS = (
    f"PRAGMA busy_timeout = {int(_SQLITE_BUSY_TIMEOUT * 1000)}",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
)
_SCHEMES = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def database_url(data_dir: Path, configured: str | None) -> str:
    """The async URL to use: `configured` (normalised to its async driver), else an
    SQLite file in `data_dir`.

    `postgres://` and `postgresql://` become `postgresql+asyncpg://`, and `sqlite://`
    becomes `sqlite+aiosqlite://`. Any other scheme is a ValueError.
    """
    if configured is None or not configured.strip():
        path = (data_dir / SQLITE_FILE).absolute()
        return URL.create("sqlite+aiosqlite", database=str(path)).render_as_string()
    url = make_url(configured.strip())
    driver = _SCHEMES.get(url.drivername)
    if driver is None:
        raise ValueError(
            f"unsupported database URL scheme {url.drivername!r}: use "
            "postgresql+asyncpg://user@host/db, or sqlite+aiosqlite:///path/to/hlsd.db"
        )
    return url.set(drivername=driver).render_as_string(hide_password=False)


@dataclass(frozen=True, kw_only=True)
class Database:
    """A database's URL (with its credentials: never logged; `describe` is) and engine."""

    url: str
    engine: AsyncEngine


def open_database(data_dir: Path, configured: str | None) -> Database:
    """The configured database (PostgreSQL), else the SQLite file in `data_dir`: for a
    node and for `hlsd worker` alike."""
    url = database_url(data_dir, configured)
    return Database(url=url, engine=make_engine(url))


def make_engine(
    url: str, *, connect_args: dict[str, Any] | None = None, echo: bool = False
) -> AsyncEngine:
    """An async engine for `url` (as `database_url` returns it).

    SQLite: the parent directory is created; each connection gets foreign keys,
    `synchronous=NORMAL` and a 10 s busy timeout (WAL, a property of the file, is
    switched on by `init_schema`); a file uses a small queue pool and `:memory:` one
    shared connection. PostgreSQL: a pre-pinged pool, connections recycled after
    30 min. `connect_args` go to the driver (for asyncpg e.g.
    `{"server_settings": {"search_path": "s"}}`).
    """
    parsed = make_url(url)
    args = dict(connect_args or {})
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed, connect_args=args, echo=echo)
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        return engine
    args.setdefault("timeout", _PG_CONNECT_TIMEOUT)  # asyncpg's own default is 60 s
    return create_async_engine(
        parsed,
        connect_args=args,
        echo=echo,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def session_factory(engine: AsyncEngine, *, gate: Callable[[], None] | None = None,
                    ) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (they are handed to callers);
    with `gate`, each session is first allowed by it (`availability.GuardedSessions`)."""
    if gate is None:
        return async_sessionmaker(engine, expire_on_commit=False)
    return GuardedSessions(engine, gate=gate, expire_on_commit=False)


async def init_schema(engine: AsyncEngine) -> int:
    """Create the tables that are missing and record `SCHEMA_VERSION`; returns it.

    Safe to call on every start, from several processes at once: creation runs in one
    transaction under a lock (SQLite `BEGIN IMMEDIATE`, a PostgreSQL advisory lock).
    A database at another version raises `SchemaMismatch`: this is where migrations
    will hook in once the schema changes. An SQLite file is switched to WAL first.
    """
    async with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            await _sqlite_wal(conn)
        await _lock_schema(conn)
        await conn.run_sync(Base.metadata.create_all)
        row = (
            await conn.execute(select(SchemaVersion.version).where(SchemaVersion.id == 1))
        ).scalar_one_or_none()
        if row is None:
            await conn.execute(
                insert(SchemaVersion).values(id=1, version=SCHEMA_VERSION, updated_at=utcnow())
            )
        elif row == 1:
            await _migrate_from_1(conn)
            await _add_columns(conn)
        elif row in (2, 3, 4):
            # 3 and 4 only add tables (`channels`, `assets`), which `create_all` made.
            await _add_columns(conn)
            await _set_version(conn)
        elif row != SCHEMA_VERSION:
            await conn.rollback()
            raise SchemaMismatch(
                f"the database holds schema version {row}; this hlsd uses "
                f"{SCHEMA_VERSION} and has no migration between them"
            )
        await conn.commit()
    return SCHEMA_VERSION


async def _migrate_from_1(conn: AsyncConnection) -> None:
    """Version 2 keys recorded segments by variant and adds `recorded_variants`. No
    version-1 surface wrote recorded segments, so the old, empty table is replaced."""
    table = Base.metadata.tables[RecordedSegment.__tablename__]
    await conn.run_sync(table.drop)
    await conn.run_sync(table.create)
    await _set_version(conn)


_ADDED_COLUMNS = (("sources", ("rr_target", "local_time", "reported_at")),
                  ("recordings", ("feed",)))
"""Version 5's nullable columns on tables that existed before: the edge's reports on a
source, and what feeds a recording."""


async def _add_columns(conn: AsyncConnection) -> None:
    """ALTER TABLE … ADD COLUMN for the columns of `_ADDED_COLUMNS` a table lacks (a
    table `create_all` just made has them all)."""
    for table_name, names in _ADDED_COLUMNS:
        table = Base.metadata.tables[table_name]
        present = await conn.run_sync(_column_names, table_name)
        for name in names:
            if name in present:
                continue
            column = table.c[name]
            kind = column.type.compile(dialect=conn.dialect)
            await conn.execute(text(f'ALTER TABLE {table_name} ADD COLUMN "{name}" {kind}'))


def _column_names(sync: Connection, table: str) -> set[str]:
    return {column["name"] for column in inspect(sync).get_columns(table)}


async def _set_version(conn: AsyncConnection) -> None:
    await conn.execute(update(SchemaVersion).where(SchemaVersion.id == 1)
                       .values(version=SCHEMA_VERSION, updated_at=utcnow()))


async def _lock_schema(conn: AsyncConnection) -> None:
    if conn.dialect.name == "sqlite":
        # pysqlite opens transactions only before DML; take the write lock up front so
        # that a second process waits (busy_timeout), then finds the tables made.
        await conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SCHEMA_LOCK})


async def _sqlite_wal(conn: AsyncConnection) -> None:
    """Switch the file to WAL (it stays so). SQLite answers a contended switch with
    SQLITE_BUSY at once, without its busy handler, so this retries for a while."""
    mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
    deadline = asyncio.get_running_loop().time() + _SQLITE_BUSY_TIMEOUT
    delay = 0.01
    while mode not in ("wal", "memory"):
        try:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode = WAL")).scalar()
            break  # whatever SQLite chose (a filesystem without WAL keeps its mode)
        except OperationalError as exc:
            if "locked" not in str(exc) or asyncio.get_running_loop().time() > deadline:
                raise
            await conn.rollback()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)
    await conn.commit()
