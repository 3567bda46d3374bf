"""`ChangeSignal`: how readers of a rendition wait for its next change (a part, a
segment, its end) without polling.

Every waiter of a rendition awaits the same future; a change resolves it and the next
waiter makes a new one, so a part that lands releases every player blocked on the
playlist (or on the hinted part) at once, however many there are. A waiter that gives
up never cancels the shared future (it waits through `asyncio.wait`, which leaves it
alone).

The hub lives on the event loop, and producers write to it from there; a change made
from another thread is handed to the future's loop.
"""

from __future__ import annotations

import asyncio

__all__ = ["ChangeSignal"]


class ChangeSignal:
    __slots__ = ("_future", "releases", "version", "waiting")

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None
        self.version = 0
        """How many changes there have been."""
        self.waiting = 0
        """Waiters parked now (for the per-stream bound and the tests)."""
        self.releases = 0
        """How many times parked waiters were released (together)."""

    def changed(self) -> None:
        self.version += 1
        future, self._future = self._future, None
        if future is None or future.done():
            return
        self.releases += 1
        loop = future.get_loop()
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            future.set_result(None)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(_release, future)

    async def wait(self, timeout: float) -> bool:
        """Until the next change (True) or `timeout` seconds (False)."""
        loop = asyncio.get_running_loop()
        future = self._future
        if future is None or future.done() or future.get_loop() is not loop:
            future = self._future = loop.create_future()
        self.waiting += 1
        try:
            done, _ = await asyncio.wait((future,), timeout=max(0.0, timeout))
        finally:
            self.waiting -= 1
        return bool(done)


def _release(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
