"""The one way anything consumes the hub: a bounded reader that never blocks its producer.

A `Reader` is a queue of at most `capacity` items with one consumer task. The producer
side (`offer`) is synchronous and O(1): it runs on the event loop inside the producer's
own call (a segment being committed, a stream starting), so a consumer that is slow,
stalled or gone can never hold a publisher up. What does not fit is dropped, counted on
the reader (`dropped`) and in ``/metrics`` by consumer kind
(``hlsd_reader_dropped_total{consumer}``), as its `Overflow` policy says:

- `DROP`: keep what is queued, drop what comes (a recording keeps the order of what it
  has, and the next item of the same key says how many were lost before it, so the
  recording marks a discontinuity there);
- `SKIP`: drop what is queued and carry on from the newest (a websocket spectator jumps
  to live);
- `DISCONNECT`: close the reader (a spectator that may reconnect).

The same type carries two kinds of item (`hlsd.streams.events`): the segments of one
stream (`Committed`: websocket spectators, relays pulling from this node, recordings)
and the hub's events (`HubEvent`: the registry announcer, the auto-recorder, the
recorder's watch for streams it records). Like MediaMTX's ring-buffer readers, there is
no callback into consumer code on the producer's path: consumers run in their own tasks.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class ConsumerKind(enum.StrEnum):
    """Who reads: the label of the drop counter in ``/metrics``."""

    SPECTATOR = "spectator"
    """A websocket PULL."""
    RELAY = "relay"
    """A websocket PULL from another hlsd node's relay (it names the nodes it came via)."""
    RECORDER = "recorder"
    """A recording's segments, and the recorder's watch for the streams it records."""
    AUTO_RECORDER = "auto_recorder"
    ANNOUNCER = "announcer"
    EDGE = "edge"
    """An edge's segment cache, which the link to its control reads."""


class Overflow(enum.StrEnum):
    """What a full reader does with one more item."""

    DROP = "drop"
    """Keep what is queued and drop the newcomer; the next item of its key carries the
    count of those lost before it."""
    SKIP = "skip"
    """Drop what is queued and keep the newcomer (skip to live)."""
    DISCONNECT = "disconnect"
    """Drop everything and close the reader (`overflowed`)."""


class SlowReaderPolicy(enum.StrEnum):
    """What `websocket.slow_spectators` may choose for a spectator a whole queue behind."""

    SKIP = "skip"
    """Drop the queued segments and go on from the newest (the spectator jumps to live)."""
    DISCONNECT = "disconnect"
    """Close the spectator's connection; it may reconnect."""

    @property
    def overflow(self) -> Overflow:
        return Overflow(self.value)


class ReaderClosed(Exception):
    """The reader was closed (its stream ended, or it overflowed under DISCONNECT) and
    everything queued before has been read."""


def _one_key(item: object) -> Hashable:
    return None


def _uncounted(kind: ConsumerKind, count: int) -> None:
    return None


class Reader(Generic[T]):
    """One consumer's bounded queue. `offer` is for the producer side (never blocks),
    `next`/`next_with_loss` for the one consumer task."""

    def __init__(self, *, kind: ConsumerKind, capacity: int, overflow: Overflow,
                 key: Callable[[T], Hashable] = _one_key,
                 on_drop: Callable[[ConsumerKind, int], None] = _uncounted) -> None:
        """`key`: what losses are told apart by (a segment's variant): an item carries
        the count of items of its own key dropped just before it. `on_drop`: told of
        every drop (the ``/metrics`` counter)."""
        if capacity < 1:
            raise ValueError("a reader holds at least one item")
        self.kind = kind
        self.capacity = capacity
        self.overflow = overflow
        self.dropped = 0
        """Items dropped so far."""
        self.overflowed = False
        """Set once the reader fell a whole queue behind under DISCONNECT."""
        self.closed = False
        self._key = key
        self._on_drop = on_drop
        self._items: deque[tuple[T, int]] = deque()
        self._losses: dict[Hashable, int] = {}
        self._waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def offer(self, item: T) -> bool:
        """Queue `item`, or drop it (or what is queued) by the overflow policy; False if
        `item` itself was not queued. Synchronous: call it on the event loop."""
        if self.closed:
            return False
        if len(self._items) >= self.capacity:
            if self.overflow is Overflow.DROP:
                key = self._key(item)
                self._losses[key] = self._losses.get(key, 0) + 1
                self._count(1)
                return False
            if self.overflow is Overflow.DISCONNECT:
                self._count(len(self._items) + 1)
                self._items.clear()
                self.overflowed = True
                self.close()
                return False
            for queued, lost in self._items:  # SKIP
                key = self._key(queued)
                self._losses[key] = self._losses.get(key, 0) + lost + 1
            self._count(len(self._items))
            self._items.clear()
        self._items.append((item, self._losses.pop(self._key(item), 0) if self._losses else 0))
        self._wake()
        return True

    def close(self) -> None:
        """No more items will come: `next` raises `ReaderClosed` once the queue is read
        (nothing queued is dropped)."""
        self.closed = True
        self._wake()

    async def next(self) -> T:
        """The next item, waiting for one; `ReaderClosed` once closed and read out."""
        item, _ = await self.next_with_loss()
        return item

    async def next_with_loss(self) -> tuple[T, int]:
        """The next item, and how many items of its key were dropped just before it."""
        while not self._items:
            if self.closed:
                raise ReaderClosed("the reader fell too far behind" if self.overflowed
                                   else "the stream ended")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _count(self, dropped: int) -> None:
        if dropped:
            self.dropped += dropped
            self._on_drop(self.kind, dropped)
