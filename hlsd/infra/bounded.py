"""Reading at most N bytes: a request body, an httpx response, a file. One rule for all:
a declared length past the limit is refused before anything is read, and the bytes are
counted as they arrive, so nothing past the limit is ever held. Passing it raises
`TooLarge`, of the kind `hlsd.errors.TooLarge` (no HTTP status: `api/errors.py` answers
413, in each surface's envelope).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from pathlib import Path

import httpx
from starlette.requests import Request

from hlsd import errors

__all__ = ["TooLarge", "bounded", "bounded_async", "read_file", "read_request",
           "read_response", "read_response_async"]


class TooLarge(errors.TooLarge):
    """More than `max_bytes` of `what`. `limit` (`setting`) names the configured bound
    that refused them, when there is one (the answer says it, for the operator)."""

    def __init__(self, what: str, max_bytes: int, *, setting: str | None = None) -> None:
        super().__init__(f"{what} is larger than {max_bytes} bytes", limit=setting)
        self.what = what
        self.max_bytes = max_bytes


class _Count:
    def __init__(self, limit: int, what: str, setting: str | None,
                 declared: str | None) -> None:
        if limit < 0:
            raise ValueError("a limit is at least 0")
        self._limit = limit
        self._what = what
        self._setting = setting
        self._seen = 0
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            self.refuse()

    def add(self, chunk: bytes) -> bytes:
        self._seen += len(chunk)
        if self._seen > self._limit:
            self.refuse()
        return chunk

    def refuse(self) -> None:
        raise TooLarge(self._what, self._limit, setting=self._setting)


def bounded(chunks: Iterable[bytes], limit: int, *, what: str, setting: str | None = None,
            declared: str | None = None) -> Iterator[bytes]:
    """`chunks` passed on until they add up to more than `limit` bytes (`TooLarge`);
    `declared`, a Content-Length, refuses at once when it already says so. For a
    consumer that writes them somewhere (a file) instead of holding them."""
    count = _Count(limit, what, setting, declared)
    for chunk in chunks:
        yield count.add(chunk)


async def bounded_async(chunks: AsyncIterable[bytes], limit: int, *, what: str,
                        setting: str | None = None, declared: str | None = None
                        ) -> AsyncIterator[bytes]:
    """`bounded`, for chunks that arrive asynchronously."""
    count = _Count(limit, what, setting, declared)
    async for chunk in chunks:
        yield count.add(chunk)


async def read_request(request: Request, limit: int, *, what: str = "the request body",
                       setting: str | None = None) -> bytes:
    """A request's whole body (Starlette), at most `limit` bytes."""
    chunks = bounded_async(request.stream(), limit, what=what, setting=setting,
                           declared=request.headers.get("content-length"))
    return b"".join([chunk async for chunk in chunks])


def read_response(response: httpx.Response, limit: int, *, what: str,
                  setting: str | None = None) -> bytes:
    """A streamed httpx response's body (a sync client: ``client.stream(...)``)."""
    chunks = bounded(response.iter_bytes(), limit, what=what, setting=setting,
                     declared=response.headers.get("content-length"))
    return b"".join(list(chunks))


async def read_response_async(response: httpx.Response, limit: int, *, what: str,
                              setting: str | None = None) -> bytes:
    """A streamed httpx response's body (an async client)."""
    chunks = bounded_async(response.aiter_bytes(), limit, what=what, setting=setting,
                           declared=response.headers.get("content-length"))
    return b"".join([chunk async for chunk in chunks])


def read_file(path: Path, limit: int, *, what: str, setting: str | None = None) -> bytes:
    """A regular file's bytes (blocking: for a thread). One byte more than `limit` is
    read to tell a file of exactly `limit` bytes from a larger one, whatever its size
    says (it may grow)."""
    with path.open("rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(what, limit, setting=setting)
    return data
