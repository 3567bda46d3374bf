"""An upstream body read by byte range, on demand, kept block by block on disk.

A `RangedSource` is what the media functions read instead of a downloaded file when the
upstream honours ``Range``: probing and indexing read the container's header and
sample table, a segment reads its own bytes, and nothing else is fetched. Fetched
blocks (``block_size`` bytes each) are written into a sparse file in the source cache,
which counts the file's whole size from the start, so the cache's bounds hold however
much of it is filled. Once every block is there the file is simply the source.

Reads come from worker threads (PyAV's I/O callbacks), so the source is thread-safe: a
block is fetched once, and readers that need a block in flight wait for it. A reader
waits only for the blocks it reads: once it has read a whole block's worth in order,
the next ``read_ahead`` blocks are fetched in the background (`ReadAhead` bounds how
many such fetches run at once, for all sources), so a segment being built, or the next
one, finds them there. Every request has the client's connect and read timeouts and a
deadline, and carries ``If-Range``, so an upstream body that changed is noticed, never
mixed in.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

import httpx

from hlsd.infra.download import Head, parse_content_range, range_validator
from hlsd.vod.errors import UpstreamFailed, UpstreamTimeout

log = logging.getLogger(__name__)


class ReadAhead:
    """Background block fetches: at most `threads` at a time; one that finds them all
    busy is skipped (its blocks are fetched when read)."""

    def __init__(self, threads: int = 4) -> None:
        self._slots = threading.BoundedSemaphore(threads)

    def start(self, work: Callable[[], None]) -> bool:
        if not self._slots.acquire(blocking=False):
            return False
        threading.Thread(target=self._run, args=(work,), daemon=True,
                         name="hlsd-read-ahead").start()
        return True

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        except Exception as exc:  # a reader fetches what is still missing, and says why
            log.debug("read-ahead failed: %s", exc)
        finally:
            self._slots.release()


class RangedSource:
    """Implements `hlsd.media.MediaSource` (and `exists`, as a cached `Path` has)."""

    def __init__(self, *, client: httpx.Client, head: Head, path: Path, block_size: int,
                 read_ahead: int, deadline: float, background: ReadAhead) -> None:
        if block_size <= 0:
            raise ValueError("block_size must be positive")
        self.url = head.url
        self.size = head.size
        self.block_size = block_size
        self._client = client
        self._validator = head.validator
        self._read_ahead = read_ahead
        self._background = background
        self._deadline = deadline
        self._path = path
        self._fd = os.open(path, os.O_RDWR)
        weakref.finalize(self, os.close, self._fd)  # readers may outlive every other user
        self._lock = threading.Lock()
        self._blocks = -(-self.size // block_size)
        self._present = bytearray(self._blocks)
        self._missing = self._blocks
        self._pending: dict[int, threading.Event] = {}
        self._broken: str | None = None  # why it can no longer be read
        whole = self.size if len(head.data) >= self.size else (
            len(head.data) // block_size * block_size)
        self._write(0, memoryview(head.data)[:whole])
        self._mark(0, whole)

    # -- what the media functions and the source store see -----------------------

    @property
    def path(self) -> Path:
        return self._path

    @property
    def complete(self) -> bool:
        return self._missing == 0

    def exists(self) -> bool:
        """Still usable: its file is still in the cache, and the upstream still serves
        the same body."""
        return self._broken is None and self._path.exists()

    def moved(self, path: Path) -> None:
        """Its file now lives at `path` (complete, it became an ordinary cached file).
        Readers are not disturbed: they read through the open file, not its name."""
        self._path = path

    def open(self) -> BinaryIO:
        return cast(BinaryIO, _Reader(self))

    def read_at(self, offset: int, n: int, *, ahead: bool = False) -> bytes:
        """Up to `n` bytes at `offset` (fewer only at the end), fetching what is missing;
        with `ahead`, the blocks after them are fetched in the background."""
        n = max(0, min(n, self.size - offset))
        if n == 0:
            return b""
        first, last = offset // self.block_size, (offset + n - 1) // self.block_size
        self._ensure(first, last)
        if ahead:  # after its own blocks, so it never competes with them
            self._prefetch(last + 1, last + self._read_ahead)
        return os.pread(self._fd, n, offset)

    # -- blocks ------------------------------------------------------------------

    def _claim(self, first: int, last: int) -> list[int]:
        """Mark the missing blocks in first..last that no one fetches as fetched by the
        caller (under the lock)."""
        mine = [b for b in range(first, min(last, self._blocks - 1) + 1)
                if not self._present[b] and b not in self._pending]
        for b in mine:
            self._pending[b] = threading.Event()
        return mine

    def _prefetch(self, first: int, last: int) -> None:
        with self._lock:
            if self._broken is not None:
                return
            blocks = self._claim(first, last)
        if not blocks:
            return
        deadline = time.monotonic() + self._deadline
        if not self._background.start(lambda: self._fetch(blocks, deadline)):
            self._release(blocks)

    def _ensure(self, first: int, last: int) -> None:
        deadline = time.monotonic() + self._deadline
        while True:
            with self._lock:
                if self._broken is not None:
                    raise UpstreamFailed(self._broken)
                missing = [b for b in range(first, last + 1) if not self._present[b]]
                if not missing:
                    return
                mine = self._claim(first, last)
                others = [self._pending[b] for b in missing if b not in mine]
            if mine:
                self._fetch(mine, deadline)
            for event in others:
                # Another reader is fetching it: wait, then look again (it may have failed).
                if not event.wait(max(0.0, deadline - time.monotonic())):
                    raise UpstreamTimeout("upstream timed out")

    def _fetch(self, blocks: list[int], deadline: float) -> None:
        """Fetch `blocks` (claimed by this thread), one request per contiguous run."""
        try:
            run = [blocks[0]]
            for b in blocks[1:]:
                if b != run[-1] + 1:
                    self._fetch_run(run[0], run[-1], deadline)
                    run = []
                run.append(b)
            self._fetch_run(run[0], run[-1], deadline)
        finally:
            self._release(blocks)  # those still pending failed: free them for others

    def _release(self, blocks: list[int]) -> None:
        with self._lock:
            for b in blocks:
                event = self._pending.pop(b, None)
                if event is not None:
                    event.set()

    def _fetch_run(self, first: int, last: int, deadline: float) -> None:
        start = first * self.block_size
        end = min((last + 1) * self.block_size, self.size)
        headers = {"range": f"bytes={start}-{end - 1}", "accept-encoding": "identity"}
        if self._validator is not None:
            headers["if-range"] = self._validator
        pos = start
        try:
            with self._client.stream("GET", self.url, headers=headers) as response:
                self._check(response, start, end - 1)
                for chunk in response.iter_raw():
                    if time.monotonic() > deadline:
                        raise UpstreamTimeout("upstream timed out")
                    if pos + len(chunk) > end:
                        raise UpstreamFailed("upstream sent more than the range asked for")
                    self._write(pos, memoryview(chunk))
                    self._mark(pos, pos + len(chunk))  # blocks complete as soon as written
                    pos += len(chunk)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("upstream timed out") from exc
        except httpx.HTTPError as exc:
            raise UpstreamFailed(f"upstream unreachable ({type(exc).__name__})") from exc
        if pos != end:
            raise UpstreamFailed("upstream sent less than the range asked for")

    def _check(self, response: httpx.Response, start: int, end: int) -> None:
        if response.status_code == 206:
            span = parse_content_range(response.headers.get("content-range"))
            same = self._validator is None or range_validator(response.headers) in (
                None, self._validator)
            if span == (start, end, self.size) and same:
                return
        elif response.status_code not in (200, 416):
            raise UpstreamFailed(f"upstream answered {response.status_code}")
        # A whole body (If-Range failed), another size, another validator: it changed.
        self._broken = "upstream media changed while being read"
        raise UpstreamFailed(self._broken)

    def _write(self, offset: int, data: memoryview) -> None:
        written = 0
        while written < len(data):
            written += os.pwrite(self._fd, data[written:], offset + written)

    def _mark(self, start: int, end: int) -> None:
        """Bytes up to `end` are written, from `start` on in this call: the blocks that
        ends are present now."""
        first = start // self.block_size
        stop = self._blocks if end >= self.size else end // self.block_size
        with self._lock:
            for b in range(first, stop):
                if not self._present[b]:
                    self._present[b] = 1
                    self._missing -= 1
                event = self._pending.pop(b, None)
                if event is not None:
                    event.set()

    def present(self) -> list[int]:
        """The blocks fetched so far, in order."""
        with self._lock:
            return [b for b, flag in enumerate(self._present) if flag]


class _Reader(io.RawIOBase):
    """One reader's position in a `RangedSource` (PyAV reads through `read`)."""

    def __init__(self, source: RangedSource) -> None:
        super().__init__()
        self._source = source
        self._pos = 0
        self._next = 0  # where a sequential read would start
        self._streak = 0  # bytes read in order up to there

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._source.size + offset
        else:
            raise ValueError(f"invalid whence: {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def read(self, size: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError("read from a closed reader")
        if size is None or size < 0:
            size = self._source.size - self._pos
        if self._pos != self._next:
            self._streak = 0
        ahead = self._streak >= self._source.block_size
        data = self._source.read_at(self._pos, size, ahead=ahead)
        self._pos += len(data)
        self._next = self._pos
        self._streak += len(data)
        return data

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[:len(data)] = data
        return len(data)
