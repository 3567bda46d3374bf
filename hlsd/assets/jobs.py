"""The embedded job queue: processing runs in this process, a bounded number at a time.

It holds asset ids only; what a run does is the `process` callable it is given, and the
asset's state in the database says where it stands, so a restart picks the queue up
again from there (`AssetService.recover`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["LocalJobs", "QueueFull"]

log = logging.getLogger(__name__)


class QueueFull(Exception):
    """More assets are waiting than `assets.max_queued` allows."""


class LocalJobs:
    def __init__(self, *, process: Callable[[str], Coroutine[Any, Any, None]], workers: int,
                 max_queued: int) -> None:
        self._process = process
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

    def start(self) -> None:
        self._loops = [asyncio.create_task(self._loop(), name=f"hlsd-assets-{n}")
                       for n in range(self._workers)]

    def submit(self, asset_id: str) -> None:
        try:
            self._queue.put_nowait(asset_id)
        except asyncio.QueueFull:
            raise QueueFull(f"{self._queue.maxsize} assets are already waiting to be "
                            "processed (assets.max_queued)") from None

    def cancel(self, asset_id: str) -> bool:
        """Stop the run of `asset_id` if one is under way (a queued one is skipped when
        its turn comes: its state no longer says queued)."""
        task = self._running.get(asset_id)
        if task is None:
            return False
        task.cancel()
        return True

    async def _loop(self) -> None:
        while True:
            asset_id = await self._queue.get()
            task = asyncio.create_task(self._process(asset_id), name=f"hlsd-asset-{asset_id}")
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
