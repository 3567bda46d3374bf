"""``GET /api/streams/{stream}``: one stream, with each variant's measured segment
bitrates (what the console's stream page graphs), whether it has parts, who reads it
and whether playback needs a token; a clear 404 for a stream this node does not have;
admin-gated as the list is. In process: the router, hlsd's error handlers and a hub fed
through a producer, as ingest feeds it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from hlsd.api import streams
from hlsd.api.errors import install_error_handlers
from hlsd.auth.tokens import TokenSigner
from hlsd.config import PlaybackAccess
from hlsd.infra.backends import Backends
from hlsd.streams import PublisherKind, PublishPolicy, StreamHub
from hlsd.streams.rendition import RenditionInfo

ADMIN = {"authorization": "Bearer console-key"}
T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _app(hub: StreamHub, access: PlaybackAccess) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, Backends())
    app.include_router(streams.router(signer=TokenSigner(b"root"), hub=hub,
                                      admin_key="console-key", access=access))
    return app


@pytest.fixture
def hub() -> StreamHub:
    hub = StreamHub(window=4, policy=PublishPolicy.REJECT, idle_timeout=60, retention=60,
                    max_streams=10)
    cam = hub.producer("cam", "publisher-1", kind=PublisherKind.HTTP)
    cam.publish()
    cam.describe("hi", RenditionInfo(bandwidth=2_000_000, resolution=(1280, 720)))
    cam.describe("lo")
    for n, size in enumerate((100_000, 125_000, 150_000)):
        at = T0 + n * timedelta(seconds=2)
        cam.append("hi", duration=2.0, data=bytes(size), program_date_time=at)
        cam.append("lo", duration=2.0, data=bytes(size // 4), program_date_time=at)
    return hub


def _client(hub: StreamHub, access: PlaybackAccess = PlaybackAccess.TOKEN
            ) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(hub, access)),
                             base_url="http://hlsd")


async def test_one_stream_with_its_measured_bitrates(hub: StreamHub) -> None:
    async with _client(hub) as c:
        r = await c.get("/api/streams/cam", headers=ADMIN)
        listing = await c.get("/api/streams", headers=ADMIN)
    assert r.status_code == 200, r.text
    cam = r.json()
    assert cam["name"] == "cam" and cam["state"] == "live" and cam["publisher"] == "http"
    assert cam["parts"] is False and cam["access"] == "token"
    assert cam["spectators"] == 0 and cam["readers"] == 0 and cam["held_requests"] == 0
    assert cam["played_recently"] is False
    assert cam["playlist"] == "/live/cam/index.m3u8"
    hi, lo = cam["variants"]
    assert (hi["name"], hi["resolution"], hi["bandwidth"], hi["segments"]) == (
        "hi", "1280x720", 2_000_000, 3)
    assert hi["offered"] is True and hi["part_target"] is None
    assert [(s["sequence"], s["bitrate"]) for s in hi["segment_rates"]] == [
        (0, 400_000), (1, 500_000), (2, 600_000)]
    assert hi["segment_rates"][1]["at"] == "2026-12-07T12:00:02Z"
    assert lo["bandwidth"] == 150_000  # no BANDWIDTH given: the window's peak, measured
    # The listing says the same of each stream, without the per-segment rates.
    [listed] = listing.json()["streams"]
    assert "segment_rates" not in listed["variants"][0]
    assert listed["access"] == "token" and listed["parts"] is False


async def test_a_stream_this_node_does_not_have_is_a_clear_404(hub: StreamHub) -> None:
    async with _client(hub) as c:
        r = await c.get("/api/streams/nobody", headers=ADMIN)
        control = await c.get("/api/streams/a%01b", headers=ADMIN)
    assert r.status_code == 404
    assert r.json() == {"error": "no stream named 'nobody' is on air on this node"}
    assert control.status_code == 400 and "control" in control.json()["error"]


async def test_it_needs_the_admin_key(hub: StreamHub) -> None:
    async with _client(hub) as c:
        r = await c.get("/api/streams/cam")
    assert r.status_code == 401 and r.json()["error"]


async def test_an_ended_stream_says_so_until_it_is_forgotten(hub: StreamHub) -> None:
    stream = hub.get("cam")
    assert stream is not None
    stream.end()
    async with _client(hub) as c:
        r = await c.get("/api/streams/cam", headers=ADMIN)
    assert r.status_code == 200 and r.json()["state"] == "ended"


async def test_the_token_answer_says_whether_playback_needs_one(hub: StreamHub) -> None:
    for access in PlaybackAccess:
        async with _client(hub, access) as c:
            r = await c.post("/api/streams/cam/token", headers=ADMIN, json={"ttl": 60})
        assert r.status_code == 201 and r.json()["access"] == access.value
        assert r.json()["token"]
