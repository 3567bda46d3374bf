"""`LiveMixSources` on real databases (SQLite, PostgreSQL): the CRUD of LiveMix's sources,
and the stated staleness of the playback path's lookups, with two services on one
database standing for two nodes (or two processes of one node)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hlsd.errors import Conflict, Malformed, NotFound
from hlsd.ingest.livemix_sources import LiveMixSources
from tests._support.clock import FakeClock
from tests.db import conftest as databases
from tests.db.conftest import Db

database = databases.db  # SQLite and PostgreSQL, as tests/db has them
postgres = databases.postgres  # which `database` needs


class CountingSessions:
    """The database's sessions, counting how many are opened (one per repository call)."""

    def __init__(self, sessions: Any) -> None:
        self._sessions = sessions
        self.opened = 0

    def __call__(self) -> Any:
        self.opened += 1
        return self._sessions()

    def begin(self) -> Any:
        self.opened += 1
        return self._sessions.begin()


class HeldReads:
    """The database's sessions; while `hold` is set, a read that has been made is held
    (its answer not yet returned) until `release`."""

    def __init__(self, sessions: Any) -> None:
        self._sessions = sessions
        self.hold = False
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    def __call__(self) -> Any:
        return self._held(self._sessions()) if self.hold else self._sessions()

    @contextlib.asynccontextmanager
    async def _held(self, session: Any) -> AsyncIterator[Any]:
        async with session as opened:
            yield opened
        self.held.set()
        await self.release.wait()

    def begin(self) -> Any:
        return self._sessions.begin()


async def test_sources_are_made_listed_changed_and_deleted(database: Db) -> None:
    sources = LiveMixSources(database.sessions)
    made = await sources.create(name="cam-1", segment_length=2, description="lobby")
    assert (made.name, made.segment_length, made.description, made.streaming) == (
        "cam-1", 2, "lobby", False)
    assert (await sources.get(made.id)).name == "cam-1"
    assert (await sources.by_name("cam-1")).id == made.id
    assert [s.id for s in await sources.list()] == [made.id]
    with pytest.raises(Conflict):
        await sources.create(name="cam-1", segment_length=1)
    with pytest.raises(Malformed):  # a source's name is a stream id
        await sources.create(name="../cam", segment_length=1)
    assert await sources.streaming_name(made.id) is None
    assert (await sources.set_streaming(made.id, True)).streaming
    assert await sources.streaming_name(made.id) == "cam-1"
    await sources.delete(made.id)
    assert await sources.streaming_name(made.id) is None
    for call in (sources.get(made.id), sources.delete(made.id),
                 sources.set_streaming(made.id, True), sources.by_name("cam-1")):
        with pytest.raises(NotFound):
            await call


async def test_a_change_made_elsewhere_is_seen_within_the_ttl(database: Db) -> None:
    clock = FakeClock()
    here = LiveMixSources(database.sessions, ttl=2.0, clock=clock)
    there = LiveMixSources(database.sessions, ttl=2.0, clock=clock)  # another node
    source = await there.create(name="cam", segment_length=1)
    assert await here.streaming_name(source.id) is None  # not streaming, and remembered
    await there.set_streaming(source.id, True)
    assert await there.streaming_name(source.id) == "cam"  # its own change: at once
    clock.advance(1.9)
    assert await here.streaming_name(source.id) is None  # an answer under 2 s old
    clock.advance(0.2)
    assert await here.streaming_name(source.id) == "cam"  # asked again
    await there.delete(source.id)
    assert await here.streaming_name(source.id) == "cam"
    clock.advance(2.1)
    assert await here.streaming_name(source.id) is None  # gone, seen within the TTL


async def test_lookups_are_remembered_and_bounded(database: Db) -> None:
    clock = FakeClock()
    counted = CountingSessions(database.sessions)
    sources = LiveMixSources(counted, ttl=2.0, max_names=2, clock=clock)  # type: ignore[arg-type]
    source = await sources.create(name="cam", segment_length=1)
    await sources.set_streaming(source.id, True)
    opened = counted.opened
    for _ in range(5):
        assert await sources.streaming_name(source.id) == "cam"
    assert counted.opened == opened  # the write told it: no query at all
    for _ in range(5):  # an unknown id: asked once per TTL, not once per request
        assert await sources.streaming_name("no-such-source") is None
    assert counted.opened == opened + 1
    assert await sources.streaming_name("x" * 37) is None  # longer than any id: not asked
    assert counted.opened == opened + 1
    await sources.streaming_name("another-unknown")
    await sources.streaming_name("and-another")
    assert len(sources.names) == 2 and sources.names.evictions == 2
    clock.advance(2.1)
    assert await sources.streaming_name(source.id) == "cam"  # evicted or expired: asked
    assert counted.opened == opened + 4


async def test_a_lookup_older_than_a_change_made_here_does_not_hide_it(database: Db) -> None:
    held = HeldReads(database.sessions)
    sources = LiveMixSources(held)  # type: ignore[arg-type]
    source = await LiveMixSources(database.sessions).create(name="cam", segment_length=1)
    held.hold = True
    lookup = asyncio.create_task(sources.streaming_name(source.id))
    await held.held.wait()  # it has read "not streaming"
    held.hold = False
    await sources.set_streaming(source.id, True)
    held.release.set()
    assert await lookup is None  # the answer of its moment...
    assert await sources.streaming_name(source.id) == "cam"  # ...not kept over the change
