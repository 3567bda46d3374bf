"""A consumer of one stream's segments as they are committed (a websocket spectator, a
relay to another node): a bounded queue that never blocks the publisher.

A reader that falls behind by a whole queue is handled by its `SlowReaderPolicy`:
`SKIP` drops what it has not sent yet and carries on from the newest segment (skip to
live), `DISCONNECT` marks it for closing. Either way the publisher and the other readers
go on as before, and the reader counts what it lost.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable

from hlsd.streams.segment import Segment


class SlowReaderPolicy(enum.StrEnum):
    SKIP = "skip"
    """Drop the queued segments and go on from the newest (the spectator jumps to live)."""
    DISCONNECT = "disconnect"
    """Close the spectator's connection; it may reconnect."""


class ReaderClosed(Exception):
    """The reader overflowed under the DISCONNECT policy, or its stream was closed."""


_END = None
"""Queued when the stream ends: the reader's `next` raises `ReaderClosed` after the rest."""


class SegmentReader:
    def __init__(self, *, variant: str, max_queue: int, policy: SlowReaderPolicy,
                 on_skip: Callable[[int], None] = lambda count: None) -> None:
        self.variant = variant
        self.policy = policy
        self._on_skip = on_skip
        self.skipped = 0
        """Segments dropped to catch up (SKIP)."""
        self.overflowed = False
        """Set once the reader fell a whole queue behind under DISCONNECT."""
        self._queue: asyncio.Queue[Segment | None] = asyncio.Queue(maxsize=max_queue)

    def offer(self, segment: Segment) -> None:
        """Called on the event loop by the stream for each segment of `variant`."""
        if self.overflowed:
            return
        try:
            self._queue.put_nowait(segment)
        except asyncio.QueueFull:
            if self.policy is SlowReaderPolicy.DISCONNECT:
                self.overflowed = True
                self._clear()
                self._queue.put_nowait(_END)
                return
            dropped = self._clear()
            self.skipped += dropped
            self._on_skip(dropped)
            self._queue.put_nowait(segment)

    def close(self) -> None:
        """No more segments will come (the stream ended, or the reader is leaving)."""
        try:
            self._queue.put_nowait(_END)
        except asyncio.QueueFull:
            self._clear()
            self._queue.put_nowait(_END)

    async def next(self) -> Segment:
        segment = await self._queue.get()
        if segment is _END:
            raise ReaderClosed("the reader fell too far behind" if self.overflowed
                               else "the stream ended")
        return segment

    def _clear(self) -> int:
        dropped = 0
        while not self._queue.empty():
            self._queue.get_nowait()
            dropped += 1
        return dropped
