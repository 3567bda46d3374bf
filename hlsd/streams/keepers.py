"""Consumers that must keep a committed segment before its publisher is told it was
taken: the edge's disk cache, so that a kill -9 right after the answer loses nothing
the publisher was told of.

Ingest commits synchronously and answers once `StreamHub.settled` says every `Keeper`
has kept the commits made so far. A keeper reads the hub's events like any hub-wide
consumer (bounded, asynchronous) and reports the serial of the last commit it kept.
A hub with no keeper (a node without an edge cache) answers at once.
"""

from __future__ import annotations

import asyncio

__all__ = ["Keeper"]


class Keeper:
    """One consumer's progress: every commit up to serial `kept` is kept."""

    def __init__(self) -> None:
        self.kept = 0
        # One waiter per ingest request in progress, which admission bounds.
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def kept_up_to(self, serial: int) -> None:
        """Commits up to `serial` (`HubEvent.serial`) are kept."""
        if serial <= self.kept:
            return
        self.kept = serial
        waiting = []
        for target, waiter in self._waiters:
            if target > serial:
                waiting.append((target, waiter))
            elif not waiter.done():
                waiter.set_result(None)
        self._waiters = waiting

    async def reached(self, serial: int) -> None:
        """Returns once commits up to `serial` are kept."""
        if serial <= self.kept:
            return
        entry = (serial, asyncio.get_running_loop().create_future())
        self._waiters.append(entry)
        try:
            await entry[1]
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)
