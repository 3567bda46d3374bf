"""The one way a playback answer is sent: a `Resource` (bytes or a file) with its
Cache-Control (public, or private once a gate admitted the request), ETag and
If-None-Match (304), If-Range and one byte range (206, or 416 past the end), HEAD (the
headers a GET would get, no body); or a `Redirect`.

Several ranges in one request are answered with the whole body, which RFC 9110 allows.
Bytes go out in one message, the same object for every listener; a file goes to the
server's sendfile path (``http.response.pathsend``) when it is sent whole and stays
after the response, else it is read in pieces in a thread until it ends or the client
leaves.
"""

from __future__ import annotations

import asyncio
import os
import stat
from email.utils import formatdate
from urllib.parse import quote

from starlette.types import Receive, Send

from hlsd.delivery.gate import TokenPlaylists
from hlsd.delivery.request import Request
from hlsd.delivery.resource import FileBody, Header, Redirect, Resource
from hlsd.hls import Rendered
from hlsd.infra.asgi import respond_error

__all__ = ["ACCEPT_RANGES", "Responder", "byte_range", "etag_matches"]

ACCEPT_RANGES = (b"accept-ranges", b"bytes")
_CHUNK = 256 * 1024
_PATHSEND = "http.response.pathsend"


def byte_range(spec: bytes, size: int) -> tuple[int, int] | None:
    """One ``bytes=a-b`` range as (start, end exclusive); None to send the whole body;
    ``(size, size)`` when no byte of it exists (416)."""
    text = spec.decode("latin-1").strip()
    if not text.startswith("bytes=") or "," in text:
        return None
    first, _, last = text[6:].partition("-")
    try:
        if first == "":
            length = int(last)
            return (max(0, size - length), size) if length > 0 else None
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if start >= size or end <= start:
        return (size, size)
    return start, min(end, size)


def etag_matches(if_none_match: bytes, etag: str) -> bool:
    """Whether If-None-Match names `etag` (compared weakly, as RFC 9110 says for it)."""
    tags = {t.strip().removeprefix("W/")
            for t in if_none_match.decode("latin-1").split(",")}
    return etag in tags or "*" in tags


class Responder:
    def __init__(self, playlists: TokenPlaylists) -> None:
        self._playlists = playlists

    async def send(self, request: Request, answer: Resource | Redirect,
                   cors: tuple[Header, ...], receive: Receive, send: Send) -> None:
        if isinstance(answer, Redirect):
            headers = [(b"location", answer.location.encode("latin-1")), *answer.headers,
                       *cors, (b"content-length", b"0")]
            await _headers_only(send, answer.status, headers)
            return
        body = answer.body
        headers = [answer.type,
                   answer.caching.private if request.private else answer.caching.public,
                   ACCEPT_RANGES, *cors]
        if isinstance(body, FileBody):
            try:
                await self._file(request, answer.etag, body, headers, cors, receive, send)
            finally:
                if body.release is not None:
                    await body.release()
            return
        etag = answer.etag
        if answer.playlist and request.query_token is not None:
            assert etag is not None, "a playlist has an ETag"
            made = self._playlists.with_token(Rendered(body, etag), request.query_token)
            body, etag = made.body, made.etag
        if etag is not None:
            headers.append((b"etag", etag.encode("latin-1")))
            if_none_match = request.headers.get(b"if-none-match")
            if if_none_match is not None and etag_matches(if_none_match, etag):
                await _headers_only(send, 304, headers)
                return
        size = len(body)
        span = _range(request, size, etag, None) if b"range" in request.headers else None
        if span is None:
            headers.append((b"content-length", b"%d" % size))
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"" if request.head else body})
            return
        start, end = span
        if start >= size:
            await _unsatisfiable(send, headers, size)
            return
        headers += ((b"content-range", b"bytes %d-%d/%d" % (start, end - 1, size)),
                    (b"content-length", b"%d" % (end - start)))
        await send({"type": "http.response.start", "status": 206, "headers": headers})
        await send({"type": "http.response.body",
                    "body": b"" if request.head else body[start:end]})

    async def _file(self, request: Request, etag: str | None, body: FileBody,
                    headers: list[Header], cors: tuple[Header, ...], receive: Receive,
                    send: Send) -> None:
        try:
            found: os.stat_result | None = await asyncio.to_thread(os.stat, body.path)
        except (FileNotFoundError, NotADirectoryError):
            found = None
        if found is None or not stat.S_ISREG(found.st_mode):
            await respond_error(send, 404, body.missing, list(cors))
            return
        size = found.st_size
        etag = etag or f'"{found.st_mtime_ns:x}-{size:x}"'
        modified = formatdate(found.st_mtime, usegmt=True).encode()
        headers += ((b"etag", etag.encode("latin-1")), (b"last-modified", modified))
        if body.download is not None:
            headers.append((b"content-disposition", _attachment(body.download)))
        if_none_match = request.headers.get(b"if-none-match")
        if if_none_match is not None and etag_matches(if_none_match, etag):
            await _headers_only(send, 304, headers)
            return
        span = _range(request, size, etag, modified)
        status, start, end = 200, 0, size
        if span is not None:
            start, end = span
            if start >= size:
                await _unsatisfiable(send, headers, size)
                return
            status = 206
            headers.append((b"content-range", b"bytes %d-%d/%d" % (start, end - 1, size)))
        headers.append((b"content-length", b"%d" % (end - start)))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if request.head or start == end:
            await send({"type": "http.response.body", "body": b""})
        elif status == 200 and body.release is None \
                and _PATHSEND in request.scope.get("extensions", {}):
            await send({"type": _PATHSEND, "path": str(body.path)})
        else:
            await _stream(body, start, end, receive, send)


def _range(request: Request, size: int, etag: str | None,
           modified: bytes | None) -> tuple[int, int] | None:
    """The byte range asked for, unless If-Range names another version."""
    spec = request.headers.get(b"range")
    if spec is None:
        return None
    if_range = request.headers.get(b"if-range")
    if if_range is not None and not (
            (etag is not None and if_range.decode("latin-1") == etag)
            or (modified is not None and if_range == modified)):
        return None
    return byte_range(spec, size)


async def _headers_only(send: Send, status: int, headers: list[Header]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _unsatisfiable(send: Send, headers: list[Header], size: int) -> None:
    headers += ((b"content-range", b"bytes */%d" % size), (b"content-length", b"0"))
    await _headers_only(send, 416, headers)


def _attachment(filename: str) -> bytes:
    quoted = quote(filename)
    if quoted != filename:
        return f"attachment; filename*=utf-8''{quoted}".encode("latin-1")
    return f'attachment; filename="{filename}"'.encode("latin-1")


async def _stream(body: FileBody, start: int, end: int, receive: Receive,
                  send: Send) -> None:
    """Bytes `start` to `end` of the file, a piece at a time, until the client leaves
    (servers of ASGI spec < 2.4 do not raise when one does: they drop what is sent)."""
    fd = await asyncio.to_thread(os.open, body.path, os.O_RDONLY)
    left = asyncio.ensure_future(_disconnected(receive))
    try:
        at = start
        while at < end and not left.done():
            piece = await asyncio.to_thread(os.pread, fd, min(_CHUNK, end - at), at)
            if not piece:
                raise RuntimeError(f"{body.path} ended at {at} of {end} bytes")
            at += len(piece)
            await send({"type": "http.response.body", "body": piece, "more_body": at < end})
    finally:
        os.close(fd)
        left.cancel()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
