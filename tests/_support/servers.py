"""A real upstream HTTP server for tests.

`Upstream` is a threaded `http.server` on an ephemeral loopback port whose routes the
test sets. It starts in its constructor, so it works as a context manager and as a
pytest fixture object alike::

    with Upstream() as up:
        up.add_file("/audio/a b", wav_path)
        fetch(f"{up.url}/audio/a%20b")
        assert up.count("/audio/a b") == 1
        assert up.requests[0].raw_path == "/audio/a%20b"

Routes match on the URL-decoded path (query ignored); an unknown path is a 404.
Registering a path again replaces its route. Every response carries a correct
Content-Length (or is chunked, for `add_endless`), and `close()` returns promptly even
while slow, dripping or endless responses are in flight.
"""

from __future__ import annotations

import contextlib
import mimetypes
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import unquote, urlsplit

import pytest

__all__ = ["LoopbackServer", "RequestRecord", "Upstream", "content_type_for", "upstream"]

_CHUNK = 64 * 1024

_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".webm": "video/webm",
    ".vtt": "text/vtt",
    ".mpd": "application/dash+xml",
    ".js": "text/javascript",
    ".html": "text/html; charset=utf-8",
}


def content_type_for(path: Path | str) -> str:
    """The Content-Type `Upstream` sends for a file name (HLS types included)."""
    suffix = Path(str(path)).suffix.lower()
    if suffix in _TYPES:
        return _TYPES[suffix]
    guessed, _ = mimetypes.guess_type(str(path))
    return guessed or "application/octet-stream"


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it.

    `path` is URL-decoded and has no query; `raw_path` is the request target exactly as
    sent (still percent-encoded, query included). `headers` keys are lower-case. `body`
    is the request body (read by Content-Length).
    """

    method: str
    path: str
    headers: dict[str, str]
    raw_path: str = ""
    query: str = ""
    body: bytes = b""
    time: float = field(default=0.0, compare=False)

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


class _Closed(Exception):
    """The server is closing or the client went away: stop writing."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    # -- plumbing -----------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _dispatch(self) -> None:
        owner = self.server.owner
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        body = b""
        length = self.headers.get("Content-Length")
        if length and length.isdigit():
            body = self.rfile.read(int(length))
        elif "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True  # body not parsed: don't reuse the connection
        owner._record(RequestRecord(
            method=self.command, path=path,
            headers={k.lower(): v for k, v in self.headers.items()},
            raw_path=self.path, query=parts.query, body=body, time=time.monotonic(),
        ))
        owner._enter()
        try:
            if self.command == "OPTIONS" and owner.cors:
                self._preflight()
                return
            route, delay = owner._lookup(path)
            if delay and owner._closing.wait(delay):
                self.close_connection = True
                return
            if route is None:
                self._simple(404, b"not found\n", "text/plain")
            else:
                route(self)
        except (_Closed, ConnectionError, TimeoutError, OSError):
            self.close_connection = True
        finally:
            owner._leave()

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = _dispatch

    # -- response helpers used by routes ------------------------------------------
    @property
    def is_head(self) -> bool:
        return self.command == "HEAD"

    def _common_headers(self) -> None:
        if self.server.owner.cors:
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Expose-Headers",
                             "Content-Length, Content-Range, Accept-Ranges, Content-Type")

    def _preflight(self) -> None:
        self.send_response(204)
        self._common_headers()
        self.send_header("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS")
        requested = self.headers.get("Access-Control-Request-Headers")
        self.send_header("Access-Control-Allow-Headers", requested or "*")
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _simple(self, status: int, body: bytes, content_type: str,
                headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self._common_headers()
        self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not self.is_head and body:
            self._write(body)

    def _write(self, data: bytes) -> None:
        if self.server.owner._closing.is_set():
            raise _Closed
        self.wfile.write(data)

    def _ranged(self, size: int, content_type: str, read: Callable[[int, int], Iterator[bytes]],
                headers: dict[str, str] | None = None, ranges: bool = True) -> None:
        """Send `size` bytes (or the requested range of them), read lazily by `read`."""
        status, start, end = 200, 0, size - 1
        spec = self.headers.get("Range") if ranges else None
        if spec is not None:
            parsed = _parse_range(spec, size)
            if isinstance(parsed, str):  # "unsatisfiable"
                self.send_response(416)
                self._common_headers()
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if parsed is not None:
                status, (start, end) = 206, parsed
        self.send_response(status)
        self._common_headers()
        self.send_header("Content-Type", content_type)
        if ranges:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        length = end - start + 1 if size else 0
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.is_head or length == 0:
            return
        for chunk in read(start, length):
            self._write(chunk)


def _parse_range(spec: str, size: int) -> tuple[int, int] | str | None:
    """`(start, end)` inclusive, "unsatisfiable", or None (ignore the header: send 200)."""
    unit, _, value = spec.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in value:
        return None  # other units and multi-range: a server may answer 200 with everything
    first, dash, last = value.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":
            if not last:
                return None
            n = int(last)
            if n <= 0:
                return "unsatisfiable"
            return max(size - n, 0), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size:
        return "unsatisfiable"
    if start < 0 or end < start:
        return None
    return start, min(end, size - 1)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, owner: Upstream) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)


Route = Callable[[_Handler], None]


class LoopbackServer:
    """An HTTP server on an ephemeral loopback port, served from a daemon thread; a
    context manager that closes it on exit."""

    _server: ThreadingHTTPServer
    _thread: threading.Thread

    def _serve(self, server: ThreadingHTTPServer, name: str) -> None:
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"{name}-{self.port}", daemon=True)
        self._thread.start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        raise NotImplementedError


class Upstream(LoopbackServer):
    """A real HTTP server on 127.0.0.1:<ephemeral> with routes set by the test.

    `cors=True` adds `Access-Control-Allow-Origin: *` to every response and answers
    CORS preflights (OPTIONS), as a CDN in front of a browser player would.
    """

    def __init__(self, *, cors: bool = False) -> None:
        self.cors = cors
        self._lock = threading.Lock()
        self._routes: dict[str, Route] = {}
        self._prefixes: dict[str, Route] = {}
        self._delays: dict[str, float] = {}
        self._requests: list[RequestRecord] = []
        self._conns: set[socket.socket] = set()
        self._active = 0
        self._idle = threading.Condition(self._lock)
        self._closing = threading.Event()
        self._serve(_Server(self), "upstream")

    # -- routes -------------------------------------------------------------------
    def _set(self, path: str, route: Route) -> None:
        if not path.startswith("/"):
            raise ValueError(f"route paths start with '/': {path!r}")
        with self._lock:
            self._routes[path] = route

    def add_file(self, path: str, file: Path, content_type: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        """Serve `file` (read at request time) with Range and HEAD support."""
        file = Path(file)
        ctype = content_type or content_type_for(file)
        self._set(path, lambda h: _serve_file(h, file, ctype, headers))

    def add_dir(self, prefix: str, directory: Path) -> None:
        """Serve every file under `directory` at `prefix/<relative path>` (like add_file)."""
        root = Path(directory).resolve()
        prefix = prefix.rstrip("/") + "/"

        def route(h: _Handler) -> None:
            rel = unquote(urlsplit(h.path).path)[len(prefix):]
            target = (root / rel).resolve()
            if not target.is_relative_to(root) or not target.is_file():
                h._simple(404, b"not found\n", "text/plain")
                return
            _serve_file(h, target, content_type_for(target), None)

        with self._lock:
            self._prefixes[prefix] = route

    def add_bytes(self, path: str, data: bytes, content_type: str = "application/octet-stream",
                  headers: dict[str, str] | None = None, status: int = 200) -> None:
        """Serve fixed bytes; Range is honoured for status 200."""
        def route(h: _Handler) -> None:
            if status != 200:
                h._simple(status, data, content_type, headers)
                return
            h._ranged(len(data), content_type,
                      lambda start, n: iter([data[start:start + n]]), headers)

        self._set(path, route)

    def add_status(self, path: str, status: int, body: bytes = b"",
                   headers: dict[str, str] | None = None,
                   content_type: str = "text/plain") -> None:
        """Answer with `status` (404, 500, 410, …) and `body`."""
        self._set(path, lambda h: h._simple(status, body, content_type, headers))

    def add_redirect(self, path: str, location: str, status: int = 302) -> None:
        self._set(path, lambda h: h._simple(status, b"", "text/plain", {"Location": location}))

    def add_delay(self, path: str, seconds: float) -> None:
        """Hold every response for `path` for `seconds` before answering.

        Combines with whatever route `path` has (add_file, add_bytes, …); on its own it
        is a delayed 404. `close()` cuts a pending delay short.
        """
        with self._lock:
            self._delays[path] = seconds

    def add_drip(self, path: str, data: bytes, chunk: int, interval: float,
                 content_type: str = "application/octet-stream") -> None:
        """Send `data` (correct Content-Length) `chunk` bytes at a time, `interval` s apart."""
        if chunk <= 0:
            raise ValueError("chunk must be positive")

        def route(h: _Handler) -> None:
            h.send_response(200)
            h._common_headers()
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            if h.is_head:
                return
            for i in range(0, len(data), chunk):
                if i and self._closing.wait(interval):
                    raise _Closed
                h._write(data[i:i + chunk])
                h.wfile.flush()

        self._set(path, route)

    def add_endless(self, path: str, content_type: str = "application/octet-stream",
                    content_length: int | None = None, chunk: int = _CHUNK) -> None:
        """Stream bytes forever, until the client hangs up or the server closes.

        By default the body is chunked (no Content-Length). With `content_length` the
        header is sent as given (a lie, or a huge size) and the body is raw bytes that
        still never end. The handler thread ends as soon as a write fails.
        """
        block = bytes(range(256)) * max(chunk // 256, 1)

        def route(h: _Handler) -> None:
            h.send_response(200)
            h._common_headers()
            h.send_header("Content-Type", content_type)
            chunked = content_length is None
            if chunked:
                h.send_header("Transfer-Encoding", "chunked")
            else:
                h.send_header("Content-Length", str(content_length))
            h.send_header("Connection", "close")
            h.end_headers()
            h.close_connection = True
            if h.is_head:
                return
            frame = f"{len(block):x}\r\n".encode() + block + b"\r\n" if chunked else block
            while True:
                h._write(frame)

        self._set(path, route)

    def add_handler(self, path: str, route: Callable[[Any], None]) -> None:
        """Escape hatch: `route(handler)` gets the raw `BaseHTTPRequestHandler`."""
        self._set(path, route)

    def remove(self, path: str) -> None:
        with self._lock:
            self._routes.pop(path, None)
            self._prefixes.pop(path.rstrip("/") + "/", None)
            self._delays.pop(path, None)

    def _lookup(self, path: str) -> tuple[Route | None, float]:
        with self._lock:
            route = self._routes.get(path)
            if route is None:
                for prefix in sorted(self._prefixes, key=len, reverse=True):
                    if path.startswith(prefix):
                        route = self._prefixes[prefix]
                        break
            return route, self._delays.get(path, 0.0)

    # -- request log --------------------------------------------------------------
    def _record(self, rec: RequestRecord) -> None:
        with self._lock:
            self._requests.append(rec)

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every request so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def count(self, path: str, method: str | None = None) -> int:
        """Requests for the decoded `path` (any method unless `method` is given)."""
        with self._lock:
            return sum(1 for r in self._requests
                       if r.path == path and (method is None or r.method == method.upper()))

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- in-flight tracking -------------------------------------------------------
    def _enter(self) -> None:
        with self._lock:
            self._active += 1

    def _leave(self) -> None:
        with self._lock:
            self._active -= 1
            self._idle.notify_all()

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    @property
    def in_flight(self) -> int:
        """Responses currently being produced (handler threads inside a route)."""
        with self._lock:
            return self._active

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no response is in flight; True if that happened in time."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    # -- shutdown -----------------------------------------------------------------
    def close(self) -> None:
        """Stop serving; slow and endless responses in flight are cut off promptly."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._server.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._thread.join(timeout=5)
        self.wait_idle(timeout=5)


def _serve_file(h: _Handler, file: Path, ctype: str, headers: dict[str, str] | None) -> None:
    try:
        size = file.stat().st_size
    except OSError:
        h._simple(404, b"not found\n", "text/plain")
        return

    def read(start: int, length: int) -> Iterator[bytes]:
        with file.open("rb") as f:
            f.seek(start)
            left = length
            while left > 0:
                data = f.read(min(_CHUNK, left))
                if not data:
                    return
                left -= len(data)
                yield data

    h._ranged(size, ctype, read, headers)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """A fresh `Upstream` per test (import this fixture into a conftest or test module)."""
    with Upstream() as up:
        yield up
