"""The backends this node watches (`infra.backends`): the database and its start-up
(schema, then the recoveries that read it), the object store, and Redis where one is
configured. Built by `app.py`; nothing else here."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from hlsd.db import availability as db
from hlsd.db.engine import init_schema
from hlsd.infra.backends import Backend, Backends, BackendState, address_of
from hlsd.metrics import Metrics
from hlsd.storage import ObjectStore, StoreUnreachable

__all__ = ["DATABASE", "gauge", "watch_database", "watch_redis", "watch_store"]

DATABASE = "database"
_REDIS_DOWN = (RedisConnectionError, RedisTimeout)


def gauge(metrics: Metrics) -> Callable[[Backend], None]:
    """Keeps ``hlsd_backend_up`` true to each backend's state."""
    def changed(backend: Backend) -> None:
        metrics.backend_up.labels(backend.name).set(
            1 if backend.state is BackendState.UP else 0)
    return changed


def watch_database(backends: Backends, engine: AsyncEngine, url: str,
                   recover: Sequence[Callable[[], Awaitable[object]]]) -> None:
    """The database: its schema made before anything may use it, then `recover`."""
    db.watch_connects(engine)
    backends.add(Backend(name=DATABASE, address=db.describe(url),
                         probe=functools.partial(db.probe, engine),
                         prepare=functools.partial(init_schema, engine), recover=recover,
                         is_outage=db.is_outage))


def watch_store(backends: Backends, store: ObjectStore) -> None:
    backends.add(Backend(name="object store", address=store.address, probe=store.probe,
                         is_outage=lambda exc: isinstance(exc, StoreUnreachable)))


def watch_redis(backends: Backends, name: str, url: str,
                ping: Callable[[], Awaitable[None]]) -> None:
    backends.add(Backend(name=name, address=address_of(url), probe=ping,
                         is_outage=lambda exc: isinstance(exc, _REDIS_DOWN)))
