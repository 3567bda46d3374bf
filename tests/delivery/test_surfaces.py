"""Every playback surface of a real hlsd answers through the one responder: one byte
range of every kind of body (a live segment in memory and one spilled to disk, a
recording's segment, an asset's CMAF segment, an MP4 export), 416 past the end, HEAD,
304 for every kind of playlist, and CORS from one implementation on playback paths
and JSON routes alike. (``/hls`` has the same checks in `test_hls`.)"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx
import m3u8
import pytest

from hlsd.hls import parse_master
from tests._support import media as fx
from tests._support.fragments import ts_fragments
from tests._support.hlsd_server import HlsdServer
from tests._support.polling import wait_until

ADMIN = {"authorization": "Bearer adm"}
ORIGIN = "https://player.example"


@dataclass(frozen=True)
class Surfaces:
    server: HlsdServer
    recording: str
    asset: str
    source: str


def _push(c: httpx.Client, stream: str, fragments: list[bytes]) -> None:
    """An encoder's uploads: each fragment, then the playlist naming it."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2",
             "#EXT-X-MEDIA-SEQUENCE:0"]
    for n, data in enumerate(fragments):
        assert c.put(f"/ingest/{stream}/f{n}.ts", content=data).status_code == 201
        lines += ["#EXTINF:1.000000,", f"f{n}.ts"]
        playlist = c.put(f"/ingest/{stream}/index.m3u8", content="\n".join(lines) + "\n")
        assert playlist.status_code == 201, playlist.text


@pytest.fixture(scope="module")
def surfaces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Surfaces]:
    tmp = tmp_path_factory.mktemp("surfaces")
    fragments = ts_fragments(tmp, count=6)
    clip = fx.h264_aac_mp4(tmp / "clip.mp4", seconds=4, size="320x180", gop=50)
    cfg = {"admin_key": "adm", "cors": {"allow_origins": [ORIGIN], "max_age": 77},
           # A small memory bound: the oldest live segments are read from disk.
           "live": {"window": 10, "memory_per_variant": "100KB"},
           "assets": {"segment_duration": 2, "ladder": [
               {"name": "180p", "height": 180, "video_bitrate": "200k",
                "audio_bitrate": "48k"}]}}
    with HlsdServer(cfg, tmp_dir=tmp / "hlsd") as server, \
            httpx.Client(base_url=server.url, timeout=60) as c:
        made = c.post("/api/assets", headers=ADMIN, json={"size": clip.stat().st_size})
        asset = made.json()["id"]
        c.put(f"/api/assets/{asset}/content", headers=ADMIN, content=clip.read_bytes())
        recording = c.post("/api/streams/cam/recordings", headers=ADMIN).json()["id"]
        _push(c, "cam", fragments)
        wait_until(lambda: c.get(f"/api/recordings/{recording}", headers=ADMIN)
                   .json()["segments"] == len(fragments), 30, "every fragment recorded")
        assert c.post(f"/api/recordings/{recording}/stop", headers=ADMIN).status_code == 200
        wait_until(lambda: c.get(f"/api/assets/{asset}", headers=ADMIN).json()["state"]
                   in ("ready", "failed"), 120, "the asset's transcode")
        assert c.get(f"/api/assets/{asset}", headers=ADMIN).json()["state"] == "ready"
        channel = c.post("/api/channels", headers=ADMIN, json={
            "name": "ch", "window": 6, "items": [{"source": {"asset": asset}}]})
        assert channel.status_code == 201, channel.text
        source = c.post("/v1/source", headers=ADMIN,
                        json={"name": "cam", "segment_len": 1}).json()["source"]["id"]
        assert c.put(f"/v1/source/{source}/streaming", headers=ADMIN,
                     params={"new_state": "true"}).status_code == 200
        yield Surfaces(server, recording, asset, source)


@pytest.fixture
def client(surfaces: Surfaces) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=surfaces.server.url, timeout=60) as c:
        yield c


def _uris(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def _bodies(c: httpx.Client, surfaces: Surfaces) -> dict[str, str]:
    """A URL of each kind of body."""
    live = _uris(c.get("/live/cam/index.m3u8").text)
    asset = f"/vod/{surfaces.asset}/"
    variant = parse_master(c.get(asset + "index.m3u8").text).variants[0].uri
    media = m3u8.loads(c.get(asset + variant).text)
    return {
        "live, in memory": f"/live/cam/{live[-1]}",
        "live, spilled to disk": f"/live/cam/{live[0]}",
        "recording": f"/recordings/{surfaces.recording}/1.ts",
        "recording, LiveMix": f"/v1/vod/recording/{surfaces.recording}/2.ts",
        "asset": urljoin(asset + variant, media.segments[0].uri),
        "export": f"/recordings/{surfaces.recording}.mp4",
    }


def test_the_oldest_live_segment_is_read_from_disk(surfaces: Surfaces) -> None:
    spilled = surfaces.server.data_dir / "spill"
    assert list(spilled.rglob("*.ts")), "nothing spilled: the in-memory path alone is tested"


def test_one_range_of_every_kind_of_body(client: httpx.Client, surfaces: Surfaces) -> None:
    for kind, url in _bodies(client, surfaces).items():
        whole = client.get(url)
        assert whole.status_code == 200, (kind, whole.text)
        assert whole.headers["accept-ranges"] == "bytes", kind
        size = len(whole.content)
        assert size > 1000, kind
        part = client.get(url, headers={"range": "bytes=100-299"})
        assert part.status_code == 206, (kind, part.status_code)
        assert part.headers["content-range"] == f"bytes 100-299/{size}", kind
        assert part.content == whole.content[100:300], kind
        tail = client.get(url, headers={"range": "bytes=-188"})
        assert (tail.status_code, tail.content) == (206, whole.content[-188:]), kind
        past = client.get(url, headers={"range": f"bytes={size}-"})
        assert past.status_code == 416 and past.content == b"", kind
        assert past.headers["content-range"] == f"bytes */{size}", kind
        head = client.head(url)
        assert (head.status_code, head.content) == (200, b""), kind
        assert head.headers["content-length"] == str(size), kind
        assert head.headers["content-type"] == whole.headers["content-type"], kind


def test_an_export_is_a_download_that_is_not_kept(client: httpx.Client,
                                                  surfaces: Surfaces) -> None:
    url = f"/recordings/{surfaces.recording}.mp4"
    mp4 = client.get(url)
    assert mp4.headers["content-type"] == "video/mp4"
    assert mp4.headers["cache-control"] == "no-store"
    assert mp4.headers["content-disposition"] == \
        f'attachment; filename="{surfaces.recording}.mp4"'
    assert mp4.content[4:8] == b"ftyp"
    left = list(surfaces.server.dir.rglob("export-*.mp4"))
    assert not left, f"an export's file outlived its answer: {left}"


def _not_modified(c: httpx.Client, url: str) -> None:
    """A 304 for the ETag just served (a channel's playlist may move on in between:
    then it is a newer version, and asked again)."""
    for _ in range(3):
        first = c.get(url)
        assert first.status_code == 200, (url, first.text)
        etag = first.headers["etag"]
        again = c.get(url, headers={"if-none-match": etag})
        if again.status_code == 304:
            assert again.content == b"" and again.headers["etag"] == etag, url
            return
        assert again.status_code == 200 and again.headers["etag"] != etag, url
    raise AssertionError(f"{url}: no 304")


def test_a_304_for_every_kind_of_playlist(client: httpx.Client, surfaces: Surfaces) -> None:
    asset = f"/vod/{surfaces.asset}/"
    variant = parse_master(client.get(asset + "index.m3u8").text).variants[0].uri
    for url in ("/live/cam/index.m3u8", f"/v1/vod/live/{surfaces.source}/vid.m3u8",
                "/live/ch/index.m3u8", "/live/ch/0/index.m3u8",
                f"/recordings/{surfaces.recording}/index.m3u8",
                f"/v1/vod/recording/{surfaces.recording}/vid.m3u8",
                asset + "index.m3u8", asset + variant, asset + "manifest.mpd"):
        _not_modified(client, url)


def test_cors_on_playback_and_json_routes_from_one_implementation(
        client: httpx.Client, surfaces: Surfaces) -> None:
    routes = ("/live/cam/index.m3u8", f"/vod/{surfaces.asset}/index.m3u8",
              f"/recordings/{surfaces.recording}/index.m3u8", "/live/nothing/index.m3u8",
              "/api/health", f"/api/assets/{surfaces.asset}")
    answers = [client.get(url, headers={**ADMIN, "origin": ORIGIN}) for url in routes]
    assert {a.headers["access-control-allow-origin"] for a in answers} == {ORIGIN}
    exposed = {a.headers["access-control-expose-headers"] for a in answers}
    assert len(exposed) == 1 and "etag" in exposed.pop()
    assert all("origin" in a.headers["vary"].lower() for a in answers)
    for url in routes:
        other = client.get(url, headers={**ADMIN, "origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers, url
    for url in ("/live/cam/index.m3u8", "/api/assets"):
        preflight = client.options(url, headers={
            "origin": ORIGIN, "access-control-request-method": "GET",
            "access-control-request-headers": "x-gostreamer-token, range"})
        assert preflight.status_code == 200, url
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        assert preflight.headers["access-control-max-age"] == "77"
        refused = client.options(url, headers={
            "origin": "https://elsewhere.example", "access-control-request-method": "GET"})
        assert refused.status_code == 400 and refused.text == "Disallowed CORS origin"


def test_the_livemix_live_path_serves_the_source_stream(client: httpx.Client,
                                                        surfaces: Surfaces) -> None:
    assert client.get(f"/v1/vod/live/{surfaces.source}/vid.m3u8").text == \
        client.get("/live/cam/index.m3u8").text
    missing = client.get("/v1/vod/live/nope/vid.m3u8", headers={"origin": ORIGIN})
    assert missing.status_code == 404 and missing.json()["error"]
    assert missing.headers["access-control-allow-origin"] == ORIGIN
