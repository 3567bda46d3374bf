"""Backends watched: down at start without stopping anything, refused at once while
down, retried with backoff, started up once when they answer, logged once per change."""

from __future__ import annotations

import asyncio
import logging

import pytest

from hlsd.infra.backends import (
    Backend,
    Backends,
    BackendState,
    BackendUnavailable,
    address_of,
)
from tests._support.polling import eventually


class Switch:
    """A backend's availability, flipped by the test; counts the probes."""

    def __init__(self, up: bool) -> None:
        self.up = up
        self.probes = 0

    async def probe(self) -> None:
        self.probes += 1
        if not self.up:
            raise ConnectionRefusedError(111, "Connection refused")


def _records(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


async def test_a_backend_down_at_start_is_retried_until_it_answers(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "hlsd.infra.backends")
    db = Switch(up=False)
    started: list[str] = []

    async def schema() -> None:
        started.append("schema")

    async def recover() -> None:
        backends.require("database")  # up by then: recoveries use it as requests do
        started.append("recover")

    backends = Backends([Backend(name="database", address="postgresql://db:5432/hlsd",
                                 probe=db.probe, prepare=schema, recover=[recover])],
                        min_delay=0.01, max_delay=0.05, interval=60)
    await backends.start(wait=5)
    try:
        (down,) = backends.all
        assert down.state is BackendState.DOWN and not backends.ready
        assert "Connection refused" in down.reason
        with pytest.raises(BackendUnavailable, match="the database is unavailable"):
            backends.require("database")
        await eventually(lambda: db.probes >= 5)  # retried, and silently
        assert len(_records(caplog, "is unavailable")) == 1
        assert started == []
        db.up = True
        await eventually(lambda: backends.ready)
        assert started == ["schema", "recover"]
        backends.require("database")
        (line,) = _records(caplog, "is unavailable")
        assert line.startswith("the database at postgresql://db:5432/hlsd is unavailable: "
                               "ConnectionRefusedError")
        assert _records(caplog, "is back") == [
            "the database at postgresql://db:5432/hlsd is back"]
    finally:
        await backends.close()


async def test_an_outage_seen_by_a_request_wakes_the_probe() -> None:
    store = Switch(up=True)
    backends = Backends([Backend(name="object store", address="s3", probe=store.probe,
                                 is_outage=lambda e: isinstance(e, ConnectionError))],
                        min_delay=0.01, max_delay=0.05, interval=3600)
    await backends.start(wait=5)
    try:
        assert backends.ready
        probes = store.probes
        store.up = False
        outage = backends.classify(ConnectionResetError())
        assert isinstance(outage, BackendUnavailable) and outage.backend == "object store"
        await eventually(lambda: not backends.ready)  # not an hour later
        assert store.probes > probes
        assert backends.classify(ValueError("a bad request")) is None
        store.up = True
        await eventually(lambda: backends.ready)
    finally:
        await backends.close()


async def test_a_failed_recovery_step_runs_again_but_not_the_ones_before(
        caplog: pytest.LogCaptureFixture) -> None:
    db = Switch(up=True)
    runs: list[str] = []
    flaky = {"fail": True}

    async def schema() -> None:
        runs.append("schema")

    async def recordings() -> None:
        runs.append("recordings")

    async def assets() -> None:
        runs.append("assets")
        if flaky["fail"]:
            flaky["fail"] = False
            raise RuntimeError("a bug in a recovery")

    backends = Backends([Backend(name="database", address="db", probe=db.probe,
                                 prepare=schema, recover=[recordings, assets])],
                        min_delay=0.01, max_delay=0.02, interval=0.05)
    await backends.start(wait=5)
    try:
        assert backends.ready  # the step's failure is not the database's
        await eventually(lambda: runs.count("assets") == 2)
        assert runs == ["schema", "recordings", "assets", "assets"]
        assert _records(caplog, "is unavailable") == []
        assert len(_records(caplog, "failed; tried again")) == 1
    finally:
        await backends.close()


async def test_requests_wait_for_the_schema() -> None:
    db = Switch(up=True)
    release = asyncio.Event()
    refused: list[BaseException] = []

    async def slow_schema() -> None:
        await release.wait()

    backends = Backends([Backend(name="database", address="db", probe=db.probe,
                                 prepare=slow_schema)], min_delay=0.01, interval=60)
    await backends.start(wait=0.05)
    try:
        (db_backend,) = backends.all
        assert db_backend.state is BackendState.STARTING
        try:
            backends.require("database")  # a request, outside the start-up
        except BackendUnavailable as exc:
            refused.append(exc)
        assert refused and "starting" in str(refused[0])
        release.set()
        await eventually(lambda: backends.ready)
        backends.require("database")
    finally:
        await backends.close()


def test_addresses_lose_their_credentials() -> None:
    assert address_of("redis://:s3cret@cache.internal:6380/2") == "redis://cache.internal:6380/2"
    assert address_of("rediss://user:pw@[::1]:6379/0") == "rediss://[::1]:6379/0"
    assert address_of("redis://localhost") == "redis://localhost"
