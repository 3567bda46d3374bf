"""`Feature`: what one capability hands the app. Each feature module has a ``build``
that makes its services (from `Common` and what earlier features made) and returns
them with a `Feature`; `app.py` lists the features in the order they are built."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter

from hlsd.delivery import Mount

__all__ = ["Feature", "Step", "close_all", "start_all", "sweep_forever"]

log = logging.getLogger(__name__)

Step = Callable[[], object]
"""A start or close step: plain, or async (what it returns is awaited)."""


@dataclass(frozen=True, kw_only=True)
class Feature:
    name: str
    routers: Sequence[APIRouter] = ()
    """Its JSON (and other framework) routes."""
    playback: Sequence[Mount] = ()
    """Its playback paths: a prefix and the resolver of what is served under it, answered
    (GET, HEAD) by the one responder before the framework."""
    start: Sequence[Step] = ()
    """Run in order as the app starts, before it serves."""
    tasks: Sequence[Callable[[], Coroutine[Any, Any, None]]] = ()
    """Run for the app's life, cancelled as it stops."""
    sweep: Sequence[Callable[[], object]] = ()
    """Run every second: ends what went quiet (idle streams, unwatched relays)."""
    recover: Sequence[Callable[[], Awaitable[object]]] = ()
    """Run once the database answers (at start, or when it comes back), in order."""
    close: Sequence[Step] = ()
    """Run in order as the app stops; features close in the reverse of their build order,
    so nothing is closed while a later feature still uses it."""


async def _run(step: Step) -> None:
    result = step()
    if inspect.isawaitable(result):
        await result


async def start_all(features: Sequence[Feature]) -> list[asyncio.Task[None]]:
    """Run the start steps, then start the tasks (with the sweeps as one of them)."""
    for feature in features:
        for step in feature.start:
            await _run(step)
    tasks = [asyncio.create_task(task(), name=f"hlsd-{feature.name}")
             for feature in features for task in feature.tasks]
    sweeps = [sweep for feature in features for sweep in feature.sweep]
    if sweeps:
        tasks.append(asyncio.create_task(sweep_forever(sweeps), name="hlsd-sweep"))
    return tasks


async def sweep_forever(sweeps: Sequence[Callable[[], object]]) -> None:
    while True:
        await asyncio.sleep(1.0)
        for sweep in sweeps:
            try:
                sweep()
            except Exception:  # one feature's failure leaves the others' sweeps running
                log.exception("sweep failed: %s", getattr(sweep, "__qualname__", sweep))


async def close_all(features: Sequence[Feature], tasks: Sequence[asyncio.Task[None]]) -> None:
    """Cancel the tasks, then close each feature's services, the last built first."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for feature in reversed(features):
        for step in feature.close:
            try:
                await _run(step)
            except Exception:  # the rest still closes
                log.exception("closing %s failed", feature.name)
