"""Downloads a URL into the temp dir: on-demand sources (`vod/sources.py`), asset
imports (`assets/service.py`).

Every fetch has timeouts (per read, and a deadline for the whole body), a size limit
(`infra.bounded`: `TooLarge`) and a status check, the temp-dir budget (`DiskFull`), and
its temp file is removed on every failure. Failures are `DownloadFailed` (and its
`DownloadNotFound`, `DownloadTimedOut`), `FetchRefused` for a guarded client's refusal:
kinds of `hlsd.errors`, no HTTP status; the callers say what each means to theirs.

`fetch_head` asks for the first bytes only (``Range: bytes=0-…``): an upstream that
honours ranges answers 206 and the body can then be read by range (`vod/ranged.py`);
one that does not answers 200, and that same answer is the whole download.

The bytes move in a worker thread with a synchronous httpx client: async httpx spends
about twice the CPU per byte, and the event loop should not write files. A cancelled
caller stops the thread's download at once (its socket is shut down under it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from hlsd import errors
from hlsd.infra.bounded import TooLarge, bounded
from hlsd.infra.disk_budget import DiskBudget, DiskFull
from hlsd.infra.guarded_http import FetchRefused, guarded_client
from hlsd.infra.outbound import FetchPolicy

__all__ = ["DownloadFailed", "DownloadNotFound", "DownloadTimedOut", "Fetched", "Fetcher",
           "Head", "make_client", "parse_content_range", "range_validator"]

T = TypeVar("T")
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+)\s*$", re.IGNORECASE)
_MAX_CONNECTIONS = 32


class DownloadFailed(errors.UpstreamFailed):
    """The server answered an error, could not be reached, or sent something other than
    what it was asked for; str() says which (without the URL: callers add what they may
    show)."""


class DownloadNotFound(errors.NotFound, DownloadFailed):
    """The server answered 404."""


class DownloadTimedOut(errors.UpstreamTimeout, DownloadFailed):
    """No answer, or not the whole body, within the timeouts."""


def make_client(*, connect_timeout: float, read_timeout: float, max_redirects: int,
                policy: FetchPolicy | None = None) -> httpx.Client:
    """The upstream client, shared by the worker threads that move the bytes (whole
    downloads, range reads); httpx documents a Client as safe to share between threads.

    With a `policy`, every connection obeys it (`hlsd.infra.guarded_http`): the client
    for URLs that come from requests. Without, it trusts its URLs (the operator's)."""
    timeout = httpx.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout,
                            pool=connect_timeout)
    limits = httpx.Limits(max_connections=_MAX_CONNECTIONS, max_keepalive_connections=8)
    headers = {"user-agent": "hlsd"}
    if policy is not None:
        return guarded_client(policy, timeout=timeout, max_redirects=max_redirects,
                              limits=limits, headers=headers)
    return httpx.Client(
        timeout=timeout, follow_redirects=max_redirects > 0, max_redirects=max_redirects,
        limits=limits, headers=headers,
    )


@dataclass(frozen=True, slots=True)
class Fetched:
    """A whole download in the temp dir, still counted against the temp budget."""

    path: Path
    size: int


@dataclass(frozen=True, slots=True)
class Head:
    """The first bytes of a body whose upstream honours byte ranges (a 206 answer)."""

    url: str
    size: int  # of the whole body
    data: bytes
    validator: str | None  # strong ETag or Last-Modified, for If-Range


def parse_content_range(value: str | None) -> tuple[int, int, int] | None:
    """``(first, last, total)`` of a ``Content-Range: bytes a-b/n`` header, if valid."""
    match = _CONTENT_RANGE.match(value or "")
    if match is None:
        return None
    first, last, total = (int(g) for g in match.groups())
    return (first, last, total) if first <= last < total else None


def range_validator(headers: httpx.Headers) -> str | None:
    """What an If-Range header may carry: a strong ETag, else Last-Modified."""
    etag: str | None = headers.get("etag")
    if etag and not etag.startswith("W/"):
        return etag
    modified: str | None = headers.get("last-modified")
    return modified


class Fetcher:
    """Downloads a URL into a new file in `temp_dir`, bounded in size and time.

    Each chunk is reserved in `budget` (``cache.killsize.tempdir``) before it is
    written, so a full temp dir stops the download with `DiskFull`. The
    download threads reserve and release under one lock, shared by the fetchers `using`
    makes: they are the budget's only writers.
    """

    def __init__(self, client: httpx.Client, temp_dir: Path, *, deadline: float,
                 budget: DiskBudget, budget_lock: threading.Lock | None = None) -> None:
        self.client = client
        self.deadline = deadline
        self.temp_dir = temp_dir
        self._budget = budget
        self._budget_lock = budget_lock or threading.Lock()

    def using(self, client: httpx.Client) -> Fetcher:
        """A fetcher like this one over another client (the guarded one, for URLs that
        come from requests), sharing its temp dir, deadline, budget and budget lock."""
        return Fetcher(client, self.temp_dir, deadline=self.deadline, budget=self._budget,
                       budget_lock=self._budget_lock)

    async def fetch(self, url: str, *, max_bytes: int, optional: bool = False,
                    what: str = "the download") -> Fetched | None:
        """Download `url` to a new temp file; `what` names it in a `TooLarge`.

        With `optional`, a 404 returns None (e.g. a stream without subtitles). The
        caller owns the result and must `release` it once moved or used.
        """
        result = await self._run(url, max_bytes=max_bytes, optional=optional, head=0,
                                 what=what)
        assert not isinstance(result, Head)
        return result

    async def fetch_head(self, url: str, *, max_bytes: int, head: int,
                         what: str = "the download") -> Fetched | Head:
        """The first `head` bytes of `url` if its upstream honours byte ranges, else
        (or when that is all of it) the whole body, as `fetch` downloads it."""
        if head <= 0:
            raise ValueError("head must be positive")
        result = await self._run(url, max_bytes=max_bytes, optional=False, head=head,
                                 what=what)
        assert result is not None
        return result

    def release(self, fetched: Fetched) -> None:
        """`fetched` has left the temp dir (moved into a cache, or deleted)."""
        fetched.path.unlink(missing_ok=True)
        self._release(fetched.size)

    # -- the download thread ------------------------------------------------------

    async def _run(self, url: str, *, max_bytes: int, optional: bool, head: int, what: str
                   ) -> Fetched | Head | None:
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        job = _Download(self, url, max_bytes=max_bytes, optional=optional, head=head,
                        what=what, deadline=time.monotonic() + self.deadline)
        done: concurrent.futures.Future[Fetched | Head | None] = concurrent.futures.Future()
        threading.Thread(target=_complete, args=(done, job.run), daemon=True,
                         name="hlsd-fetch").start()
        waiting = asyncio.wrap_future(done)
        waiting.add_done_callback(_retrieve)  # read below, or of no interest once we gave up
        try:
            async with asyncio.timeout(self.deadline):
                return await asyncio.shield(waiting)
        except BaseException as exc:
            # Cancelled or past the deadline: stop the thread, then let it clean up.
            if job.abort():
                await _settle(waiting)
            if done.done() and done.exception() is None:
                result = done.result()
                if isinstance(result, Fetched):
                    self.release(result)  # finished just as we gave up on it
            mapped = _download_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    def _reserve(self, n: int) -> None:
        with self._budget_lock:
            self._budget.reserve(n)

    def _release(self, n: int) -> None:
        with self._budget_lock:
            self._budget.release(n)


def _complete(done: concurrent.futures.Future[T], work: Callable[[], T]) -> None:
    try:
        done.set_result(work())
    except BaseException as exc:
        done.set_exception(exc)


def _retrieve(waiting: asyncio.Future[Any]) -> None:
    if not waiting.cancelled():
        waiting.exception()


async def _settle(waiting: asyncio.Future[Any]) -> None:
    """Wait for an aborted thread to finish (it does at once); a second cancel ends
    the wait, and the thread still cleans up on its own."""
    await asyncio.wait([waiting])  # never raises the thread's error, never cancels it


def _download_error(exc: BaseException) -> BaseException:
    if isinstance(exc, DownloadFailed | TooLarge | DiskFull | FetchRefused):
        return exc  # FetchRefused is an httpx error: kept as it is, before the others
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return DownloadTimedOut("upstream timed out")
    if isinstance(exc, httpx.HTTPError):
        return DownloadFailed(f"upstream unreachable ({type(exc).__name__})")
    return exc


class _Download:
    """One GET in a worker thread. `abort` (from any thread) shuts its socket down, so
    a blocked read returns at once; before the answer arrives there is nothing to clean
    up, and the thread, on waking, sees the abort and stops."""

    def __init__(self, fetcher: Fetcher, url: str, *, max_bytes: int, optional: bool,
                 head: int, what: str, deadline: float) -> None:
        self._fetcher = fetcher
        self._url = url
        self._max_bytes = max_bytes
        self._what = what
        self._optional = optional
        self._head = head
        self._deadline = deadline
        self._lock = threading.Lock()
        self._aborted = False
        self._answered = False  # from then on the thread may hold a file or budget
        self._socket: socket.socket | None = None
        self._path = fetcher.temp_dir / f"fetch-{secrets.token_hex(8)}.part"

    def abort(self) -> bool:
        """Stop the download; True when the thread may hold something to clean up (it
        then finishes at once: wait for it)."""
        with self._lock:
            self._aborted = True
            if self._socket is not None:
                with contextlib.suppress(OSError):  # already closed: it is finishing
                    self._socket.shutdown(socket.SHUT_RDWR)
            return self._answered

    def run(self) -> Fetched | Head | None:
        headers = {}
        if self._head:
            headers = {"range": f"bytes=0-{self._head - 1}", "accept-encoding": "identity"}
        client = self._fetcher.client
        with client.stream("GET", self._url, headers=headers) as response:
            if not self._attach(response):
                raise TimeoutError("fetch aborted")
            try:
                return self._take(response)
            finally:
                with self._lock:
                    self._socket = None

    def _attach(self, response: httpx.Response) -> bool:
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        with self._lock:
            if self._aborted:
                return False
            self._answered = True
            self._socket = sock if isinstance(sock, socket.socket) else None
            return True

    def _take(self, response: httpx.Response) -> Fetched | Head | None:
        status = response.status_code
        if status == 404:
            if self._optional:
                return None
            raise DownloadNotFound("not found upstream")
        if status == 206 and self._head:
            return self._take_head(response)
        if status == 416 and self._head:
            # Nothing at offset 0: an empty body. The whole (empty) download says so.
            response.close()
            self._head = 0
            return self.run()
        if status != 200:
            raise DownloadFailed(f"upstream answered {status}")
        return self._save(bounded(response.iter_bytes(), self._max_bytes, what=self._what,
                                  declared=response.headers.get("content-length")))

    def _take_head(self, response: httpx.Response) -> Fetched | Head:
        span = parse_content_range(response.headers.get("content-range"))
        if span is None or span[0] != 0:
            raise DownloadFailed("upstream answered a range it was not asked for")
        total = span[2]
        if total > self._max_bytes:
            raise TooLarge(self._what, self._max_bytes)
        expected = span[1] + 1
        if expected >= total:  # the head is the whole body
            return self._save(response.iter_bytes(), exact=total)
        data = bytearray()
        for chunk in response.iter_raw():
            self._check_deadline()
            if len(data) + len(chunk) > expected:
                raise DownloadFailed("upstream sent more than the range asked for")
            data += chunk
        if len(data) != expected:
            raise DownloadFailed("upstream sent less than the range asked for")
        return Head(url=self._url, size=total, data=bytes(data),
                    validator=range_validator(response.headers))

    def _save(self, chunks: Iterable[bytes], exact: int | None = None) -> Fetched:
        """Stream `chunks` (bounded by the caller) into the temp file, every chunk
        reserved first."""
        written = 0
        try:
            fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    self._check_deadline()
                    self._fetcher._reserve(len(chunk))
                    written += len(chunk)
                    out.write(chunk)
            if exact is not None and written != exact:
                raise DownloadFailed("upstream sent less than it announced")
            return Fetched(path=self._path, size=written)
        except BaseException:
            self._path.unlink(missing_ok=True)
            self._fetcher._release(written)
            raise

    def _check_deadline(self) -> None:
        if self._aborted:
            raise TimeoutError("fetch aborted")
        if time.monotonic() > self._deadline:
            raise TimeoutError("upstream body took longer than the deadline")
