"""`ChangeSignal`: how readers of a rendition wait for its next change (a part, a
segment, its end) without polling.

A change releases every waiter parked on the rendition (players blocked on the playlist
or on the hinted part) in one pass, however many there are. Thousands park on one
stream, so a wait costs as little as it can: one future of its own (a player that hangs
up cancels only that), appended to a list; no timer of its own either: waiters whose
deadlines fall in the same `TIMER_STEP` share one, and are told they timed out
together.

The hub lives on the event loop, and producers write to it from there; a change made
from another thread is handed to the waiters' loop.
"""

from __future__ import annotations

import asyncio
import math

__all__ = ["TIMER_STEP", "ChangeSignal"]

TIMER_STEP = 0.05
"""Seconds of deadlines that share one timer (a waiter may wait this much longer)."""


class ChangeSignal:
    __slots__ = ("_timers", "_waiters", "releases", "version", "waiting")

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[bool]] = []
        self._timers: dict[int, tuple[asyncio.TimerHandle, list[asyncio.Future[bool]]]] = {}
        self.version = 0
        """How many changes there have been."""
        self.waiting = 0
        """Waiters parked now (for the per-stream bound and the tests)."""
        self.releases = 0
        """How many times parked waiters were released (together)."""

    def changed(self) -> None:
        self.version += 1
        waiters, self._waiters = self._waiters, []
        for handle, _ in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if not waiters:
            return
        self.releases += 1
        loop = waiters[0].get_loop()
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            _resolve(waiters, True)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(_resolve, waiters, True)

    async def wait(self, timeout: float) -> bool:
        """Until the next change (True) or about `timeout` seconds (False)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(future)
        step = math.ceil((loop.time() + max(0.0, timeout)) / TIMER_STEP)
        timer = self._timers.get(step)
        if timer is None:
            timer = self._timers[step] = (
                loop.call_at(step * TIMER_STEP, self._expire, step), [])
        timer[1].append(future)
        self.waiting += 1
        try:
            return await future
        finally:
            self.waiting -= 1

    def _expire(self, step: int) -> None:
        _, futures = self._timers.pop(step)
        _resolve(futures, False)
        # What is done (timed out, or given up by its player) leaves the list now, not
        # at the next change: a stream that stalls must not gather waiters.
        self._waiters = [future for future in self._waiters if not future.done()]


def _resolve(futures: list[asyncio.Future[bool]], changed: bool) -> None:
    for future in futures:
        if not future.done():
            future.set_result(changed)
