"""Real databases for the metadata tests: an SQLite file per test, and PostgreSQL.

PostgreSQL is `HLSD_TEST_POSTGRES_URL`, else the local server at
`postgresql+asyncpg://postgres@127.0.0.1:5432/test` if it answers. Each test session
works in a schema of its own (dropped at the end), so parallel runs don't collide.
Without a server the PostgreSQL cases skip, unless `CI` is set: then they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hlsd.db.engine import init_schema, make_engine, session_factory
from hlsd.db.models import Base
from tests._support.environment import in_ci

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", "postgres"]
DATA_TABLES = ", ".join(
    t.name for t in reversed(Base.metadata.sorted_tables) if t.name != "schema_version"
)


@dataclass
class PgTarget:
    url: str
    schema: str
    extra_schemas: list[str] = field(default_factory=list)

    def connect_args(self, schema: str | None = None, **settings: str) -> dict[str, Any]:
        return {"server_settings": {"search_path": schema or self.schema, **settings}}


@dataclass
class Db:
    """One initialised database for a test: its engine and session factory."""

    backend: str
    url: str
    connect_args: dict[str, Any]
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


@dataclass
class EmptyDb:
    """A database with no tables yet: its URL and the driver arguments to reach it."""

    backend: str
    url: str
    connect_args: dict[str, Any]


def require_postgres(target: PgTarget | str) -> PgTarget:
    if isinstance(target, PgTarget):
        return target
    if in_ci():
        pytest.fail(f"PostgreSQL is required when CI is set: {target}")
    pytest.skip(target)


async def _execute(url: str, *statements: str, connect_args: dict[str, Any] | None = None) -> None:
    engine = make_engine(url, connect_args={"timeout": 5, **(connect_args or {})})
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest_asyncio.fixture(scope="session")
async def postgres() -> AsyncIterator[PgTarget | str]:
    """The session's PostgreSQL schema, or why there is none."""
    url = os.environ.get("HLSD_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    schema = f"hlsd_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        await _execute(url, f'CREATE SCHEMA "{schema}"')
    except Exception as exc:
        yield f"PostgreSQL at {url} is not reachable ({type(exc).__name__}: {exc})"
        return
    target = PgTarget(url, schema)
    try:
        yield target
    finally:
        drops = [f'DROP SCHEMA IF EXISTS "{s}" CASCADE' for s in [*target.extra_schemas, schema]]
        await _execute(url, *drops)


@pytest_asyncio.fixture(params=BACKENDS)
async def db(
    request: pytest.FixtureRequest, tmp_path: Path, postgres: PgTarget | str
) -> AsyncIterator[Db]:
    """An initialised, empty database on each backend."""
    if request.param == "sqlite":
        url, connect_args = f"sqlite+aiosqlite:///{tmp_path / 'hlsd.db'}", {}
    else:
        target = require_postgres(postgres)
        url, connect_args = target.url, target.connect_args()
    engine = make_engine(url, connect_args=connect_args)
    try:
        await init_schema(engine)
        if request.param == "postgres":  # the schema lives for the session: empty it
            async with engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {DATA_TABLES}"))
        yield Db(request.param, url, connect_args, engine, session_factory(engine))
    finally:
        await engine.dispose()


@pytest_asyncio.fixture(params=BACKENDS)
async def empty_db(
    request: pytest.FixtureRequest, tmp_path: Path, postgres: PgTarget | str
) -> EmptyDb:
    """A database with no tables: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        return EmptyDb("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'hlsd.db'}", {})
    target = require_postgres(postgres)
    schema = f"{target.schema}_{uuid.uuid4().hex[:6]}"
    target.extra_schemas.append(schema)
    await _execute(target.url, f'CREATE SCHEMA "{schema}"')
    return EmptyDb("postgres", target.url, target.connect_args(schema))
