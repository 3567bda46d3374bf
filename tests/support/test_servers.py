"""Self-tests of tests/_support/servers.py: the real upstream HTTP server."""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests._support.servers import Upstream


def _get(url: str, headers: dict[str, str] | None = None, method: str = "GET",
         timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


@pytest.fixture
def blob(tmp_path: Path) -> Path:
    path = tmp_path / "blob.mp3"
    path.write_bytes(bytes(range(256)) * 400)  # 102400 bytes
    return path


def test_serves_a_file_with_length_and_type(blob: Path) -> None:
    with Upstream() as up:
        up.add_file("/media/blob.mp3", blob)
        status, headers, body = _get(up.url + "/media/blob.mp3")
        assert status == 200
        assert body == blob.read_bytes()
        assert headers["content-length"] == str(blob.stat().st_size)
        assert headers["content-type"] == "audio/mpeg"
        assert headers["accept-ranges"] == "bytes"
        assert "access-control-allow-origin" not in headers


def test_head_sends_headers_only(blob: Path) -> None:
    with Upstream() as up:
        up.add_file("/b", blob)
        status, headers, body = _get(up.url + "/b", method="HEAD")
        assert (status, body) == (200, b"")
        assert headers["content-length"] == "102400"
        assert up.requests[0].method == "HEAD"


@pytest.mark.parametrize(("spec", "start", "end"), [
    ("bytes=0-99", 0, 99),
    ("bytes=1000-", 1000, 102399),
    ("bytes=-500", 101900, 102399),
    ("bytes=102000-999999", 102000, 102399),
])
def test_ranges_answer_206(blob: Path, spec: str, start: int, end: int) -> None:
    data = blob.read_bytes()
    with Upstream() as up:
        up.add_file("/b", blob)
        status, headers, body = _get(up.url + "/b", {"Range": spec})
        assert status == 206
        assert headers["content-range"] == f"bytes {start}-{end}/{len(data)}"
        assert headers["content-length"] == str(end - start + 1)
        assert body == data[start:end + 1]


def test_unsatisfiable_range_is_416(blob: Path) -> None:
    with Upstream() as up:
        up.add_file("/b", blob)
        status, headers, _ = _get(up.url + "/b", {"Range": "bytes=999999-"})
        assert status == 416
        assert headers["content-range"] == "bytes */102400"


def test_bytes_statuses_and_unknown_paths() -> None:
    with Upstream() as up:
        up.add_bytes("/vtt/1", b"WEBVTT\n", content_type="text/vtt")
        up.add_status("/gone", 410, b"gone")
        up.add_status("/boom", 500)
        assert _get(up.url + "/vtt/1")[0::2] == (200, b"WEBVTT\n")
        assert _get(up.url + "/vtt/1")[1]["content-type"] == "text/vtt"
        assert _get(up.url + "/gone")[0::2] == (410, b"gone")
        assert _get(up.url + "/boom")[0] == 500
        assert _get(up.url + "/nothing/here")[0] == 404


def test_paths_match_decoded_and_record_raw(blob: Path) -> None:
    with Upstream() as up:
        up.add_bytes("/audio/a b/ü?#", b"x")
        status, _, body = _get(up.url + "/audio/a%20b%2F%C3%BC%3F%23?token=1")
        assert (status, body) == (200, b"x")
        rec = up.requests[-1]
        assert rec.path == "/audio/a b/ü?#"
        assert rec.raw_path == "/audio/a%20b%2F%C3%BC%3F%23?token=1"
        assert rec.query == "token=1"


def test_counts_requests_and_records_headers() -> None:
    with Upstream() as up:
        up.add_bytes("/x", b"x")
        for _ in range(3):
            _get(up.url + "/x", {"X-Gostreamer-Token": "t0k"})
        _get(up.url + "/y")
        assert up.count("/x") == 3
        assert up.count("/x", method="HEAD") == 0
        assert up.count("/y") == 1
        assert up.requests[0].header("x-gostreamer-token") == "t0k"
        assert up.requests[0].headers["x-gostreamer-token"] == "t0k"


def test_concurrent_requests_are_all_recorded() -> None:
    with Upstream() as up:
        up.add_bytes("/c", b"c")
        threads = [threading.Thread(target=_get, args=(up.url + "/c",)) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert up.count("/c") == 20


def test_delay_holds_the_response(blob: Path) -> None:
    with Upstream() as up:
        up.add_file("/slow", blob)
        up.add_delay("/slow", 0.6)
        t0 = time.monotonic()
        status, _, body = _get(up.url + "/slow")
        assert status == 200 and len(body) == 102400
        assert time.monotonic() - t0 >= 0.55
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            _get(up.url + "/slow", timeout=0.2)


def test_drip_sends_slowly_with_length() -> None:
    with Upstream() as up:
        up.add_drip("/drip", b"abcdefgh", chunk=2, interval=0.1)
        t0 = time.monotonic()
        status, headers, body = _get(up.url + "/drip")
        assert (status, body) == (200, b"abcdefgh")
        assert headers["content-length"] == "8"
        assert time.monotonic() - t0 >= 0.25


def test_endless_thread_ends_when_client_hangs_up() -> None:
    with Upstream() as up:
        up.add_endless("/endless")
        conn = http.client.HTTPConnection("127.0.0.1", up.port, timeout=5)
        conn.request("GET", "/endless")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Length") is None
        assert len(resp.read(1_000_000)) == 1_000_000
        assert up.in_flight == 1
        resp.close()
        conn.close()
        assert up.wait_idle(timeout=5), "the endless handler kept running after hang-up"


def test_endless_with_declared_length() -> None:
    with Upstream() as up:
        up.add_endless("/huge", content_length=10**12)
        conn = http.client.HTTPConnection("127.0.0.1", up.port, timeout=5)
        conn.request("GET", "/huge")
        resp = conn.getresponse()
        assert resp.getheader("Content-Length") == str(10**12)
        assert len(resp.read(200_000)) == 200_000
        resp.close()
        conn.close()
        assert up.wait_idle(timeout=5)


def test_close_is_prompt_with_slow_handlers_in_flight() -> None:
    up = Upstream()
    up.add_endless("/endless")
    up.add_delay("/late", 60)
    up.add_drip("/drip", b"x" * 1000, chunk=1, interval=1)
    socks = []
    for path in ("/endless", "/late", "/drip"):
        s = socket.create_connection(("127.0.0.1", up.port))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        socks.append(s)
    socks[0].recv(1000)  # the endless response is streaming
    deadline = time.monotonic() + 5
    while up.in_flight < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert up.in_flight == 3
    t0 = time.monotonic()
    up.close()
    assert time.monotonic() - t0 < 2
    assert up.in_flight == 0
    for s in socks:
        s.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", up.port), timeout=1).close()


def test_cors_headers_and_preflight() -> None:
    with Upstream(cors=True) as up:
        up.add_bytes("/p.m3u8", b"#EXTM3U\n", content_type="application/vnd.apple.mpegurl")
        status, headers, _ = _get(up.url + "/p.m3u8")
        assert status == 200 and headers["access-control-allow-origin"] == "*"
        status, headers, _ = _get(up.url + "/p.m3u8", method="OPTIONS", headers={
            "Origin": "http://127.0.0.1:1", "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-gostreamer-token"})
        assert status == 204
        assert headers["access-control-allow-headers"] == "x-gostreamer-token"
        assert headers["access-control-allow-origin"] == "*"


def test_add_dir_serves_a_tree_and_refuses_escapes(tmp_path: Path) -> None:
    (tmp_path / "hls" / "v0").mkdir(parents=True)
    (tmp_path / "hls" / "v0" / "seg 1.ts").write_bytes(b"ts")
    (tmp_path / "secret").write_bytes(b"no")
    with Upstream() as up:
        up.add_dir("/s", tmp_path / "hls")
        status, headers, body = _get(up.url + "/s/v0/seg%201.ts")
        assert (status, body) == (200, b"ts") and headers["content-type"] == "video/mp2t"
        assert _get(up.url + "/s/%2E%2E/secret")[0] == 404
        assert _get(up.url + "/s/v0/none.ts")[0] == 404


def test_request_bodies_are_recorded_and_keep_alive_survives() -> None:
    with Upstream() as up:
        up.add_status("/v1/playlist", 201, b"{}")
        conn = http.client.HTTPConnection("127.0.0.1", up.port, timeout=5)
        for i in range(2):
            conn.request("POST", "/v1/playlist", body=f"#EXTM3U {i}".encode())
            resp = conn.getresponse()
            assert (resp.status, resp.read()) == (201, b"{}")
        conn.close()
        assert [r.body for r in up.requests] == [b"#EXTM3U 0", b"#EXTM3U 1"]
