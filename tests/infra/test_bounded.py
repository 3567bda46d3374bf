"""The one bounded reader, on real request bodies (a Starlette app behind httpx's ASGI
transport, streamed in chunks), real HTTP responses (a loopback server) and files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hlsd import errors
from hlsd.infra.bounded import (
    TooLarge,
    bounded,
    read_file,
    read_request,
    read_response,
    read_response_async,
)
from tests._support.servers import Upstream

LIMIT = 1000


async def _echo(request: Request) -> JSONResponse:
    try:
        body = await read_request(request, LIMIT, setting="test.limit")
    except TooLarge as exc:
        return JSONResponse({"error": exc.message, "limit": exc.limit}, status_code=413)
    return JSONResponse({"size": len(body)})


def _client() -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/", _echo, methods=["POST"])])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


class _Chunks:
    """A request body sent in 100-byte chunks (no Content-Length), counting how many
    the server asked for."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.count:
            self.sent += 1
            yield b"x" * 100


async def test_a_body_within_the_limit_is_read_whole() -> None:
    async with _client() as client:
        exact = await client.post("/", content=b"x" * LIMIT)
        chunked = await client.post("/", content=_Chunks(10))
    assert exact.json() == {"size": LIMIT} and chunked.json() == {"size": LIMIT}


async def test_a_declared_length_past_the_limit_is_refused_before_reading() -> None:
    async with _client() as client:
        r = await client.post("/", content=b"x" * (LIMIT + 1))
    assert r.status_code == 413
    assert r.json() == {"error": "the request body is larger than 1000 bytes",
                        "limit": "test.limit"}


async def test_a_long_body_is_cut_as_soon_as_it_passes_the_limit() -> None:
    body = _Chunks(50)  # 5000 bytes, with no length declared
    async with _client() as client:
        r = await client.post("/", content=body)
    assert r.status_code == 413
    assert body.sent <= LIMIT // 100 + 2  # what passed the limit, not what was sent


def test_a_sync_response_is_read_up_to_the_limit() -> None:
    with Upstream() as up, httpx.Client(base_url=up.url) as client:
        up.add_bytes("/fits", b"y" * LIMIT)
        up.add_bytes("/big", b"y" * (LIMIT + 1))
        up.add_endless("/endless")
        up.add_endless("/huge", content_length=10**9)  # refused on its declared length
        with client.stream("GET", "/fits") as response:
            assert read_response(response, LIMIT, what="it") == b"y" * LIMIT
        for path in ("/big", "/endless", "/huge"):
            with client.stream("GET", path) as response, \
                    pytest.raises(TooLarge, match=f"{path} is larger than 1000 bytes"):
                read_response(response, LIMIT, what=path)


async def test_an_async_response_is_read_up_to_the_limit() -> None:
    with Upstream() as up:
        up.add_bytes("/fits", b"y" * LIMIT)
        up.add_endless("/endless")
        async with httpx.AsyncClient(base_url=up.url) as client:
            async with client.stream("GET", "/fits") as response:
                assert await read_response_async(response, LIMIT, what="it") == b"y" * LIMIT
            async with client.stream("GET", "/endless") as response:
                with pytest.raises(TooLarge) as refused:
                    await read_response_async(response, LIMIT, what="a segment",
                                              setting="x.max")
    assert (refused.value.max_bytes, refused.value.limit) == (LIMIT, "x.max")
    assert isinstance(refused.value, errors.TooLarge)  # the kind api/errors.py answers


def test_files_and_chunks_for_a_writer() -> None:
    def chunks(n: int) -> list[bytes]:
        return [b"z" * 100] * n

    assert b"".join(bounded(chunks(10), LIMIT, what="c")) == b"z" * LIMIT
    passed = []
    with pytest.raises(TooLarge):
        for chunk in bounded(chunks(20), LIMIT, what="c"):
            passed.append(chunk)
    assert len(passed) == 10  # the chunk that passed the limit is never handed on
    with pytest.raises(TooLarge):
        list(bounded([], LIMIT, what="c", declared=str(LIMIT + 1)))


def test_a_file_is_read_up_to_the_limit(tmp_path: Path) -> None:
    fits, big = tmp_path / "fits", tmp_path / "big"
    fits.write_bytes(b"f" * LIMIT)
    big.write_bytes(b"f" * (LIMIT + 1))
    assert read_file(fits, LIMIT, what="a file") == b"f" * LIMIT
    with pytest.raises(TooLarge, match="a file is larger than 1000 bytes"):
        read_file(big, LIMIT, what="a file")
