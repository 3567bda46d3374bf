"""One bounded GET for ``hlsd check``: a deadline on the whole answer and a ceiling on
its body, whatever the server does (a stream under test may answer anything)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from hlsd.hls import ByteRange
from hlsd.infra.bounded import TooLarge, read_response_async

__all__ = ["BodyTooLarge", "FetchFailed", "Fetched", "fetch"]


@dataclass(frozen=True, slots=True)
class Fetched:
    """An answer: `url` is where it came from after redirects (relative URIs in a
    playlist resolve against it); `body` is read only for a 2xx."""

    url: str
    status: int
    content_type: str | None
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class FetchFailed(Exception):
    """No answer to use: the connection failed, it took too long, or the body is larger
    than the checker reads. The message is one line, fit for the user."""


class BodyTooLarge(FetchFailed):
    """The body is larger than the checker reads: the server did nothing wrong."""


async def fetch(client: httpx.AsyncClient, url: str, *, limit: int, deadline: float,
                byterange: ByteRange | None = None) -> Fetched:
    """GET `url` (the bytes `byterange` names of it), reading at most `limit` bytes
    within `deadline` seconds."""
    headers = {}
    if byterange is not None and byterange.offset is not None:
        last = byterange.offset + byterange.length - 1
        headers["Range"] = f"bytes={byterange.offset}-{last}"
    try:
        async with asyncio.timeout(deadline):
            async with client.stream("GET", url, headers=headers) as response:
                body = b""
                if response.is_success:
                    body = await _read(response, limit)
                return Fetched(str(response.url), response.status_code,
                               response.headers.get("content-type"),
                               _ranged(body, response.status_code, byterange))
    except TimeoutError:
        raise FetchFailed(f"no whole answer within {deadline:g} s") from None
    except httpx.HTTPError as exc:
        raise FetchFailed(_describe(exc)) from None
    except httpx.InvalidURL as exc:  # a URI of the playlist that no request can carry
        raise FetchFailed(f"not a URL: {exc}") from None


async def _read(response: httpx.Response, limit: int) -> bytes:
    try:
        return await read_response_async(response, limit, what="the body")
    except TooLarge:
        raise BodyTooLarge(f"larger than the {limit} bytes read") from None


def _ranged(body: bytes, status: int, byterange: ByteRange | None) -> bytes:
    """A server that ignores Range sends the whole resource: cut the range out of it."""
    if byterange is None or byterange.offset is None or status == 206:
        return body
    return body[byterange.offset:byterange.offset + byterange.length]


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.TooManyRedirects):
        return "too many redirects"
    text = " ".join(str(exc).split())
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({text})" if text else "cannot connect"
    return text or type(exc).__name__
