"""A bounded pipe of bytes from an asyncio task to a blocking reader thread.

A continuous ingest receives a publisher's bytes on the event loop and a demuxer (PyAV,
in a worker thread) reads them as a file. The pipe holds at most `capacity` unread
bytes: a writer waits while the reader is that far behind, so the transport stops
reading its socket and the publisher feels the backpressure instead of the server's
memory growing. Either side can end it: the writer with `close` (the reader gets what
is left, then ``b""``), the reader with `abort` (the writer's next or pending `write`
raises `PipeClosed` with the reader's reason).

Waking the other side costs more than moving the bytes (a thread switch, the GIL, the
event loop's self-pipe), so wake-ups are batched both ways: a reader waiting on an
empty pipe is woken once `batch` bytes are there, or `linger` seconds after the first
one came (an SRT packet is 1316 bytes: waking for each would be most of the CPU); a
writer waiting for room is woken once half the capacity is free.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque

__all__ = ["BytePipe", "PipeClosed"]


class PipeClosed(Exception):
    """The pipe takes no more bytes: its reader gave up (the reason is the message), or
    its writer already closed it."""


class BytePipe:
    """`write` and `close` belong to one asyncio writer; `read` (a file-like `read` PyAV
    can use), `abort` and the rest to the reader thread."""

    def __init__(self, capacity: int, *, batch: int = 32 * 1024,
                 linger: float = 0.01) -> None:
        if capacity <= 0:
            raise ValueError("a pipe's capacity is a positive number of bytes")
        self._capacity = capacity
        self._batch = min(batch, capacity)
        self._linger = linger
        self._chunks: deque[bytes] = deque()
        self._unread = 0
        self._eof = False
        self._aborted: str | None = None
        self._lock = threading.Lock()
        self._readable = threading.Condition(self._lock)
        self._reader_waiting = False
        self._timer: asyncio.TimerHandle | None = None  # the reader's wake-up on linger
        # The writer waiting for room: its loop, its future and the room it needs.
        self._room: tuple[asyncio.AbstractEventLoop, asyncio.Future[None], int] | None = None

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def unread(self) -> int:
        """Bytes written and not yet read."""
        return self._unread

    async def write(self, data: bytes) -> None:
        """Append `data`, waiting while it would take the unread bytes past `capacity`
        (a write bigger than that goes in pieces). `PipeClosed` once the reader aborted,
        or after `close`."""
        if type(data) is bytes and len(data) <= self._capacity:
            with self._lock:  # most writes: room at once, nothing awaited
                if (self._aborted is None and not self._eof
                        and self._unread + len(data) <= self._capacity):
                    self._chunks.append(data)
                    self._unread += len(data)
                    if self._reader_waiting:
                        self._wake_reader_soon()
                    return
        view = memoryview(data)
        while view:
            piece = view[: self._capacity]
            await self._wait_for_room(len(piece))
            with self._lock:
                if self._aborted is not None:
                    raise PipeClosed(self._aborted)
                whole = len(piece) == len(data) and type(data) is bytes
                self._chunks.append(data if whole else bytes(piece))
                self._unread += len(piece)
                if self._reader_waiting:
                    self._wake_reader_soon()
            view = view[len(piece):]

    def _wake_reader_soon(self) -> None:
        """Called holding the lock, the reader waiting: now if a batch is there, else
        when the linger is over."""
        if self._unread >= self._batch:
            self._readable.notify()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._linger, self._lingered)

    def _lingered(self) -> None:
        with self._lock:
            self._timer = None
            self._readable.notify()

    async def _wait_for_room(self, size: int) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._aborted is not None:
                    raise PipeClosed(self._aborted)
                if self._eof:
                    raise PipeClosed("the pipe was closed by its writer")
                if self._unread + size <= self._capacity:
                    return
                future: asyncio.Future[None] = loop.create_future()
                self._room = (loop, future, size)
            try:
                await future
            finally:
                with self._lock:
                    if self._room is not None and self._room[1] is future:
                        self._room = None

    def close(self) -> None:
        """The writer's end of stream: the reader gets the rest, then ``b""``.
        Idempotent."""
        with self._lock:
            self._eof = True
            self._readable.notify_all()

    def read(self, n: int = -1) -> bytes:
        """At most `n` bytes (all that is buffered for a negative `n`), blocking until
        some are there; ``b""`` at the end of the stream or once aborted."""
        with self._lock:
            while not self._chunks and not self._eof and self._aborted is None:
                self._reader_waiting = True
                try:
                    self._readable.wait()
                finally:
                    self._reader_waiting = False
            if self._aborted is not None or not self._chunks:
                return b""
            data = self._take(n)
            self._unread -= len(data)
            self._wake_writer(everything=False)
            return data

    def _take(self, n: int) -> bytes:
        chunks = self._chunks
        if n < 0 or n >= self._unread:
            data = b"".join(chunks)
            chunks.clear()
            return data
        first = chunks[0]
        if len(first) >= n:
            if len(first) == n:
                return chunks.popleft()
            chunks[0] = first[n:]
            return first[:n]
        parts: list[bytes] = []
        wanted = n
        while wanted and chunks:
            head = chunks.popleft()
            if len(head) > wanted:
                chunks.appendleft(head[wanted:])
                head = head[:wanted]
            parts.append(head)
            wanted -= len(head)
        return b"".join(parts)

    def _wake_writer(self, *, everything: bool) -> None:
        """Called holding the lock: let a waiting writer look again once half the pipe
        (and the room it needs) is free, or at once (`everything`: it ended)."""
        if self._room is None:
            return
        loop, future, size = self._room
        if not everything and self._unread > min(self._capacity - size, self._capacity // 2):
            return
        self._room = None
        # A closed loop (RuntimeError) means nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve, future)

    def abort(self, reason: str) -> None:
        """The reader gives up: buffered bytes are dropped and writers get
        `PipeClosed(reason)`. Idempotent (the first reason stays)."""
        with self._lock:
            if self._aborted is None:
                self._aborted = reason
            self._chunks.clear()
            self._unread = 0
            self._readable.notify_all()
            self._wake_writer(everything=True)

    @property
    def closed(self) -> bool:
        """The reader aborted, or the writer closed and everything was read."""
        with self._lock:
            return self._aborted is not None or (self._eof and not self._chunks)

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        """False: PyAV must not take `write` (the asyncio side) for a file write."""
        return False

    def seekable(self) -> bool:
        """False: a live stream goes one way, so PyAV opens it unseekable."""
        return False


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
