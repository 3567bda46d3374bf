"""The console overview's event stream, over real HTTP against a real hlsd with streams
pushed by ffmpeg: the first event at once, a new one when a stream starts, the admin
rule, the bound on pages following; and in process, one snapshot per tick shared by
every follower. Live thumbnails are checked here too (they ride the same streams)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from hlsd.console import Overview
from hlsd.console.overview import MAX_FOLLOWERS
from hlsd.infra.recent_log import RecentLog
from hlsd.streams import PublisherKind, PublishPolicy, StreamHub
from tests._support.hlsd_server import HlsdServer
from tests._support.polling import eventually, wait_until
from tests._support.publisher import LivePublisher

FORWARDED = {"x-forwarded-for": "203.0.113.9"}
"""From the trusted proxy on this host, for a client elsewhere: no loopback admin."""
EVENTS = "/api/console/events"


def _on_air(server: HlsdServer, stream: str) -> bool:
    return httpx.get(f"{server.url}/live/{stream}/index.m3u8", timeout=5).status_code == 200


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    """No admin key (loopback is admin), the proxy on this host trusted, and one stream
    on air."""
    root = tmp_path_factory.mktemp("overview-events")
    with HlsdServer({"trusted_proxies": ["127.0.0.1"], "rtmp": {"listen": None},
                     "srt": {"listen": None}, "websocket": {"listen": None}},
                    tmp_dir=root / "node") as hlsd, \
            LivePublisher(f"{hlsd.url}/ingest/cam-a", size="640x360", audio=False,
                          log_path=root / "cam-a.log"):
        wait_until(lambda: _on_air(hlsd, "cam-a"), timeout=30, what="cam-a on air")
        yield hlsd


async def _events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The overview events of a text/event-stream answer, parsed."""
    name, data = "message", []
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            assert name == "overview"
            yield json.loads("\n".join(data))
            name, data = "message", []


@asynccontextmanager
async def _follow(client: httpx.AsyncClient) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
    async with client.stream("GET", EVENTS) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield _events(response)


def _streams(event: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in event["streams"]}


async def test_the_first_event_lists_the_live_streams_and_a_new_stream_makes_another(
        server: HlsdServer, tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client, \
            _follow(client) as events:
        first = await asyncio.wait_for(anext(events), 5)  # at once, not after a tick
        cam = _streams(first)["cam-a"]
        assert cam["state"] == "live" and cam["publisher"] == "http"
        assert cam["bitrate"] > 0 and cam["viewers"] == 0
        assert cam["newest"] and cam["variants"][0]["bitrate"] > 0
        assert cam["playlist"] == "/live/cam-a/index.m3u8"
        node = first["node"]
        assert node["status"] == "ok"
        assert {b["state"] for b in node["backends"].values()} == {"up"}
        assert {"database", "object store"} <= set(node["backends"])
        assert node == httpx.get(f"{server.url}/api/health").json()
        assert first["publish"] == {"key_required": False}
        assert all(set(e) == {"time", "level", "logger", "message"} for e in first["errors"])

        with LivePublisher(f"{server.url}/ingest/cam-b", size="320x180", audio=False,
                           log_path=tmp_path / "cam-b.log"):
            async def second_listed() -> dict[str, Any]:
                async for event in events:
                    if "cam-b" in _streams(event):
                        return event
                raise AssertionError("the events ended")
            event = await asyncio.wait_for(second_listed(), 30)
        assert _streams(event)["cam-a"]["state"] == "live"


async def test_it_refuses_a_client_elsewhere_without_the_admin_key(server: HlsdServer,
                                                                   ) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        for path in (EVENTS, "/api/streams/cam-a/thumbnail.jpg"):
            refused = await client.get(path, headers=FORWARDED)
            assert refused.status_code == 403, path
            assert "admin key" in refused.json()["error"]


async def test_the_pages_following_are_bounded(server: HlsdServer) -> None:
    limits = httpx.Limits(max_connections=MAX_FOLLOWERS + 8)
    async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:
        responses = [await client.send(client.build_request("GET", EVENTS), stream=True)
                     for _ in range(MAX_FOLLOWERS)]
        try:
            assert {r.status_code for r in responses} == {200}
            refused = await client.get(EVENTS)
            assert refused.status_code == 503
            assert "overview pages" in refused.json()["error"]
        finally:
            for response in responses:
                await response.aclose()

        # Pages that went away leave their places (seen at their next event).
        async def room() -> bool:
            async with client.stream("GET", EVENTS) as response:
                return response.status_code == 200
        await eventually(room, timeout=20, what="a place again")


async def test_thumbnails_are_the_newest_picture_and_made_once_per_segment(
        server: HlsdServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        pictures = await asyncio.gather(*(client.get("/api/streams/cam-a/thumbnail.jpg")
                                          for _ in range(4)))
        for picture in pictures:
            assert picture.status_code == 200
            assert picture.headers["content-type"] == "image/jpeg"
        with av.open(io.BytesIO(pictures[0].content)) as image:
            frame = next(image.decode(video=0))
        assert (frame.width, frame.height) == (320, 180)

        metrics = (await client.get("/metrics")).text
        assert 'hlsd_cache_entries{cache="console-thumbnails"}' in metrics

        missing = await client.get("/api/streams/nobody/thumbnail.jpg")
        assert missing.status_code == 404
        assert missing.json() == {"error": "stream 'nobody' is not live on this node"}


async def test_one_snapshot_per_tick_is_shared_by_every_follower() -> None:
    hub = StreamHub(window=6, policy=PublishPolicy.REJECT, idle_timeout=15, retention=60,
                    max_streams=10)
    overview = Overview(hub=hub, describe=lambda s: {"name": s.name, "variants": []},
                        health=lambda: {"status": "ok"}, recent=RecentLog(),
                        publish_key_required=False, interval=0.02)
    followers = [overview.follow() for _ in range(20)]
    assert overview.builds == 1  # the first follower's; the others share it
    firsts = [await f.next(1) for f in followers]
    assert len({id(first) for first in firsts}) == 1  # one bytes object for everyone

    ticking = asyncio.create_task(overview.run())
    try:
        producer = hub.producer("cam", "p", kind=PublisherKind.HTTP)
        producer.publish()
        seconds = await asyncio.gather(*(f.next(2) for f in followers))
        assert seconds[0] is not None and b'"cam"' in seconds[0]
        assert len({id(second) for second in seconds}) == 1
        builds = overview.builds
        await asyncio.sleep(0.2)  # ten ticks, nothing changing
        assert overview.builds - builds <= 12  # per tick, not per follower
        assert await followers[0].next(0.05) is None  # no change: nothing sent
    finally:
        ticking.cancel()
    for follower in followers:
        follower.close()
    assert overview.followers == 0


async def test_a_thumbnail_is_made_once_per_segment_and_says_why_there_is_none(
        tmp_path: Path) -> None:
    """In process: racing requests share one picture; a stream without video is a
    `NoThumbnail` that says so, and its segment is not decoded again."""
    from concurrent.futures import ThreadPoolExecutor

    from hlsd.console import NoThumbnail, Thumbnails
    from hlsd.infra.cache import Caches
    from tests._support.media import hls_folder
    from tests.media.test_still import AUDIO, VIDEO

    video = (hls_folder(tmp_path / "video", *VIDEO) / "seg-0.ts").read_bytes()
    audio = (hls_folder(tmp_path / "audio", *AUDIO) / "seg-0.ts").read_bytes()
    hub = StreamHub(window=6, policy=PublishPolicy.REJECT, idle_timeout=15, retention=60,
                    max_streams=10)
    for name, data in (("cam", video), ("radio", audio)):
        producer = hub.producer(name, "p", kind=PublisherKind.HTTP)
        producer.publish()
        producer.append("", duration=1.0, data=data)
    caches = Caches()
    with ThreadPoolExecutor(2) as executor:
        thumbnails = Thumbnails(hub=hub, executor=executor,
                                cache=caches.for_bytes("console-thumbnails", 1 << 20))
        pictures = await asyncio.gather(*(thumbnails.of("cam") for _ in range(5)))
        assert len(set(pictures)) == 1 and thumbnails.made == 1
        await thumbnails.of("cam")
        assert thumbnails.made == 1  # from the cache
        for _ in range(2):
            with pytest.raises(NoThumbnail, match="'radio' carries no video"):
                await thumbnails.of("radio")
        assert thumbnails.made == 2
        with pytest.raises(NoThumbnail, match="not live"):
            await thumbnails.of("nobody")
    assert {cache.name: len(cache) for cache in caches} == {"console-thumbnails": 2}
