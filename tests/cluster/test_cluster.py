"""Several real hlsd nodes on ephemeral ports, a real Redis publish registry, real
websocket publishers and spectators: registry pulls, relay chains, reconnecting relays,
loops and stale registry entries."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests._support.hlsd_server import HlsdServer, free_port
from tests._support.polling import eventually
from tests._support.redis_server import redis_url
from tests._support.wscdn import open_session, pull_all, push

_prefixes = itertools.count()


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    with redis_url() as url:
        yield url


def node(tmp_path: Path, name: str, **cluster: Any) -> HlsdServer:
    port = free_port()
    cfg = {"live": {"window": 4, "idle_timeout": "5s"},
           "websocket": {"fragment_buffer": 4},
           "cluster": {"external_url": f"ws://127.0.0.1:{port}/ws", "node_id": name,
                       "relay_inactivity": "2s", "relay_connect_timeout": "2s", **cluster}}
    return HlsdServer(cfg, tmp_dir=tmp_path / name, port=port)


def ws(server: HlsdServer) -> str:
    return f"ws://127.0.0.1:{server.port}/ws"


async def publish(server: HlsdServer, stream: str):  # type: ignore[no-untyped-def]
    pub, answer = await open_session(ws(server), "PUSH", stream)
    assert answer == ("OK", {}), answer
    return pub


async def test_push_on_one_node_pull_from_another_through_the_registry(
        tmp_path: Path, registry: str, fragments: list[bytes]) -> None:
    prefix = f"t{next(_prefixes)}:"
    shared = {"redis_url": registry, "registry_prefix": prefix, "refresh_interval": "2s"}
    with node(tmp_path, "one", **shared) as one, node(tmp_path, "two", **shared) as two:
        pub = await publish(one, "room/cam")
        await push(pub, fragments[:2])
        db = redis.Redis.from_url(registry, decode_responses=True)
        for _ in range(50):
            if db.get(f"{prefix}room/cam"):
                break
            await asyncio.sleep(0.1)
        assert db.get(f"{prefix}room/cam") == ws(one)
        assert 0 < db.ttl(f"{prefix}room/cam") <= 4  # twice the refresh interval
        viewer, answer = await open_session(ws(two), "PULL", "room/cam")
        assert answer == ("OK", {})
        receiving = asyncio.create_task(pull_all(viewer))
        await push(pub, fragments[2:6], pace=0.1)
        await pub.send("CLOSE")
        got = await receiving
        assert got.closed
        assert [d for _, d, _ in got.fragments][-4:] == fragments[2:6]
        for _ in range(50):  # the publisher left: its entry is withdrawn, not left to expire
            if db.get(f"{prefix}room/cam") is None:
                break
            await asyncio.sleep(0.1)
        assert db.get(f"{prefix}room/cam") is None


async def test_a_node_without_external_url_announces_the_port_its_flag_gave(
        tmp_path: Path, registry: str, fragments: list[bytes]) -> None:
    """The worker processes build the app from the environment: `--port` must reach them,
    or the registry would send pullers to the default port. (Without the websocket
    listener, which is announced instead when it runs: tests/wscdn/test_listener.py.)"""
    prefix = f"t{next(_prefixes)}:"
    with HlsdServer({"cluster": {"redis_url": registry, "registry_prefix": prefix},
                     "websocket": {"listen": None}},
                    tmp_dir=tmp_path / "flags", port=free_port()) as one:
        pub = await publish(one, "flagged")
        await push(pub, fragments[:2])
        db = redis.Redis.from_url(registry, decode_responses=True)
        await eventually(lambda: db.get(f"{prefix}flagged"), timeout=10)
        assert db.get(f"{prefix}flagged") == ws(one)
        await pub.close()


async def test_a_three_node_chain(tmp_path: Path, fragments: list[bytes]) -> None:
    with node(tmp_path, "origin") as origin, \
            node(tmp_path, "gateway", relay_from=ws(origin)) as gateway, \
            node(tmp_path, "edge", relay_from=ws(gateway)) as edge:
        pub = await publish(origin, "chain")
        await push(pub, fragments[:2])
        viewer, answer = await open_session(ws(edge), "PULL", "chain")
        assert answer == ("OK", {})
        receiving = asyncio.create_task(pull_all(viewer))  # OK: the relay is on
        await push(pub, fragments[2:6], pace=0.1)
        await pub.send("CLOSE")
        got = await receiving
        assert got.closed and [d for _, d, _ in got.fragments][-4:] == fragments[2:6]


async def test_a_relay_reconnects_after_its_upstream_restarts(
        tmp_path: Path, fragments: list[bytes]) -> None:
    with node(tmp_path, "upstream") as upstream, \
            node(tmp_path, "relay", relay_from=ws(upstream)) as relay:
        pub = await publish(upstream, "cam")
        await push(pub, fragments[:2])
        viewer, answer = await open_session(ws(relay), "PULL", "cam")
        assert answer == ("OK", {})
        first = await pull_all(viewer, until=2, timeout=10)
        assert len(first.fragments) == 2
        upstream.kill()
        upstream.start()
        pub = await publish(upstream, "cam")
        started = time.monotonic()
        receiving = asyncio.create_task(pull_all(viewer, until=3, timeout=20))
        await push(pub, fragments[6:12], pace=0.5)
        got = await receiving
        assert len(got.fragments) == 3, "the spectator kept its connection and got more"
        assert next(d for _, d, _ in got.fragments) in fragments[6:12]
        assert time.monotonic() - started < 15
        await pub.close()


async def test_a_relay_loop_is_stopped(tmp_path: Path) -> None:
    b_port = free_port()
    with node(tmp_path, "a", relay_from=f"ws://127.0.0.1:{b_port}/ws") as a:
        b = node(tmp_path, "b", relay_from=ws(a))
        b.port = b_port
        with b:
            started = time.monotonic()
            viewer, answer = await open_session(ws(a), "PULL", "nowhere")
            assert answer == ("OK", {})
            assert await asyncio.wait_for(viewer.recv(), 20) == "CLOSE"
            assert time.monotonic() - started < 15
            logs = a.log_text() + b.log_text()
        assert "RELAY_LOOP" in logs


async def test_a_stale_registry_entry_is_forgotten(tmp_path: Path, registry: str) -> None:
    prefix = f"t{next(_prefixes)}:"
    db = redis.Redis.from_url(registry, decode_responses=True)
    dead = f"ws://127.0.0.1:{free_port()}/ws"  # nothing listens there
    db.set(f"{prefix}ghost", dead, ex=600)
    with node(tmp_path, "live", redis_url=registry, registry_prefix=prefix) as live:
        started = time.monotonic()
        viewer, answer = await open_session(ws(live), "PULL", "ghost")
        assert answer == ("OK", {}) and await asyncio.wait_for(viewer.recv(), 30) == "CLOSE"
        assert time.monotonic() - started < 20  # not the entry's ten minutes
    assert db.get(f"{prefix}ghost") is None


async def test_a_relay_without_spectators_closes(tmp_path: Path, fragments: list[bytes]) -> None:
    with node(tmp_path, "source") as source, \
            node(tmp_path, "edge", relay_from=ws(source)) as edge:
        pub = await publish(source, "quiet")
        await push(pub, fragments[:2])
        viewer, answer = await open_session(ws(edge), "PULL", "quiet")
        assert answer == ("OK", {})
        assert len((await pull_all(viewer, until=2, timeout=10)).fragments) == 2

        def spectators(server: HlsdServer) -> int:
            listed = httpx.get(f"{server.url}/api/streams").json()["streams"]
            return sum(s["spectators"] for s in listed if s["name"] == "quiet"
                       and s["state"] == "live")

        assert spectators(source) == 1  # the edge's relay: one connection for all
        await viewer.close()
        deadline = time.monotonic() + 15
        while spectators(source) and time.monotonic() < deadline:
            await push(pub, fragments[2:3])  # the stream goes on; only the relay leaves
            await asyncio.sleep(0.5)
        assert spectators(source) == 0
        assert time.monotonic() < deadline
        await pub.close()
