"""A recorder on a real hub, a real SQLite database and a real local object store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hlsd.db.engine import init_schema, make_engine, session_factory
from hlsd.db.repo import Sessions
from hlsd.metrics import Metrics
from hlsd.recording import Recorder
from hlsd.storage import LocalStore, StorageError
from hlsd.streams import Producer, PublisherKind, PublishPolicy, StreamHub
from tests._support.clock import FakeClock

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


class FlakyStore(LocalStore):
    """A local store whose next `failures` puts fail, as a network store's can, and whose
    puts wait while `gate` is closed, as a slow one's do."""

    failures = 0
    puts = 0
    gate: asyncio.Event | None = None

    async def put(self, key: str, data: bytes, *, content_type: str = "") -> None:
        self.puts += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise StorageError("the store is down")
        await super().put(key, data)


@dataclass
class Rig:
    hub: StreamHub
    recorder: Recorder
    store: FlakyStore
    sessions: Sessions
    metrics: Metrics
    clock: FakeClock
    commits: list[Callable[[str], None]]
    """Told of each committed segment's recording id (what the replay catalog hears)."""

    def publish(self, name: str = "cam", publisher: str = "ffmpeg") -> Producer:
        producer = self.hub.producer(name, publisher, kind=PublisherKind.HTTP)
        producer.publish()
        return producer

    def push(self, producer: Producer, count: int, *, variant: str = "") -> None:
        """`count` one-second TS segments, each aired when committed."""
        for _ in range(count):
            producer.append(variant, duration=1.0, data=b"\x47" * 1000,
                            program_date_time=self.clock.wall())
            self.clock.advance(1.0)


async def make_rig(tmp_path: Path, *, queue_segments: int = 64,
                   reach_back: float = 30.0) -> AsyncIterator[Rig]:
    clock = FakeClock(0.0, epoch=T0)
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'rec.db'}")
    await init_schema(engine)
    sessions = session_factory(engine)
    metrics = Metrics()
    hub = StreamHub(window=3, policy=PublishPolicy.TAKEOVER, idle_timeout=10, retention=60,
                    max_streams=10, clock=clock, keep_for=reach_back,
                    on_drop=metrics.reader_dropped)
    store = FlakyStore(tmp_path / "objects")
    commits: list[Callable[[str], None]] = []

    def committed(recording_id: str) -> None:
        for told in commits:
            told(recording_id)

    recorder = Recorder(hub=hub, sessions=sessions, store=store, metrics=metrics,
                        reach_back=reach_back, queue_segments=queue_segments,
                        store_attempts=3, now=clock.wall,
                        on_commit=committed)
    await recorder.open()
    try:
        yield Rig(hub=hub, recorder=recorder, store=store, sessions=sessions, metrics=metrics,
                  clock=clock, commits=commits)
    finally:
        await recorder.close()
        await engine.dispose()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async for made in make_rig(tmp_path):
        yield made
