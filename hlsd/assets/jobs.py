"""Job queues: `JobQueue`, what `AssetService` asks of one, and `LocalJobs`, the embedded
default, where processing runs in this process, a bounded number at a time
(`queue_redis.RedisJobs` hands jobs to `hlsd worker` processes instead).

A queue holds asset ids only; what a run does is the `process` callable it is given, and
the asset's state in the database says where it stands, so a restart picks the queue up
again from there (`AssetService.recover`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

__all__ = ["JobQueue", "JobsError", "LocalJobs", "QueueFull", "QueueUnavailable"]

log = logging.getLogger(__name__)


class JobsError(Exception):
    """A job could not be queued; ``str(e)`` says why, for the asset's reason."""


class QueueFull(JobsError):
    """More assets are waiting than `assets.max_queued` allows."""


class QueueUnavailable(JobsError):
    """The queue could not be reached (Redis down, say)."""


class JobQueue(Protocol):
    """Where `AssetService` sends assets to be processed, by id."""

    @property
    def running(self) -> tuple[str, ...]:
        """Assets being processed by this process."""
        ...

    @property
    def queued(self) -> int:
        """Assets waiting (as last seen, for a shared queue)."""
        ...

    async def submit(self, asset_id: str) -> None:
        """Queue a run of `asset_id`; `JobsError` if it cannot be."""
        ...

    async def cancel(self, asset_id: str) -> bool:
        """Stop the run of `asset_id`, or drop it from the queue; whether there was one.
        The asset's state has already moved on, which a run notices too."""
        ...

    async def close(self) -> None: ...


Process = Callable[[str], Coroutine[Any, Any, None]]


class LocalJobs:
    """The embedded `JobQueue`: `workers` runs at once in this process, of the `process`
    given to `start` (the processor, made after the service that queues its jobs)."""

    def __init__(self, *, workers: int, max_queued: int) -> None:
        self._workers = workers
        self._queue: asyncio.Queue[str] = asyncio.Queue(max_queued)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._loops: list[asyncio.Task[None]] = []

    @property
    def running(self) -> tuple[str, ...]:
        return tuple(self._running)

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def start(self, process: Process) -> None:
        self._loops = [asyncio.create_task(self._loop(process), name=f"hlsd-assets-{n}")
                       for n in range(self._workers)]

    async def submit(self, asset_id: str) -> None:
        try:
            self._queue.put_nowait(asset_id)
        except asyncio.QueueFull:
            raise QueueFull(f"{self._queue.maxsize} assets are already waiting to be "
                            "processed (assets.max_queued)") from None

    async def cancel(self, asset_id: str) -> bool:
        """Stop the run of `asset_id` if one is under way (a queued one is skipped when
        its turn comes: its state no longer says queued)."""
        task = self._running.get(asset_id)
        if task is None:
            return False
        task.cancel()
        return True

    async def _loop(self, process: Process) -> None:
        while True:
            asset_id = await self._queue.get()
            task = asyncio.create_task(process(asset_id), name=f"hlsd-asset-{asset_id}")
            self._running[asset_id] = task
            try:
                await asyncio.wait({task})
                if not task.cancelled() and task.exception() is not None:
                    log.error("processing asset %s crashed", asset_id,
                              exc_info=task.exception())
            finally:
                self._running.pop(asset_id, None)
                self._queue.task_done()

    async def close(self) -> None:
        for task in (*self._loops, *self._running.values()):
            task.cancel()
        for task in (*self._loops, *self._running.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops.clear()
