"""One resolver for every consumer. Its order (hub, channel feed, relay, none) on a
real hub with stand-ins for the feeds and relays; then across real nodes: ffmpeg pushes
over HTTP to node one; node two (sharing a real Redis registry) plays the stream at
``/live/`` and records it, through a relay that stays while it is watched or recorded
and closes after."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import m3u8
import pytest

from hlsd.cluster.resolver import FOLLOW_EVERY, Origin, Resolved, StreamResolver
from hlsd.hls.check import assert_valid
from hlsd.streams import PublisherKind, PublishPolicy, Stream, StreamHub
from tests._support import media as fx
from tests._support.clock import FakeClock
from tests._support.hlsd_server import HlsdServer, free_port
from tests._support.polling import eventually, wait_segments, wait_until
from tests._support.publisher import LivePublisher
from tests._support.redis_server import redis_url

KEY = "publish-secret"
INACTIVITY = 1.0
"""`cluster.relay_inactivity`: an unwatched relay closes after twice this."""
_prefixes = itertools.count()


class _Source:
    """A stand-in channel feed or relay: the streams it has, and who asked it what."""

    def __init__(self, hub: StreamHub, kind: PublisherKind, has: tuple[str, ...] = ()) -> None:
        self._hub = hub
        self._kind = kind
        self.has = set(has)
        self.asked: list[tuple[str, tuple[str, ...], float | None]] = []
        self.gate: asyncio.Event | None = None

    async def find(self, name: str, via: tuple[str, ...] = (),
                   wait: float | None = None) -> Stream | None:
        self.asked.append((name, via, wait))
        if self.gate is not None:
            await self.gate.wait()
        if name not in self.has:
            return None
        return _publish(self._hub, name, f"{self._kind}:{name}", self._kind)


def _publish(hub: StreamHub, name: str, publisher: str, kind: PublisherKind) -> Stream:
    producer = hub.producer(name, publisher, kind=kind)
    producer.publish()
    assert producer.stream is not None
    return producer.stream


def _resolver(feeds: tuple[str, ...] = (), relays: tuple[str, ...] = (),
              clock: FakeClock | None = None, max_player_lookups: int = 64,
              ) -> tuple[StreamHub, _Source, _Source, StreamResolver]:
    hub = StreamHub(window=3, policy=PublishPolicy.REJECT, idle_timeout=10, retention=60,
                    max_streams=100)
    feed = _Source(hub, PublisherKind.CHANNEL, feeds)
    relay = _Source(hub, PublisherKind.RELAY, relays)
    resolver = StreamResolver(hub=hub, feeds=feed, relays=relay, player_wait=3.0,
                              max_player_lookups=max_player_lookups,
                              clock=clock or FakeClock())
    return hub, feed, relay, resolver


async def test_the_hub_comes_first() -> None:
    hub, feed, relay, resolver = _resolver(feeds=("cam",), relays=("cam",))
    local = _publish(hub, "cam", "ffmpeg", PublisherKind.HTTP)
    assert await resolver.resolve("cam") == Resolved(local, Origin.LOCAL)
    assert feed.asked == relay.asked == []


async def test_a_channel_comes_before_a_relay() -> None:
    _, feed, relay, resolver = _resolver(feeds=("news",), relays=("news",))
    found = await resolver.resolve("news")
    assert found is not None and found.origin is Origin.CHANNEL
    assert found.stream.kind is PublisherKind.CHANNEL
    assert feed.asked == [("news", (), None)] and relay.asked == []


async def test_a_relay_comes_last_with_the_requests_chain() -> None:
    hub, feed, relay, resolver = _resolver(relays=("cam",))
    _publish(hub, "cam", "ffmpeg", PublisherKind.HTTP).end()  # ended here: not live
    found = await resolver.resolve("cam", ("node-a",))
    assert found is not None and found.origin is Origin.RELAY
    assert found.stream.kind is PublisherKind.RELAY
    assert [a[0] for a in feed.asked] == ["cam"]
    assert relay.asked == [("cam", ("node-a",), None)]
    assert await resolver.find("cam") is found.stream  # now live in the hub


async def test_nothing_has_it() -> None:
    _, feed, relay, resolver = _resolver()
    assert await resolver.resolve("ghost") is None
    assert await resolver.find("ghost") is None
    assert len(feed.asked) == len(relay.asked) == 2


async def test_http_players_get_a_relay_never_a_feed() -> None:
    hub, feed, relay, resolver = _resolver(feeds=("cam", "news"), relays=("cam",))
    stream = await resolver.resolve_for_players("cam")
    assert stream is not None and stream.kind is PublisherKind.RELAY
    assert feed.asked == [] and relay.asked == [("cam", (), 3.0)]  # a bounded wait
    assert await resolver.resolve_for_players("cam") is stream  # live in the hub now
    assert len(relay.asked) == 1
    # A channel's feed in the hub is not for players (they get its playlists computed).
    _publish(hub, "news", "channel:news", PublisherKind.CHANNEL)
    assert await resolver.resolve_for_players("news") is None
    assert feed.asked == []


async def test_names_looked_up_for_players_at_once_are_bounded() -> None:
    _, _, relay, resolver = _resolver(max_player_lookups=2)
    relay.gate = asyncio.Event()
    waiting = [asyncio.create_task(resolver.resolve_for_players(name))
               for name in ("a", "b", "a")]
    await eventually(lambda: len(relay.asked) == 3, what="three lookups waiting")
    assert await resolver.resolve_for_players("c") is None  # a third name: refused
    assert len(relay.asked) == 3
    relay.gate.set()
    assert await asyncio.gather(*waiting) == [None, None, None]
    relay.gate = None
    assert await resolver.resolve_for_players("c") is None
    assert [a[0] for a in relay.asked] == ["a", "b", "a", "c"]  # room again


async def test_recorded_streams_not_on_air_are_looked_up_again_now_and_then() -> None:
    clock = FakeClock()
    hub, feed, relay, resolver = _resolver(clock=clock)
    _publish(hub, "here", "ffmpeg", PublisherKind.HTTP)
    resolver.follow(["here", "cam"])  # "here" is live: only "cam" is looked up
    await eventually(lambda: len(relay.asked) == 1, what="a lookup of cam")
    assert relay.asked[0][0] == "cam" and [a[0] for a in feed.asked] == ["cam"]
    clock.advance(FOLLOW_EVERY / 2)
    resolver.follow(["here", "cam"])
    clock.advance(FOLLOW_EVERY / 2)
    relay.has.add("cam")  # its publisher is back on another node
    resolver.follow(["here", "cam"])
    await eventually(lambda: hub.get("cam") is not None, what="cam relayed again")
    assert len(relay.asked) == 2
    clock.advance(FOLLOW_EVERY)
    resolver.follow(["here", "cam"])  # live now: left alone
    await resolver.close()
    assert len(relay.asked) == 2


def _node(folder: Path, name: str, redis: str, prefix: str) -> HlsdServer:
    port = free_port()
    return HlsdServer({
        "live": {"window": 4, "idle_timeout": "5s", "publish_keys": [KEY]},
        "websocket": {"fragment_buffer": 4},
        "recording": {"reach_back": "10s"},
        "cluster": {"redis_url": redis, "registry_prefix": prefix, "refresh_interval": "2s",
                    "external_url": f"ws://127.0.0.1:{port}/ws", "node_id": name,
                    "relay_inactivity": f"{INACTIVITY:g}s", "relay_connect_timeout": "2s"},
    }, tmp_dir=folder / name, port=port)


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HlsdServer, HlsdServer]]:
    folder = tmp_path_factory.mktemp("resolver")
    prefix = f"resolver{next(_prefixes)}:"
    with redis_url() as redis, _node(folder, "one", redis, prefix) as one, \
            _node(folder, "two", redis, prefix) as two:
        yield one, two


def _push(server: HlsdServer, stream: str) -> LivePublisher:
    return LivePublisher(f"{server.url}/ingest/{stream}",
                         headers={"Authorization": f"Bearer {KEY}"}, size="320x240")


def _listed(server: HlsdServer, stream: str) -> dict[str, Any] | None:
    streams = httpx.get(f"{server.url}/api/streams", timeout=10).json()["streams"]
    return next((s for s in streams if s["name"] == stream and s["state"] == "live"), None)


def _relayed(one: HlsdServer, two: HlsdServer, stream: str) -> bool:
    """Whether node two relays `stream` from node one now: its copy is live, and node
    one counts the relay's connection as a spectator."""
    source, copy = _listed(one, stream), _listed(two, stream)
    return bool(source and source["spectators"] == 1 and copy
                and copy["publisher"] == "relay")


def _closed(one: HlsdServer, two: HlsdServer, stream: str) -> bool:
    source = _listed(one, stream)
    return _listed(two, stream) is None and source is not None and source["spectators"] == 0


def _relay_closes(server: HlsdServer, stream: str) -> int:
    """How often `server` has closed a relay of `stream` as unwatched."""
    return server.log_text().count(f"relay of {stream!r}: closed after")


def _recorded(c: httpx.Client, recording: str) -> int:
    count: int = c.get(f"/api/recordings/{recording}").json()["segments"]
    return count


def test_a_stream_pushed_to_one_node_plays_over_http_on_another(
        nodes: tuple[HlsdServer, HlsdServer]) -> None:
    one, two = nodes
    with _push(one, "cam-http") as pub, httpx.Client(base_url=two.url, timeout=30) as c:
        with httpx.Client(base_url=one.url, timeout=10) as origin:
            wait_segments(origin, "/live/cam-http/index.m3u8", 2)
        assert _listed(one, "cam-http")["publisher"] == "http"  # type: ignore[index]
        url = "/live/cam-http/index.m3u8"
        # The first request starts the relay and waits for its first playlist.
        previous = wait_segments(c, url, 1)
        assert _listed(two, "cam-http")["publisher"] == "relay"  # type: ignore[index]
        for _ in range(4):  # reloads as a player makes them: every rule holds across them
            wait_until(lambda p=previous: c.get(url).text != p, 10, "a newer playlist")
            text = c.get(url).text
            assert_valid(text, live=True, previous=previous)
            previous = text
        assert m3u8.loads(previous).segments, previous
        assert fx.decode_errors(f"{two.url}{url}", seconds=4) == ""
        assert _relayed(one, two, "cam-http")
        assert _relay_closes(two, "cam-http") == 0, "closed while players asked for it"
        # Nobody plays it on node two any more: its relay closes, the push goes on.
        wait_until(lambda: _closed(one, two, "cam-http"), 10 * INACTIVITY + 10,
                   "the relay closed once its players left")
        assert _relay_closes(two, "cam-http") == 1
        assert pub.running


def test_a_stream_pushed_to_one_node_is_recorded_on_another(
        nodes: tuple[HlsdServer, HlsdServer]) -> None:
    one, two = nodes
    with _push(one, "cam-rec"), httpx.Client(base_url=two.url, timeout=30) as c:
        with httpx.Client(base_url=one.url, timeout=10) as origin:
            wait_segments(origin, "/live/cam-rec/index.m3u8", 2)
        # Nothing plays it on node two: the recording alone starts the relay.
        started = c.post("/api/streams/cam-rec/recordings", json={})
        assert started.status_code == 201, started.text
        rid = started.json()["id"]
        wait_until(lambda: _relayed(one, two, "cam-rec"), 15, "the recording's relay")
        # Well past the time an unwatched relay lasts (twice the inactivity period and
        # the checks' period), the recording still gets segments through it.
        wait_until(lambda: _recorded(c, rid) >= 8, 30, "eight recorded segments")
        assert _relayed(one, two, "cam-rec")
        assert _relay_closes(two, "cam-rec") == 0, "closed while recorded"
        stopped = c.post(f"/api/recordings/{rid}/stop")
        assert stopped.status_code == 200 and stopped.json()["active"] is False
        replay = c.get(f"/recordings/{rid}/index.m3u8").text
        assert_valid(replay)
        assert len(m3u8.loads(replay).segments) >= 8
        assert "#EXT-X-DISCONTINUITY" not in replay  # one relay session throughout
        assert fx.decode_errors(f"{two.url}/recordings/{rid}/index.m3u8") == ""
        # Stopped, and nobody plays it there: the relay closes.
        wait_until(lambda: _closed(one, two, "cam-rec"), 10 * INACTIVITY + 10,
                   "the relay closed once its recording stopped")
        assert _relay_closes(two, "cam-rec") == 1
