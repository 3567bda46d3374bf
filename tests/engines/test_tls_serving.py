"""HTTPS served by hlsd itself, a real `hlsd serve` with a certificate of the test's own
CA: on granian HTTP/2 and HTTP/1.1 chosen by ALPN (Apple's players need HTTP/2 for
LL-HLS), many requests multiplexed over one connection, the websocket CDN at ``wss://``;
on uvicorn HTTP/1.1 only, said at start. The README's TLS section runs as written."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h2.settings
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from hlsd.hls.check import assert_valid
from tests._support.fragments import ts_fragments
from tests._support.hlsd_server import REPO_ROOT, HlsdServer, free_port
from tests._support.polling import eventually
from tests._support.tls import Pki, make_pki

DEADLINE = 2.0
SLACK = 6.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def granian(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    cfg = {"tls": pki.settings, "live": {"window": 4}}
    with HlsdServer(cfg, tmp_dir=tmp_path_factory.mktemp("granian"),
                    client_tls=pki.client_context()) as server:
        yield server


@pytest.fixture(scope="module")
def fragments(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    return ts_fragments(tmp_path_factory.mktemp("fragments"), count=4)


def _client(pki: Pki, server: HlsdServer, *, http2: bool = True) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, http2=http2, verify=pki.client_context(),
                             timeout=10)


async def test_alpn_gives_http2_to_who_offers_it_and_http1_to_the_rest(
        pki: Pki, granian: HlsdServer) -> None:
    async with _client(pki, granian) as h2_client:
        health = await h2_client.get("/api/health")
        assert (health.status_code, health.http_version) == (200, "HTTP/2")
        missing = await h2_client.get("/live/nothing-here/index.m3u8")
        assert (missing.status_code, missing.http_version) == (404, "HTTP/2")
        assert missing.json() == {"error": "no such live stream"}
    async with _client(pki, granian, http2=False) as h1_client:
        health = await h1_client.get("/api/health")
        assert (health.status_code, health.http_version) == (200, "HTTP/1.1")


async def test_requests_go_on_while_one_is_in_progress_on_the_same_connection(
        pki: Pki, granian: HlsdServer) -> None:
    """Multiplexed, not queued: an upload is held half-sent on one stream while fifty
    requests are answered on others of the same connection."""
    release = asyncio.Event()

    async def held_body() -> AsyncIterator[bytes]:
        yield b"\x47" + b"\xff" * 187
        await release.wait()
        yield b"\x47" + b"\xff" * 187

    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(base_url=granian.url, http2=True, limits=limits,
                                 verify=pki.client_context(), timeout=10) as c:
        first = await c.get("/api/health")
        upload = asyncio.create_task(c.put("/ingest/held/seg-0.ts", content=held_body()))
        answers = await asyncio.gather(*(c.get("/api/health") for _ in range(50)))
        assert not upload.done()
        release.set()
        uploaded = await upload
    assert uploaded.status_code in (201, 202), uploaded.text
    every = [first, uploaded, *answers]
    assert {r.http_version for r in every} == {"HTTP/2"}
    assert all(r.status_code == 200 for r in answers)
    assert len({id(r.extensions["network_stream"]) for r in every}) == 1
    assert len({r.extensions["stream_id"] for r in every}) == len(every)


def test_the_server_bounds_streams_and_headers_and_offers_no_websockets_over_http2(
        pki: Pki, granian: HlsdServer) -> None:
    """The server's SETTINGS frame, read with the h2 library: at most 100 streams at
    once, 64 KiB of headers, and no RFC 8441 (websocket clients use HTTP/1.1)."""
    with socket.create_connection(("127.0.0.1", granian.port), timeout=10) as raw, \
            pki.client_context(alpn=["h2"]).wrap_socket(
                raw, server_hostname="127.0.0.1") as tls:
        assert tls.selected_alpn_protocol() == "h2"
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        tls.sendall(conn.data_to_send())
        changed: dict[int, int] = {}
        while not changed:
            data = tls.recv(65536)
            assert data, "the server closed before its SETTINGS"
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RemoteSettingsChanged):
                    changed = {key: value.new_value
                               for key, value in event.changed_settings.items()}
    codes = h2.settings.SettingCodes
    assert changed[codes.MAX_CONCURRENT_STREAMS] == 100
    assert changed[codes.MAX_HEADER_LIST_SIZE] == 64 * 1024
    assert not changed.get(codes.ENABLE_CONNECT_PROTOCOL)


async def _wss(pki: Pki, server: HlsdServer, first: str) -> tuple[ClientConnection, str]:
    """A websocket at ``wss://…/ws`` offering HTTP/1.1 in ALPN, as browsers do for
    websockets, with its first answer to `first` (heartbeats skipped)."""
    url = server.url.replace("https://", "wss://") + "/ws"
    ws = await connect(url, ssl=pki.client_context(alpn=["http/1.1"]), max_size=None)
    assert ws.transport.get_extra_info("ssl_object").selected_alpn_protocol() == "http/1.1"
    await ws.send(first)
    while (answer := str(await asyncio.wait_for(ws.recv(), 10))) == "H":
        pass
    return ws, answer


async def test_the_websocket_cdn_over_wss_and_its_stream_over_http2(
        pki: Pki, granian: HlsdServer, fragments: list[bytes]) -> None:
    publisher, answer = await _wss(pki, granian, "PUSH:stream=tls-cam")
    assert answer == "OK"
    for data in fragments[:3]:
        await publisher.send("F:duration=1")
        await publisher.send(data)
    async with _client(pki, granian) as c:
        async def listed() -> bool:
            r = await c.get("/live/tls-cam/index.m3u8")
            return r.status_code == 200 and r.text.count("#EXTINF") >= 3
        await eventually(listed)
        playlist = await c.get("/live/tls-cam/index.m3u8")
        assert playlist.http_version == "HTTP/2"
        assert_valid(playlist.text, live=True)
        uri = next(line for line in playlist.text.splitlines()
                   if line and not line.startswith("#"))
        segment = await c.get(f"/live/tls-cam/{uri}")
        assert (segment.status_code, segment.http_version) == (200, "HTTP/2")
        assert segment.content in fragments[:3]
    spectator, answer = await _wss(pki, granian, "PULL:stream=tls-cam")
    assert answer == "OK"
    assert str(await asyncio.wait_for(spectator.recv(), 10)).startswith("F:duration=")
    assert await asyncio.wait_for(spectator.recv(), 10) in fragments[:3]
    await publisher.send("CLOSE")
    await spectator.close()
    await publisher.close()


def _closed_within(sock: ssl.SSLSocket, within: float) -> float:
    started = time.monotonic()
    sock.settimeout(0.25)
    while time.monotonic() - started < within:
        try:
            if not sock.recv(65536):
                return time.monotonic() - started
        except TimeoutError:
            continue
        except (ssl.SSLError, OSError):
            return time.monotonic() - started
    raise AssertionError(f"the connection was still open after {within} s")


def test_http2_off_serves_http1_over_tls_with_every_deadline(pki: Pki,
                                                             tmp_path: Path) -> None:
    cfg = {"tls": {**pki.settings, "http2": False},
           "http": {"header_timeout": f"{DEADLINE}s", "keep_alive_timeout": f"{DEADLINE}s"}}
    with HlsdServer(cfg, tmp_dir=tmp_path, client_tls=pki.client_context()) as server:
        r = httpx.get(server.url + "/api/health", verify=pki.client_context(), timeout=10)
        assert (r.status_code, r.http_version) == (200, "HTTP/1.1")
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw, \
                pki.client_context(alpn=["h2", "http/1.1"]).wrap_socket(
                    raw, server_hostname="127.0.0.1") as silent:
            assert silent.selected_alpn_protocol() == "http/1.1"
            # Handshake done, then nothing: the header deadline closes it.
            took = _closed_within(silent, DEADLINE + SLACK)
            assert took >= DEADLINE * 0.8


def test_uvicorn_serves_https_over_http1_and_says_http2_needs_granian(
        pki: Pki, tmp_path: Path) -> None:
    """The flags, this time: --tls-cert and --tls-key."""
    with HlsdServer({"server": "uvicorn"}, tmp_dir=tmp_path, client_tls=pki.client_context(),
                    extra_args=["--tls-cert", str(pki.cert), "--tls-key", str(pki.key)],
                    ) as server:
        with httpx.Client(base_url=server.url, http2=True, verify=pki.client_context(),
                          timeout=10) as c:
            r = c.get("/api/health")
            assert (r.status_code, r.http_version) == (200, "HTTP/1.1")

        async def push() -> str:
            ws, answer = await _wss(pki, server, "PUSH:stream=uvicorn-cam")
            await ws.close()
            return answer
        assert asyncio.run(push()) == "OK"
        log = server.log_text()
        assert f"on https://127.0.0.1:{server.port} (uvicorn, HTTP/1.1," in log
        assert "uvicorn serves HTTP/1.1 only: HTTP/2, which Apple's players need" in log


def test_the_readme_tls_section_runs_as_written(pki: Pki, tmp_path: Path) -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## TLS and HTTP/2", 1)[1].split("\n## ", 1)[0]
    script = re.search(r"```sh\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]
    script = script.replace("8443", str(free_port()))
    for name in ("cert.pem", "key.pem", "ca.pem"):
        (tmp_path / name).write_bytes((pki.cert.parent / name).read_bytes())
    env = HlsdServer(tmp_dir=tmp_path).environment()  # this checkout, no HLSD_* inherited
    proc = subprocess.Popen(["bash", "-c", "set -eo pipefail\n" + script], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the server, had the block stopped
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log = tmp_path / "hlsd-tls.log"
    assert proc.returncode == 0, (output, log.read_text() if log.exists() else "")
    assert output.split() == ["2", "1.1"]
