"""Connections no client can hold for as long as it likes, on both engines: a deadline
for headers (slowloris, and a connection that never sends a byte), one for idle
keep-alive, one for a body that stops arriving, and a cap on the requests one address
may have in progress (the 2026-12-06 attack held 600 such connections)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests._support.environment import lan_address
from tests._support.hlsd_server import HlsdServer

DEADLINE = 2.0
SLACK = 6.0  # a busy machine may be slow to notice; a held connection never closes


@pytest.fixture(scope="module", params=["granian", "uvicorn"])
def hlsd(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         ) -> Iterator[HlsdServer]:
    cfg = {"server": request.param,
           "http": {"header_timeout": f"{DEADLINE}s", "keep_alive_timeout": f"{DEADLINE}s",
                    "body_timeout": f"{DEADLINE}s", "max_requests_per_ip": 3}}
    with HlsdServer(cfg, tmp_dir=tmp_path_factory.mktemp(request.param)) as server:
        yield server


def _connect(server: HlsdServer, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30,
                                    source_address=(source, 0))
    sock.setblocking(False)
    return sock


def _closed(sock: socket.socket) -> bool:
    """The server closed `sock` (whatever it sent before)."""
    try:
        while data := sock.recv(65536):
            del data
        return True
    except BlockingIOError:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def _wait_all_closed(socks: list[socket.socket], within: float,
                     meanwhile: Callable[[], None] = lambda: None) -> float:
    started = time.monotonic()
    open_ = list(socks)
    while open_:
        assert time.monotonic() - started < within, f"{len(open_)} connections still open"
        meanwhile()
        open_ = [s for s in open_ if not _closed(s)]
        time.sleep(0.05)
    return time.monotonic() - started


def _healthy(server: HlsdServer) -> Callable[[], None]:
    def check() -> None:
        assert httpx.get(server.url + "/api/health", timeout=5).status_code == 200
    return check


def test_a_connection_that_never_sends_a_byte_is_closed(hlsd: HlsdServer) -> None:
    socks = [_connect(hlsd) for _ in range(30)]
    try:
        took = _wait_all_closed(socks, DEADLINE + SLACK, _healthy(hlsd))
        assert took >= DEADLINE * 0.8  # closed by the deadline, not at once
    finally:
        for s in socks:
            s.close()


def test_slowloris_headers_are_cut_at_the_deadline(hlsd: HlsdServer) -> None:
    socks = [_connect(hlsd) for _ in range(30)]
    try:
        for s in socks:
            s.send(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        open_ = list(socks)
        while open_:
            assert time.monotonic() - started < DEADLINE + SLACK, "slowloris survived"
            for s in open_:
                with contextlib.suppress(OSError):  # closed under us: counted below
                    s.send(b"X-Drip: 1\r\n")
            _healthy(hlsd)()
            open_ = [s for s in open_ if not _closed(s)]
            time.sleep(0.25)
    finally:
        for s in socks:
            s.close()


def test_an_idle_keep_alive_connection_is_closed(hlsd: HlsdServer) -> None:
    sock = _connect(hlsd)
    try:
        request = b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
        for _ in range(2):  # reused within the deadline: kept alive
            sock.send(request)
            deadline = time.monotonic() + 10
            reply = b""
            while b'"status"' not in reply:
                assert time.monotonic() < deadline
                try:
                    reply += sock.recv(65536)
                except BlockingIOError:
                    time.sleep(0.02)
            assert reply.startswith(b"HTTP/1.1 200")
            time.sleep(DEADLINE / 4)
        _wait_all_closed([sock], DEADLINE + SLACK)
    finally:
        sock.close()


def _start_upload(server: HlsdServer, n: int) -> socket.socket:
    sock = _connect(server)
    sock.send(f"PUT /ingest/held/seg-{n}.ts HTTP/1.1\r\nHost: x\r\n"
              "Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n".encode())
    return sock


def _response(sock: socket.socket, within: float) -> bytes:
    deadline = time.monotonic() + within
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        assert time.monotonic() < deadline, data
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            time.sleep(0.02)
            continue
        if not chunk:
            break
        data += chunk
    return data


def test_requests_in_progress_are_capped_per_address(hlsd: HlsdServer) -> None:
    uploads = [_start_upload(hlsd, n) for n in range(3)]
    try:
        with httpx.Client(base_url=hlsd.url, timeout=10) as c:
            deadline = time.monotonic() + 10
            while (r := c.get("/api/health")).status_code == 200:
                assert time.monotonic() < deadline, "the uploads never took their slots"
                time.sleep(0.05)
            assert r.status_code == 429 and r.headers["retry-after"] == "1"
            assert "http.max_requests_per_ip" in r.json()["error"]
        # Everyone else is still served.
        with httpx.Client(base_url=hlsd.url, timeout=10, transport=httpx.HTTPTransport(
                local_address=lan_address())) as elsewhere:
            assert elsewhere.get("/api/health").status_code == 200
        # The held bodies stop arriving: each ends with 408, and the slots are free.
        for sock in uploads:
            answer = _response(sock, DEADLINE + SLACK)
            assert answer.startswith(b"HTTP/1.1 408"), answer
            assert b"http.body_timeout" in answer
        assert httpx.get(hlsd.url + "/api/health", timeout=10).status_code == 200
        assert "requests from 127.0.0.1 refused" in hlsd.log_text()
    finally:
        for sock in uploads:
            sock.close()
