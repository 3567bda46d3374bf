"""hlsd's own websocket listener (`websocket.listen`), a real `hlsd serve`: its bounded
upgrade (each bad request with its status), RFC 6455 as a server must speak it (masked
client frames, ping, size bounds as close codes), the URL the registry announces, the
default and explicit listener rules, and ``wss://`` with ``tls``. The protocol itself
over the listener is covered by test_server.py and test_input_bounds.py, which run
against both transports (the slow-spectator policy included)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from hlsd.wscdn._frames import accept_key
from tests._support.hlsd_server import HlsdServer, HlsdStartError, free_port
from tests._support.polling import eventually, wait_until
from tests._support.redis_server import redis_url
from tests._support.tls import make_pki
from tests._support.wscdn import open_session, pull_all, push

_prefixes = itertools.count()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HlsdServer, int]]:
    listen = free_port()
    cfg = {"websocket": {"listen": f"127.0.0.1:{listen}", "max_binary_message": "4KB"},
           "http": {"header_timeout": "1s"}}
    with HlsdServer(cfg, tmp_dir=tmp_path_factory.mktemp("listener")) as server:
        yield server, listen


def _request(path: str = "/ws", *, method: str = "GET", version: str = "13",
             key: str | None = None, upgrade: str = "websocket", extra: str = "") -> bytes:
    key = key if key is not None else "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's example
    return (f"{method} {path} HTTP/1.1\r\nHost: x\r\nUpgrade: {upgrade}\r\n"
            f"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: {version}\r\n{extra}\r\n").encode()


def _exchange(port: int, request: bytes, timeout: float = 5) -> bytes:
    """Send `request`, read until the server closes (or the head of a 101)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.startswith(b"HTTP/1.1 101"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


@pytest.mark.parametrize(("request_bytes", "status"), [
    (_request(path="/other"), b"404"),
    (_request(method="POST"), b"400"),
    (_request(upgrade="h2c"), b"426"),
    (_request(version="8"), b"426"),
    (_request(key="short"), b"400"),
    (_request(key=""), b"400"),
    (b"GET /ws\r\n\r\n", b"400"),
    (b"GET /ws HTTP/1.0\r\n\r\n", b"400"),
    (_request(extra="Bad Header\r\n"), b"400"),
    (_request(extra="X-Long: " + "a" * 20_000 + "\r\n"), b"431"),
], ids=["path", "method", "upgrade", "version", "short-key", "no-key", "http-0.9",
        "http-1.0", "bad-header", "long-headers"])
def test_bad_upgrades_get_a_plain_status_and_are_closed(
        node: tuple[HlsdServer, int], request_bytes: bytes, status: bytes) -> None:
    answer = _exchange(node[1], request_bytes)
    assert answer.split(b" ")[1] == status, answer[:200]
    if status == b"426" and b"version" in request_bytes.lower() and b": 8" in request_bytes:
        assert b"Sec-WebSocket-Version: 13" in answer


def test_a_good_upgrade_and_a_silent_client(node: tuple[HlsdServer, int]) -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    answer = _exchange(node[1], _request(path="/ws?x=1", key=key))
    assert answer.startswith(b"HTTP/1.1 101 ")
    assert f"Sec-WebSocket-Accept: {accept_key(key)}".encode() in answer
    # A connection that never finishes its request is closed after http.header_timeout.
    with socket.create_connection(("127.0.0.1", node[1]), timeout=5) as sock:
        sock.sendall(b"GET /ws HTTP/1.1\r\n")
        assert sock.recv(100) == b""


def test_an_unmasked_client_frame_is_refused_1002(node: tuple[HlsdServer, int]) -> None:
    with socket.create_connection(("127.0.0.1", node[1]), timeout=5) as sock:
        sock.sendall(_request())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        sock.sendall(bytes([0x81, 4]) + b"PULL")  # no mask
        frames = b""
        while chunk := sock.recv(4096):
            frames += chunk
    assert frames[0] == 0x88 and int.from_bytes(frames[2:4], "big") == 1002


async def test_oversize_is_the_protocols_error_then_1009_and_ping_is_answered(
        node: tuple[HlsdServer, int], fragments: list[bytes]) -> None:
    url = f"ws://127.0.0.1:{node[1]}/ws"
    pub, answer = await open_session(url, "PUSH", "oversize")
    assert answer == ("OK", {})
    await asyncio.wait_for(await pub.ping(), 5)  # the pong comes back
    await pub.send("F:duration=1")
    await pub.send(fragments[0])  # past max_binary_message (4 KB)
    assert "Message+too+large" in str(await asyncio.wait_for(pub.recv(), 5))
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(pub.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_the_registry_announces_the_listener_and_relays_use_it(
        tmp_path: Path, fragments: list[bytes]) -> None:
    listen = free_port()
    with redis_url() as registry:
        prefix = f"listener{next(_prefixes)}:"
        shared = {"redis_url": registry, "registry_prefix": prefix, "refresh_interval": "2s"}
        one = HlsdServer({"websocket": {"listen": f"127.0.0.1:{listen}"},
                          "cluster": {**shared, "node_id": "one"}}, tmp_dir=tmp_path / "one")
        two = HlsdServer({"websocket": {"listen": None},
                          "cluster": {**shared, "node_id": "two"}}, tmp_dir=tmp_path / "two")
        with one, two:
            pub, answer = await open_session(f"ws://127.0.0.1:{listen}/ws", "PUSH", "cam")
            assert answer == ("OK", {})
            await push(pub, fragments[:2])
            db = redis.Redis.from_url(registry, decode_responses=True)

            async def announced() -> bool:
                return db.get(f"{prefix}cam") == f"ws://127.0.0.1:{listen}/ws"
            await eventually(announced)
            # Node two finds the stream in the registry and relays it from the listener.
            viewer, answer = await open_session(f"ws://127.0.0.1:{two.port}/ws", "PULL", "cam")
            assert answer == ("OK", {})
            receiving = asyncio.create_task(pull_all(viewer, timeout=20))
            await push(pub, fragments[2:4], pace=0.3)
            await pub.send("CLOSE")
            got = await receiving
            assert got.closed and got.fragments[-1][1] == fragments[3]
            await pub.close()
            await viewer.close()


@contextlib.contextmanager
def _taken(port: int) -> Iterator[None]:
    """`port` held on 127.0.0.1 by this test. Other tests' servers take the default
    ports while they run (and let them go): one holding it now would let it go before
    the server under test starts, so the port is waited for, then held."""
    sock = socket.socket()

    def bound() -> bool:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True

    try:
        wait_until(bound, 120, f"port {port} free to hold")
        sock.listen()
        yield
    finally:
        sock.close()


async def test_a_default_listener_whose_port_is_taken_is_skipped_with_one_warning(
        tmp_path: Path, fragments: list[bytes]) -> None:
    with _taken(8090), HlsdServer({}, tmp_dir=tmp_path) as server:
        log = server.log_path.read_text()
        warnings = [line for line in log.splitlines()
                    if "WEBSOCKET cannot listen on 127.0.0.1:8090" in line]
        assert len(warnings) == 1 and "WARNING" in warnings[0]
        assert "websocket.listen" in warnings[0]
        pub, answer = await open_session(f"ws://127.0.0.1:{server.port}/ws", "PUSH", "still")
        assert answer == ("OK", {})  # /ws on the main port serves
        await pub.close()


def test_an_explicit_listener_whose_port_is_taken_stops_the_start(tmp_path: Path) -> None:
    port = free_port()
    with _taken(port):
        server = HlsdServer({"websocket": {"listen": f"127.0.0.1:{port}"}}, tmp_dir=tmp_path)
        with pytest.raises(HlsdStartError, match=rf"WEBSOCKET cannot listen on 127.0.0.1:{port}"
                                                 r".*websocket\.listen"):
            server.start()


async def test_wss_with_tls(tmp_path: Path, fragments: list[bytes]) -> None:
    pki = make_pki(tmp_path / "pki")
    listen = free_port()
    cfg = {"tls": pki.settings, "websocket": {"listen": f"127.0.0.1:{listen}"}}
    with HlsdServer(cfg, tmp_dir=tmp_path / "node", client_tls=pki.client_context()):
        url = f"wss://127.0.0.1:{listen}/ws"
        with pytest.raises(Exception):  # noqa: B017 - plain ws to a TLS port: no upgrade
            await connect(f"ws://127.0.0.1:{listen}/ws", open_timeout=3)
        pub = await connect(url, ssl=pki.client_context(), max_size=None)
        await pub.send("PUSH:stream=secure")
        assert await asyncio.wait_for(pub.recv(), 5) == "OK"
        viewer = await connect(url, ssl=pki.client_context(), max_size=None)
        await viewer.send("PULL:stream=secure&max_initial_fragments=0")
        assert await asyncio.wait_for(viewer.recv(), 5) == "OK"
        receiving = asyncio.create_task(pull_all(viewer, until=2, timeout=20))
        await push(pub, fragments[:2], pace=0.1)
        assert [data for _, data, _ in (await receiving).fragments] == fragments[:2]
        await pub.close()
        await viewer.close()
