"""Recording and replay, end to end: ffmpeg publishes into a running hlsd, recordings are
started (in the past too), stopped, replayed as HLS, exported as MP4 and deleted, through
the native API and LiveMix's. Replays are checked by ffmpeg, the rule checks, ffprobe
and hls.js."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import av
import httpx
import m3u8
import pytest

from hlsd.hls.check import assert_valid
from hlsd.storage.s3 import S3Store
from tests._support import media as fx
from tests._support.browser import browser_test, describe, play_hls
from tests._support.hlsd_server import HlsdServer
from tests._support.moto import moto_server
from tests._support.polling import wait_segments, wait_until
from tests._support.publisher import LivePublisher

KEY = "publish-secret"
FFPROBE_DURATION = ["-v", "error", "-show_entries", "format=duration", "-of", "json"]


@pytest.fixture(scope="module")
def hlsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    cfg = {"live": {"window": 4, "idle_timeout": "3s", "publish_keys": [KEY],
                    "memory_per_variant": "150KB"},
           "recording": {"reach_back": "30s", "auto": ["auto-*"]}}
    with HlsdServer(cfg, tmp_dir=tmp_path_factory.mktemp("recordings")) as server:
        yield server


def publisher(server: HlsdServer, stream: str, **kw: object) -> LivePublisher:
    return LivePublisher(f"{server.url}/ingest/{stream}",
                         headers={"Authorization": f"Bearer {KEY}"}, size="320x240",
                         **kw)  # type: ignore[arg-type]


def probe_duration(target: str) -> float:
    """The container's duration, from ffprobe when there is one beside ffmpeg, else from
    ffmpeg's own report of the input (the imageio-ffmpeg wheel ships ffmpeg alone)."""
    ffprobe = Path(fx.FFMPEG).with_name("ffprobe")
    if ffprobe.exists():
        out = subprocess.run([str(ffprobe), *FFPROBE_DURATION, target], capture_output=True,
                             text=True, check=True)
        return float(json.loads(out.stdout)["format"]["duration"])
    text = subprocess.run([fx.FFMPEG, "-hide_banner", "-i", target], capture_output=True,
                          text=True, check=False).stderr
    stamp = text.split("Duration: ", 1)[1].split(",", 1)[0]
    hours, minutes, seconds = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def media_durations(text: str) -> float:
    return sum(s.duration for s in m3u8.loads(text).segments)



def _recorded(c: httpx.Client, recording_id: str) -> int:
    """Segments a recording has stored so far."""
    count: int = c.get(f"/api/recordings/{recording_id}").json()["segments"]
    return count

def test_a_recording_started_in_the_past_replays_and_exports(hlsd: HlsdServer) -> None:
    with publisher(hlsd, "cam-rec", duration=30) as pub, \
            httpx.Client(base_url=hlsd.url, timeout=60) as c:
        wait_segments(c, "/live/cam-rec/index.m3u8", 4)
        # Segments that left the 4-segment window: the reach-back must still have them.
        wait_until(lambda: m3u8.loads(c.get("/live/cam-rec/index.m3u8").text)
                   .media_sequence >= 3, 30, "segments leaving the window")
        start = int(time.time()) - 6
        r = c.post("/api/streams/cam-rec/recordings",
                   json={"alias": "goal", "start_time_epoch": start})
        assert r.status_code == 201, r.text
        rec = r.json()
        assert rec["active"] is True and rec["alias"] == "goal" and rec["stream"] == "cam-rec"
        rid = rec["id"]

        # The reach-back segments are stored in the background, oldest first.
        growing = wait_segments(c, f"/recordings/{rid}/index.m3u8", 3)
        assert "#EXT-X-PLAYLIST-TYPE:EVENT" in growing
        assert "#EXT-X-ENDLIST" not in growing
        # It reached back: the first segment recorded aired before the request.
        first = m3u8.loads(growing).segments[0].current_program_date_time
        assert first.timestamp() < time.time() - 4

        so_far = _recorded(c, rid)
        wait_until(lambda: _recorded(c, rid) > so_far, 30, "one more segment recorded")
        stopped = c.post(f"/api/recordings/{rid}/stop")
        assert stopped.status_code == 200 and stopped.json()["active"] is False
        stop_at = datetime.fromisoformat(stopped.json()["end_ts"]).timestamp()
        assert pub.running

        text = c.get(f"/recordings/{rid}/index.m3u8").text
        assert_valid(text)
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and "#EXT-X-ENDLIST" in text
        playlist = m3u8.loads(text)
        first_pdt = playlist.segments[0].current_program_date_time.timestamp()
        assert start - 1.5 <= first_pdt <= start + 1.0
        recorded = media_durations(text)
        assert abs(recorded - (stop_at - start)) < 2.5, (recorded, stop_at - start)
        assert [s.uri for s in playlist.segments][:3] == ["0.ts", "1.ts", "2.ts"]
        assert fx.decode_errors(f"{hlsd.url}/recordings/{rid}/index.m3u8") == ""

        # LiveMix's name for the same replay.
        assert c.get(f"/v1/vod/recording/{rid}/vid.m3u8").text == text
        segment = c.get(f"/v1/vod/recording/{rid}/0.ts")
        assert segment.status_code == 200 and segment.content[:1] == b"\x47"
        assert "immutable" in segment.headers["cache-control"]

        info = c.get(f"/api/recordings/{rid}").json()
        assert info["segments"] == len(playlist.segments)
        assert abs(info["duration"] - recorded) < 0.01

        mp4 = c.get(f"/recordings/{rid}.mp4")
        assert mp4.status_code == 200, mp4.text
        assert mp4.headers["content-type"] == "video/mp4"
        exported = hlsd.dir / "export.mp4"
        exported.write_bytes(mp4.content)
        assert abs(probe_duration(str(exported)) - recorded) < 0.5
        assert fx.decode_errors(str(exported)) == ""

        listed = c.get("/api/streams/cam-rec/recordings").json()["recordings"]
        assert [r["id"] for r in listed] == [rid]
        assert rid in [r["id"] for r in c.get("/api/recordings").json()["recordings"]]

        objects = hlsd.data_dir / "objects" / "recordings" / rid
        assert any(objects.rglob("*.ts"))
        assert c.delete(f"/api/recordings/{rid}").status_code == 200
        assert c.get(f"/recordings/{rid}/index.m3u8").status_code == 404
        assert c.get(f"/api/recordings/{rid}").status_code == 404
        assert not objects.exists() or not any(objects.rglob("*.ts"))


def test_an_fmp4_multivariant_recording(hlsd: HlsdServer) -> None:
    variants = [("hi", "640x360", "600k"), ("lo", "320x180", "200k")]
    with publisher(hlsd, "cam-abr", duration=20, variants=variants, segment_type="fmp4"), \
            httpx.Client(base_url=hlsd.url, timeout=60) as c:
        for name, _, _ in variants:
            wait_segments(c, f"/live/cam-abr/{name}/index.m3u8", 2)
        rid = c.post("/api/streams/cam-abr/recordings").json()["id"]
        wait_until(lambda: _recorded(c, rid) >= 4, 30, "two segments of each variant")
        c.post(f"/api/recordings/{rid}/stop")
        master = c.get(f"/recordings/{rid}/index.m3u8").text
        assert_valid(master)
        parsed = m3u8.loads(master)
        assert sorted(p.uri for p in parsed.playlists) == ["0/index.m3u8", "1/index.m3u8"]
        assert {p.stream_info.resolution for p in parsed.playlists} == {(640, 360), (320, 180)}
        assert all(p.stream_info.codecs for p in parsed.playlists)
        for variant in parsed.playlists:
            text = c.get(f"/recordings/{rid}/{variant.uri}").text
            assert_valid(text)
            assert "#EXT-X-MAP:URI=\"init-" in text
        assert fx.decode_errors(f"{hlsd.url}/recordings/{rid}/index.m3u8") == ""
        low = next(p.uri.split("/")[0] for p in parsed.playlists
                   if p.stream_info.resolution == (320, 180))
        for query, size in (("", (640, 360)), (f"?variant={low}", (320, 180))):
            mp4 = c.get(f"/recordings/{rid}.mp4{query}")
            assert mp4.status_code == 200
            exported = hlsd.dir / "abr.mp4"
            exported.write_bytes(mp4.content)
            assert fx.decode_errors(str(exported)) == ""
            assert probe_duration(str(exported)) > 3
            with av.open(str(exported)) as container:
                video = container.streams.video[0]
                assert (video.codec_context.width, video.codec_context.height) == size
        assert c.get(f"/recordings/{rid}.mp4?variant=7").status_code == 404


def test_the_livemix_recording_api(hlsd: HlsdServer) -> None:
    with httpx.Client(base_url=hlsd.url, timeout=60) as c:
        source = c.post("/v1/source", json={"name": "lm-cam", "segment_len": 1}).json()
        sid = source["source"]["id"]
        with publisher(hlsd, "lm-cam", duration=20):
            wait_segments(c, "/live/lm-cam/index.m3u8", 3)
            r = c.post(f"/v1/source/{sid}/recording",
                       json={"alias": "clip", "description": "d",
                             "start_time_epoch": int(time.time()) - 2})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["success"] is True and body["request_id"]
            rec = body["recording"]
            assert rec["source"] == sid and rec["active"] == 1 and rec["alias"] == "clip"
            rid = rec["id"]
            wait_until(lambda: c.get(f"/v1/recording/{rid}/segment").json()["segments"],
                       30, "a recorded segment")
            assert c.post(f"/v1/recording/{rid}/stop").json()["success"] is True
        got = c.get(f"/v1/recording/{rid}").json()["recording"]
        assert got["active"] == -1 and got["end_ts"]
        assert [x["id"] for x in c.get(f"/v1/source/{sid}/recording").json()["recordings"]] \
            == [rid]
        assert c.get(f"/v1/source/{sid}/recording?only_active=true").json()["recordings"] == []
        assert rid in [x["id"] for x in c.get("/v1/recording").json()["recordings"]]
        segments = c.get(f"/v1/recording/{rid}/segment").json()["segments"]
        assert len(segments) >= 3
        assert {"id", "name", "start", "end", "length", "uri", "source"} <= set(segments[0])
        assert c.get(segments[0]["uri"]).status_code == 200
        assert fx.decode_errors(f"{hlsd.url}/v1/vod/recording/{rid}/vid.m3u8") == ""
        assert c.delete(f"/v1/recording/{rid}").json()["success"] is True
        missing = c.get(f"/v1/recording/{rid}")
        assert missing.status_code == 404 and missing.json()["success"] is False


def test_matching_streams_are_recorded_automatically(hlsd: HlsdServer) -> None:
    with httpx.Client(base_url=hlsd.url, timeout=60) as c:
        with publisher(hlsd, "auto-cam", duration=5) as pub:
            pub.wait(timeout=30)  # ffmpeg ends the stream with ENDLIST
        deadline = time.monotonic() + 10
        while True:
            [rec] = c.get("/api/streams/auto-cam/recordings").json()["recordings"]
            if not rec["active"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert rec["alias"] == "auto" and rec["active"] is False
        text = c.get(rec["playlist"]).text
        assert_valid(text)
        assert media_durations(text) > 4.0  # all of it, from the first segment
        assert fx.decode_errors(f"{hlsd.url}{rec['playlist']}") == ""


def test_bad_recording_requests(hlsd: HlsdServer) -> None:
    with httpx.Client(base_url=hlsd.url, timeout=30) as c:
        long_ago = c.post("/api/streams/any/recordings",
                          json={"start_time_epoch": int(time.time()) - 3600})
        assert long_ago.status_code == 422 and "reach back" in long_ago.json()["error"]
        assert c.post("/api/streams/bad id!/recordings").status_code == 400
        assert c.post("/api/streams/any/recordings", json={"bogus": 1}).status_code == 422
        assert c.post("/api/streams/any/recordings", content=b"{").status_code == 422
        for path in ("/api/recordings/nope", "/recordings/nope/index.m3u8",
                     "/recordings/nope.mp4", "/v1/vod/recording/nope/vid.m3u8"):
            r = c.get(path)
            assert r.status_code == 404 and r.json()["error"], path
        assert c.post("/api/recordings/nope/stop").status_code == 404
        assert c.delete("/api/recordings/nope").status_code == 404
        assert c.post("/v1/source/nope/recording").status_code == 404
        assert c.post("/v1/recording/nope/stop").status_code == 404
        armed = c.post("/api/streams/not-yet/recordings").json()["id"]
        empty = c.get(f"/recordings/{armed}/index.m3u8")
        assert empty.status_code == 404 and "no segments" in empty.json()["error"]
        assert c.get(f"/recordings/{armed}.mp4").status_code == 404
        assert c.delete(f"/api/recordings/{armed}").status_code == 200


def test_management_needs_the_admin_key(tmp_path: Path) -> None:
    with HlsdServer({"admin_key": "adm"}, tmp_dir=tmp_path) as server, \
            httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.post("/api/streams/x/recordings").status_code == 401
        assert c.get("/v1/recording").status_code == 401
        ok = c.post("/api/streams/x/recordings", headers={"authorization": "Bearer adm"})
        assert ok.status_code == 201


def test_a_crash_leaves_the_committed_part_playable(tmp_path: Path) -> None:
    cfg = {"live": {"window": 4, "idle_timeout": "3s", "publish_keys": [KEY]}}
    with HlsdServer(cfg, tmp_dir=tmp_path) as server, \
            httpx.Client(base_url=server.url, timeout=60) as c:
        with publisher(server, "cam-crash", duration=30):
            wait_segments(c, "/live/cam-crash/index.m3u8", 2)
            rid = c.post("/api/streams/cam-crash/recordings").json()["id"]
            wait_segments(c, f"/recordings/{rid}/index.m3u8", 4)
            server.kill()
        server.start()
        text = c.get(f"/recordings/{rid}/index.m3u8").text
        assert text.count("#EXTINF") >= 4
        assert_valid(text)
        for uri in (u for u in text.splitlines() if u.endswith(".ts")):
            segment = c.get(f"/recordings/{rid}/{uri}")
            assert segment.status_code == 200 and segment.content[:1] == b"\x47"
        # Still active after the restart: a new push on the stream carries it on, after
        # a discontinuity.
        before = text.count("#EXTINF")
        with publisher(server, "cam-crash", duration=20):
            wait_segments(c, f"/recordings/{rid}/index.m3u8", before + 3)
        stopped = c.post(f"/api/recordings/{rid}/stop").json()
        assert stopped["active"] is False
        final = c.get(f"/recordings/{rid}/index.m3u8").text
        assert_valid(final)
        assert "#EXT-X-DISCONTINUITY" in final
        assert fx.decode_errors(f"{server.url}/recordings/{rid}/index.m3u8") == ""


@browser_test[0]
@browser_test[1]
def test_hlsjs_plays_a_recording(hlsd: HlsdServer) -> None:
    with publisher(hlsd, "cam-web-rec", duration=20), \
            httpx.Client(base_url=hlsd.url, timeout=60) as c:
        wait_segments(c, "/live/cam-web-rec/index.m3u8", 2)
        rid = c.post("/api/streams/cam-web-rec/recordings").json()["id"]
        wait_until(lambda: _recorded(c, rid) >= 3, 30, "three recorded segments")
        c.post(f"/api/recordings/{rid}/stop")
    result = play_hls(f"{hlsd.url}/recordings/{rid}/index.m3u8", seconds=3, timeout=30)
    assert result.played >= 3.0, describe(result)
    assert result.fatal_errors == [], describe(result)


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


def test_recordings_on_s3(s3_endpoint: str, tmp_path: Path) -> None:
    """The same cycle on a real S3 HTTP endpoint (moto's server): segments go to the
    bucket, replay reads them back through the read-ahead cache, delete empties it."""
    cfg = {"live": {"window": 4, "idle_timeout": "3s", "publish_keys": [KEY]},
           "storage": {"backend": "s3", "bucket": "recordings", "endpoint_url": s3_endpoint,
                       "access_key": "testing", "secret_key": "testing",
                       "prefix": "hlsd", "create_bucket": True}}
    with HlsdServer(cfg, tmp_dir=tmp_path) as server, \
            httpx.Client(base_url=server.url, timeout=60) as c:
        with publisher(server, "cam-s3", duration=20):
            wait_segments(c, "/live/cam-s3/index.m3u8", 3)
            rid = c.post("/api/streams/cam-s3/recordings",
                         json={"start_time_epoch": int(time.time()) - 2}).json()["id"]
            wait_segments(c, f"/recordings/{rid}/index.m3u8", 5)
            c.post(f"/api/recordings/{rid}/stop")
        assert not (server.data_dir / "objects").exists()
        keys = _bucket_keys(s3_endpoint, "recordings", f"hlsd/recordings/{rid}/")
        assert sum(k.endswith(".ts") for k in keys) >= 5
        text = c.get(f"/recordings/{rid}/index.m3u8").text
        assert_valid(text)
        assert fx.decode_errors(f"{server.url}/recordings/{rid}/index.m3u8") == ""
        mp4 = c.get(f"/recordings/{rid}.mp4")
        assert mp4.status_code == 200
        (tmp_path / "s3.mp4").write_bytes(mp4.content)
        assert abs(probe_duration(str(tmp_path / "s3.mp4")) - media_durations(text)) < 0.5
        metrics = c.get("/metrics").text
        assert 'hlsd_cache_entries{cache="replay"}' in metrics
        assert c.delete(f"/api/recordings/{rid}").status_code == 200
        assert _bucket_keys(s3_endpoint, "recordings", f"hlsd/recordings/{rid}/") == []


def _bucket_keys(endpoint: str, bucket: str, prefix: str) -> list[str]:
    async def listing() -> list[str]:
        store = S3Store(bucket, endpoint_url=endpoint, region="us-east-1",
                        access_key="testing", secret_key="testing")
        try:
            return [info.key async for info in store.list(prefix)]
        finally:
            await store.close()
    return asyncio.run(listing())


def test_token_gated_replay(tmp_path: Path) -> None:
    cfg = {"live": {"window": 4, "idle_timeout": "3s", "publish_keys": [KEY]},
           "recording": {"access": "token"}}
    with HlsdServer(cfg, tmp_dir=tmp_path) as server, \
            httpx.Client(base_url=server.url, timeout=60) as c:
        with publisher(server, "cam-vip", duration=20):
            wait_segments(c, "/live/cam-vip/index.m3u8", 2)
            rid = c.post("/api/streams/cam-vip/recordings").json()["id"]
            other = c.post("/api/streams/cam-vip/recordings").json()["id"]
            wait_until(lambda: _recorded(c, rid) >= 2 and _recorded(c, other) >= 2, 30,
                       "two recorded segments each")
            c.post(f"/api/recordings/{rid}/stop")
        minted = c.post(f"/api/recordings/{rid}/token", json={"ttl": "10m"})
        assert minted.status_code == 201, minted.text
        token = minted.json()["token"]
        wrong = c.post(f"/api/recordings/{other}/token").json()["token"]
        assert c.post("/api/recordings/nope/token").status_code == 404
        url = f"/recordings/{rid}/index.m3u8"
        assert c.get(url).status_code == 401
        assert c.get(f"/recordings/{rid}.mp4").status_code == 401
        assert c.get(url, headers={"x-gostreamer-token": wrong}).status_code == 403
        ok = c.get(url, headers={"authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and "private" in ok.headers["cache-control"]
        via_query = c.get(f"{url}?token={token}").text
        uris = [u for u in via_query.splitlines() if u and not u.startswith("#")]
        assert uris and all(u.endswith(f"?token={token}") for u in uris)
        segment = c.get(f"/recordings/{rid}/{uris[0]}")
        assert segment.status_code == 200 and "private" in segment.headers["cache-control"]
        assert fx.decode_errors(f"{server.url}{url}?token={token}") == ""
        assert c.get(f"/v1/vod/recording/{rid}/vid.m3u8?token={token}").status_code == 200
        assert c.get(f"/recordings/{rid}.mp4?token={token}").status_code == 200
