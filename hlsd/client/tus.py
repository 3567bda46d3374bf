"""A resumable tus 1.0 upload client (core protocol, creation, checksum) on httpx.

The file goes up in chunks, one ``PATCH`` each carrying ``Upload-Checksum: sha1`` of that
chunk. With a checksum the server keeps a chunk only if it arrived whole and intact, so a
chunk cut off half-way is simply sent again: the client never has to guess what landed.
After a connection error, a 5xx, or a 409/423 (typically the server still winding up the
broken request), it waits with exponential backoff, asks ``HEAD`` for the offset and
carries on from there. Memory stays at one chunk whatever the file's size.

Creation is not retried: a POST that timed out may still have made an upload, and a
retry would make a second one.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import httpx

from hlsd.infra.retry import Backoff, retry_sync

__all__ = ["DEFAULT_CHUNK", "TUS_VERSION", "Retry", "TusClient", "TusError", "UploadStats"]

TUS_VERSION = "1.0.0"
OFFSET_STREAM = "application/offset+octet-stream"
DEFAULT_CHUNK = 8 << 20
_PIECE = 64 << 10
"""How often progress is reported within a chunk (a chunk is one request)."""
_RETRYABLE = frozenset({409, 423, 429, 460})
"""Besides 5xx: offset conflicts and locks pass once the server has settled the broken
request; a checksum mismatch (460) means the bytes were damaged on the way."""

Progress = Callable[[int, int], None]
"""``(bytes the server has or is receiving, total)``; it may go back after a failure."""
OnRetry = Callable[[str, float], None]
"""``(what went wrong, seconds until the next attempt)``."""


class TusError(Exception):
    """The server refused the upload for good, or it kept failing past the retries."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class _Transient(Exception):
    """A failure worth another attempt after a pause."""


@dataclass(frozen=True)
class Retry:
    attempts: int = 8
    """Consecutive failures tolerated; any chunk that goes through resets the count."""
    backoff: float = 0.5
    max_backoff: float = 30.0

    @property
    def rule(self) -> Backoff:
        return Backoff(first=self.backoff, cap=self.max_backoff)

    def delay(self, failures: int) -> float:
        return self.rule.delay(failures)


@dataclass
class UploadStats:
    size: int
    chunks: int = 0
    """Chunks the server took."""
    retries: int = 0
    resumed_at: list[int] = field(default_factory=list)
    """The offsets ``HEAD`` gave after each failure."""


class TusClient:
    """Uploads through `http`, which carries the base URL, authorization and timeouts;
    ``Tus-Resumable`` is added to every request here."""

    def __init__(self, http: httpx.Client, *, chunk_size: int = DEFAULT_CHUNK,
                 retry: Retry | None = None, on_retry: OnRetry | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self._http = http
        self._chunk = chunk_size
        self._retry = retry or Retry()
        self._on_retry = on_retry
        self._sleep = sleep

    def create(self, collection_url: str, length: int,
               metadata: dict[str, str] | None = None) -> str:
        """A new upload of `length` bytes; returns its URL (absolute)."""
        headers = {"Upload-Length": str(length)}
        if metadata:
            headers["Upload-Metadata"] = encode_metadata(metadata)
        try:
            response = self._request("POST", collection_url, headers=headers)
        except _Transient as exc:
            raise TusError(f"creating the upload: {exc}") from exc
        location = response.headers.get("location")
        if response.status_code != 201 or not location:
            raise TusError(f"creating the upload: {_reason(response)}", response.status_code)
        return str(response.url.join(location))

    def offset(self, url: str) -> tuple[int, int | None]:
        """``(Upload-Offset, Upload-Length)`` as the server has them now."""
        try:
            return self._offset(url)
        except _Transient as exc:
            raise TusError(str(exc)) from exc

    def _offset(self, url: str) -> tuple[int, int | None]:
        response = self._request("HEAD", url, headers={"Cache-Control": "no-store"})
        _check(response, "asking for the offset")
        try:
            offset = int(response.headers["upload-offset"])
            length = response.headers.get("upload-length")
            return offset, int(length) if length is not None else None
        except (KeyError, ValueError) as exc:
            raise TusError("the server's HEAD answer has no valid Upload-Offset") from exc

    def upload(self, url: str, path: Path, *, progress: Progress | None = None
               ) -> UploadStats:
        """Send `path` to the existing upload at `url`, from wherever the server is."""
        size = path.stat().st_size
        stats = UploadStats(size=size)
        report: Progress = progress or (lambda done, total: None)
        confirmed: int | None = None  # None: ask the server before sending more
        resuming = False

        def step() -> bool:
            """One chunk (after asking where to resume, when that is not known); True
            once the server has it all."""
            nonlocal confirmed, resuming
            if confirmed is None:
                confirmed = self._resume_point(url, size)
                if resuming:
                    stats.resumed_at.append(confirmed)
                    resuming = False
                report(confirmed, size)
            # An empty file still needs one (empty) PATCH to complete its upload.
            if confirmed >= size and (size or stats.chunks):
                return True
            confirmed = self._send_chunk(url, source, confirmed, size, report)
            stats.chunks += 1
            return False

        def failed(error: BaseException, _failures: int, delay: float) -> None:
            nonlocal confirmed, resuming
            stats.retries += 1
            confirmed, resuming = None, True
            if self._on_retry is not None:
                self._on_retry(str(error), delay)

        tries = self._retry.attempts + 1
        with path.open("rb") as source:
            # Each chunk has its own tries: one that goes through starts the count over.
            while True:
                try:
                    if retry_sync(step, on=_Transient, attempts=tries, backoff=self._retry.rule,
                                  on_retry=failed, sleep=self._sleep):
                        return stats
                except _Transient as exc:
                    raise TusError(f"gave up after {tries} failed attempts: {exc}") from exc

    def _resume_point(self, url: str, size: int) -> int:
        offset, length = self._offset(url)
        if length is not None and length != size:
            raise TusError(f"the upload expects {length} bytes but the file has {size}")
        if offset > size:
            raise TusError(f"the server holds {offset} bytes, more than the file's {size}")
        return offset

    def _send_chunk(self, url: str, source: BinaryIO, offset: int, size: int,
                    report: Progress) -> int:
        source.seek(offset)
        wanted = min(self._chunk, size - offset)
        data = source.read(wanted)
        if len(data) != wanted:
            raise TusError(f"the file ended at {offset + len(data)} bytes, short of {size}: "
                           "did it change?")
        # sha1 identifies the chunk for the server's integrity check; no secret is involved.
        digest = base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode()
        headers = {"Upload-Offset": str(offset), "Content-Type": OFFSET_STREAM,
                   "Content-Length": str(len(data)), "Upload-Checksum": f"sha1 {digest}"}

        def pieces() -> Iterator[bytes]:
            view = memoryview(data)
            for start in range(0, len(view), _PIECE):
                piece = view[start:start + _PIECE]
                yield bytes(piece)
                report(offset + start + len(piece), size)  # runs once httpx sent it

        response = self._request("PATCH", url, headers=headers, content=pieces())
        _check(response, f"sending bytes {offset}-{offset + len(data)}")
        try:
            return int(response.headers["upload-offset"])
        except (KeyError, ValueError):
            # Accepted, but where it stands is unknown: ask rather than assume.
            raise _Transient("the PATCH answer has no valid Upload-Offset") from None

    def _request(self, method: str, url: str, *, headers: dict[str, str],
                 content: Iterator[bytes] | None = None) -> httpx.Response:
        try:
            return self._http.request(method, url, content=content,
                                      headers={"Tus-Resumable": TUS_VERSION, **headers})
        except httpx.TransportError as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}" if str(exc)
                             else type(exc).__name__) from exc


def encode_metadata(metadata: dict[str, str]) -> str:
    """``Upload-Metadata``: ``key base64(value)`` pairs, comma-separated."""
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" if value else key
                    for key, value in metadata.items())


def _check(response: httpx.Response, doing: str) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    message = f"{doing}: {_reason(response)}"
    if status >= 500 or status in _RETRYABLE:
        raise _Transient(message)
    raise TusError(message, status)


def _reason(response: httpx.Response) -> str:
    """The server's ``{"error": …}`` when it sent one, else the status line."""
    text = f"HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        return text
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return f"{text}: {body['error']}"
    return text
