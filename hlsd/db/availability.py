"""Whether the database can be used: a probe, the errors that mean it is out of reach,
its address for logs (no credentials), and sessions refused at once while it is down.

A driver reports a refused or unresolvable connection as a bare `OSError`, which could
come from anywhere; `watch_connects` gives such failures a type of their own
(`DatabaseUnreachable`) where they happen, when the pool opens a connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event, exc, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

__all__ = ["DatabaseUnreachable", "GuardedSessions", "describe", "is_outage", "probe",
           "watch_connects"]


class DatabaseUnreachable(ConnectionError):
    """A connection to the database could not be opened."""


def describe(url: str) -> str:
    """`url` as it may be logged: driver, host, port and database, no user or password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite:///{parsed.database or ''}"
    host = parsed.host or "localhost"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.get_backend_name()}://{host}{port}/{parsed.database or ''}"


def watch_connects(engine: AsyncEngine) -> None:
    """Failures to open a connection raise `DatabaseUnreachable` from then on."""
    where = describe(engine.url.render_as_string())

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Dialect, _record: ConnectionPoolEntry, cargs: Any,
                 cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except (OSError, TimeoutError) as error:
            raise DatabaseUnreachable(f"{where}: {error or type(error).__name__}"
                                      ) from error


def is_outage(error: BaseException) -> bool:
    """Whether `error` means the database is out of reach (not a bad query)."""
    if isinstance(error, DatabaseUnreachable | exc.OperationalError | exc.InterfaceError
                  | exc.TimeoutError):
        return True
    return isinstance(error, exc.DBAPIError) and error.connection_invalidated


async def probe(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


class GuardedSessions(async_sessionmaker[AsyncSession]):
    """Sessions that are refused (`gate` raises) while the database is down, so a
    request fails at once instead of waiting on a connection that cannot open."""

    def __init__(self, engine: AsyncEngine, *, gate: Callable[[], None], **kw: Any) -> None:
        super().__init__(engine, **kw)
        self._gate = gate

    def __call__(self, **local_kw: Any) -> AsyncSession:
        self._gate()
        return super().__call__(**local_kw)
