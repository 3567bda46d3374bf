"""Upload → transcode → ABR VOD on a real hlsd process: tus uploads (whole, and resumed
from half), one-request uploads, imports; the ladder checked by ffmpeg (HLS and DASH),
hlsd's rules, the mpegdash parser and hls.js; bad files end failed with a reason while
the worker carries on; a retry imports a URL or reads a library file again; cancel,
delete, restart and S3."""

from __future__ import annotations

import io
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import mpegdash.parser  # type: ignore[import-untyped]
import pytest
from tusclient import client as tus  # type: ignore[import-untyped]

from hlsd.hls import parse_master
from hlsd.hls.check import assert_valid
from tests._support import media as fx
from tests._support.browser import browser_test, describe, play_hls
from tests._support.hlsd_server import HlsdServer
from tests._support.moto import moto_server
from tests._support.servers import Upstream

ADMIN = {"authorization": "Bearer adm"}
TUS = {**ADMIN, "tus-resumable": "1.0.0"}
LADDER = [{"name": "360p", "height": 360, "video_bitrate": "700k", "audio_bitrate": "64k"},
          {"name": "180p", "height": 180, "video_bitrate": "250k", "audio_bitrate": "48k"}]


def config(**more: object) -> dict[str, object]:
    return {"admin_key": "adm", "assets": {"ladder": LADDER, "segment_duration": 2},
            **more}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.h264_aac_mp4(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=6,
                           size="640x360", gop=50)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    with HlsdServer(config(), tmp_dir=tmp_path_factory.mktemp("assets")) as running:
        yield running


def wait_state(c: httpx.Client, asset_id: str, wanted: set[str], timeout: float = 90
               ) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, object] = c.get(f"/api/assets/{asset_id}").json()
        if body["state"] in wanted:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def new_upload(c: httpx.Client, size: int, title: str = "clip") -> dict[str, object]:
    made = c.post("/api/assets", json={"title": title, "size": size})
    assert made.status_code == 201, made.text
    body: dict[str, object] = made.json()
    assert body["state"] == "created"
    return body


def test_a_tus_upload_becomes_an_abr_ladder_in_hls_and_dash(server: HlsdServer,
                                                             clip: Path) -> None:
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as c:
        asset = new_upload(c, clip.stat().st_size)
        upload_url = server.url + asset["upload"]["url"]  # type: ignore[index]
        uploader = tus.TusClient(server.url + "/api/uploads", headers=ADMIN).uploader(
            str(clip), url=upload_url, chunk_size=256 * 1024)
        uploader.upload()
        ready = wait_state(c, str(asset["id"]), {"ready", "failed"})
        assert ready["state"] == "ready", ready
        assert ready["rungs"] == ["360p", "180p"]
        assert 5.5 < float(ready["duration"]) < 6.5  # type: ignore[arg-type]
        playback: dict[str, str] = ready["playback"]  # type: ignore[assignment]
        master = c.get(playback["hls"])
        assert master.status_code == 200
        assert_valid(master.text)
        variants = parse_master(master.text).variants
        assert [v.resolution for v in variants] == [(640, 360), (320, 180)]
        assert all(v.bandwidth and v.codecs for v in variants)
        mpd = c.get(playback["dash"])
        assert mpd.status_code == 200 and "dash+xml" in mpd.headers["content-type"]
        parsed = mpegdash.parser.MPEGDASHParser.parse(mpd.text)
        reps = [r for a in parsed.periods[0].adaptation_sets for r in a.representations]
        assert len(reps) >= 2
        assert c.get(playback["poster"]).content[:2] == b"\xff\xd8"  # JPEG
    assert fx.decode_errors(server.url + playback["hls"], every_stream=True) == ""
    assert fx.decode_errors(server.url + playback["dash"], every_stream=True) == ""


def test_an_upload_interrupted_at_half_resumes_there(server: HlsdServer, clip: Path) -> None:
    data = clip.read_bytes()
    half = len(data) // 2
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as c:
        asset = new_upload(c, len(data), "resumed")
        url = str(asset["upload"]["url"])  # type: ignore[index]
        sent = c.patch(url, content=data[:half], headers={
            **TUS, "upload-offset": "0", "content-type": "application/offset+octet-stream"})
        assert sent.status_code == 204
        assert c.get(f"/api/assets/{asset['id']}").json()["state"] == "created"
        # A new client, as after a lost connection: it asks where to carry on.
        offset = int(c.head(url, headers=TUS).headers["upload-offset"])
        assert offset == half
        uploader = tus.TusClient(server.url + "/api/uploads", headers=ADMIN).uploader(
            str(clip), url=server.url + url, chunk_size=128 * 1024)
        uploader.upload()
        assert wait_state(c, str(asset["id"]), {"ready", "failed"})["state"] == "ready"


def test_bad_files_fail_with_a_reason_and_the_worker_carries_on(server: HlsdServer,
                                                                 clip: Path,
                                                                 tmp_path: Path) -> None:
    truncated = fx.truncated(clip, tmp_path / "cut.mp4", keep=0.3)
    # A real container holding nothing playable: only a subtitle stream.
    (tmp_path / "only.srt").write_bytes(SRT)
    subprocess.run([fx.FFMPEG, "-v", "error", "-i", str(tmp_path / "only.srt"), "-c:s", "srt",
                    str(tmp_path / "only-text.mkv")], check=True)
    cases = [
        ((tmp_path / "only-text.mkv").read_bytes(), "audio or video"),
        (b"this is not a video at all\n" * 100, "not"),
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 4000, "not"),  # a "video.mp4" that is an image
        (truncated.read_bytes(), ""),
    ]
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as c:
        for data, words in cases:
            asset = new_upload(c, len(data), "bad")
            put = c.put(f"/api/assets/{asset['id']}/content", content=data)
            assert put.status_code == 200, put.text
            failed = wait_state(c, str(asset["id"]), {"ready", "failed"})
            assert failed["state"] == "failed", failed
            assert failed["reason"] and words in str(failed["reason"]).lower(), failed
        good = new_upload(c, clip.stat().st_size, "good")
        assert c.put(f"/api/assets/{good['id']}/content",
                     content=clip.read_bytes()).status_code == 200
        assert wait_state(c, str(good["id"]), {"ready", "failed"})["state"] == "ready"
        # The API refuses what makes no sense, clearly.
        assert c.get("/api/assets/nope").status_code == 404
        assert c.post("/api/assets", json={"url": "a", "library": "b"}).status_code == 422
        assert c.post("/api/assets", json={"url": "file:///etc/passwd"}).status_code == 422
        assert c.post("/api/assets", json={"library": "../../etc/passwd"}).status_code == 422
        assert c.post(f"/api/assets/{good['id']}/cancel").status_code == 409
    assert httpx.get(f"{server.url}/api/assets").status_code == 401


def test_cancel_and_delete_at_any_stage_leave_nothing(server: HlsdServer, clip: Path,
                                                      tmp_path: Path) -> None:
    long_clip = fx.h264_aac_mp4(tmp_path / "long.mp4", seconds=40, size="640x360", gop=50)
    objects = server.data_dir / "objects" / "assets"
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as c:
        waiting = new_upload(c, 10)
        assert c.delete(f"/api/assets/{waiting['id']}").status_code == 204
        assert c.get(f"/api/assets/{waiting['id']}").status_code == 404
        busy = new_upload(c, long_clip.stat().st_size, "long")
        c.put(f"/api/assets/{busy['id']}/content", content=long_clip.read_bytes())
        wait_state(c, str(busy["id"]), {"processing"})
        cancelled = c.post(f"/api/assets/{busy['id']}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        time.sleep(1.0)
        assert wait_state(c, str(busy["id"]), {"cancelled"})["state"] == "cancelled"
        assert not (objects / str(busy["id"])).exists()
        done = new_upload(c, clip.stat().st_size, "done")
        c.put(f"/api/assets/{done['id']}/content", content=clip.read_bytes())
        assert wait_state(c, str(done["id"]), {"ready", "failed"})["state"] == "ready"
        assert (objects / str(done["id"])).exists()
        assert c.delete(f"/api/assets/{done['id']}").status_code == 204
        assert not (objects / str(done["id"])).exists()
        time.sleep(5.5)  # what a node knew of it has gone stale
        assert c.get(f"/vod/{done['id']}/index.m3u8").status_code == 404


SRT = (b"1\r\n00:00:00,500 --> 00:00:02,000\r\nHello\r\n\r\n"
       b"2\r\n00:00:03,000 --> 00:00:05,000\r\nWorld\r\n")


def test_subtitles_given_with_an_asset_play_in_hls_and_dash(server: HlsdServer,
                                                            clip: Path) -> None:
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as c:
        asset = new_upload(c, clip.stat().st_size, "subtitled")
        base = f"/api/assets/{asset['id']}/subtitles"
        assert c.put(f"{base}/en?name=English", content=SRT).status_code == 200
        assert c.put(f"{base}/fr", content=b"WEBVTT\n\n00:01.000 --> 00:02.000\nSalut\n"
                     ).status_code == 200
        assert c.put(f"{base}/../x", content=SRT).status_code in (404, 422)
        assert c.put(f"{base}/e", content=SRT).status_code == 422
        assert c.put(f"{base}/de", content=b"not subtitles").status_code == 422
        c.put(f"/api/assets/{asset['id']}/content", content=clip.read_bytes())
        ready = wait_state(c, str(asset["id"]), {"ready", "failed"})
        assert ready["state"] == "ready", ready
        assert ready["subtitles"] == [{"language": "en", "name": "English"},
                                      {"language": "fr", "name": "fr"}]
        assert c.put(f"{base}/es", content=SRT).status_code == 409  # manifests are final
        playback: dict[str, str] = ready["playback"]  # type: ignore[assignment]
        master = c.get(playback["hls"]).text
        assert_valid(master)
        subs = [r for r in parse_master(master).renditions if r.type.value == "SUBTITLES"]
        assert [(r.language, r.name) for r in subs] == [("en", "English"), ("fr", "fr")]
        vtt = c.get(f"/vod/{asset['id']}/subs-en.vtt")
        assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT")
        assert "00:00:00.500 --> 00:00:02.000" in vtt.text
        mpd = mpegdash.parser.MPEGDASHParser.parse(c.get(playback["dash"]).text)
        texts = [a for a in mpd.periods[0].adaptation_sets if a.content_type == "text"]
        assert sorted(a.lang for a in texts) == ["en", "fr"]
    assert fx.decode_errors(server.url + playback["dash"], every_stream=True) == ""


def test_play_picks_hls_or_dash_by_client(server: HlsdServer, clip: Path) -> None:
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as c:
        asset = new_upload(c, clip.stat().st_size, "play")
        c.put(f"/api/assets/{asset['id']}/content", content=clip.read_bytes())
        wait_state(c, str(asset["id"]), {"ready"})
        play = f"/play/{asset['id']}"
        safari = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
                  "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
        exo = "ExoPlayerLib/2.19.1 (Linux; Android 14)"
        for agent, target in ((safari, "index.m3u8"), (exo, "manifest.mpd")):
            moved = c.get(play, headers={"user-agent": agent}, follow_redirects=False)
            assert moved.status_code == 302 and moved.headers["location"].endswith(target)
        forced = c.get(f"{play}?format=dash", headers={"user-agent": safari},
                       follow_redirects=False)
        assert forced.headers["location"].endswith("manifest.mpd")
        assert c.get(f"{play}?format=flv", follow_redirects=False).status_code == 400
        assert c.get("/play/nope", follow_redirects=False).status_code == 404


@browser_test[0]
@browser_test[1]
def test_hls_js_plays_the_ladder_and_switches_levels(server: HlsdServer, clip: Path) -> None:
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as c:
        asset = new_upload(c, clip.stat().st_size, "browser")
        given = c.put(f"/api/assets/{asset['id']}/subtitles/en?name=English", content=SRT)
        assert given.status_code == 200, given.text
        c.put(f"/api/assets/{asset['id']}/content", content=clip.read_bytes())
        ready = wait_state(c, str(asset["id"]), {"ready"})
    result = play_hls(server.url + ready["playback"]["hls"], seconds=4,  # type: ignore[index]
                      switch_level_at=1.0)
    assert not result.fatal_errors and result.played >= 4, describe(result)
    assert result.levels == 2 and result.subtitle_tracks == 1
    assert len(set(result.level_switches)) >= 2, result.level_switches


def test_imports_from_the_library_and_from_a_url(tmp_path: Path, clip: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    (library / "film.mp4").write_bytes(clip.read_bytes())
    with Upstream() as up, HlsdServer(config(channels={"library": str(library)},
                                             fetch={"allow": ["127.0.0.1"]}),
                                      tmp_dir=tmp_path / "node") as server, \
            httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as c:
        up.add_file("/media/clip.mp4", clip, "video/mp4")
        from_library = c.post("/api/assets", json={"library": "film.mp4"}).json()
        from_url = c.post("/api/assets", json={"url": f"{up.url}/media/clip.mp4"}).json()
        missing = c.post("/api/assets", json={"url": f"{up.url}/media/none.mp4"}).json()
        for asset in (from_library, from_url):
            assert wait_state(c, asset["id"], {"ready", "failed"})["state"] == "ready"
        gone = wait_state(c, missing["id"], {"failed", "ready"})
        assert gone["state"] == "failed" and "not found" in str(gone["reason"]), gone
        assert (library / "film.mp4").is_file()  # a library file is the asset's, untouched


def test_a_retry_imports_a_url_again_and_reads_a_library_file_again(tmp_path: Path,
                                                                    clip: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    (library / "film.mp4").write_bytes(b"not a film yet\n" * 100)
    with Upstream() as up, HlsdServer(config(channels={"library": str(library)},
                                             fetch={"allow": ["127.0.0.1"]}),
                                      tmp_dir=tmp_path / "node") as server, \
            httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as c:
        up.add_status("/media/clip.mp4", 503)  # the upstream fails once, then works
        url = f"{up.url}/media/clip.mp4"
        imported = c.post("/api/assets", json={"url": url, "title": "imported"}).json()
        failed = wait_state(c, imported["id"], {"failed", "ready"})
        assert failed["state"] == "failed" and "could not be imported" in str(failed["reason"])
        up.add_file("/media/clip.mp4", clip, "video/mp4")
        retried = c.post(f"/api/assets/{imported['id']}/retry")
        assert retried.status_code == 200, retried.text
        assert retried.json()["state"] == "created" and retried.json()["reason"] is None
        ready = wait_state(c, imported["id"], {"failed", "ready"})
        assert ready["state"] == "ready" and ready["size"] == clip.stat().st_size, ready
        assert up.count("/media/clip.mp4") == 2
        assert c.post(f"/api/assets/{imported['id']}/retry").status_code == 409  # ready

        from_library = c.post("/api/assets", json={"library": "film.mp4"}).json()
        assert wait_state(c, from_library["id"], {"failed", "ready"})["state"] == "failed"
        (library / "film.mp4").unlink()
        gone = c.post(f"/api/assets/{from_library['id']}/retry")
        assert gone.status_code == 409
        assert gone.json()["error"] == "'film.mp4' is no longer a file in the library"
        (library / "film.mp4").write_bytes(clip.read_bytes())  # the file, fixed
        assert c.post(f"/api/assets/{from_library['id']}/retry").status_code == 200
        assert wait_state(c, from_library["id"], {"failed", "ready"})["state"] == "ready"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "0177.0.0.1",
                                  "[::1]", "169.254.169.254", "10.0.0.1"])
def test_an_import_from_this_node_or_its_network_is_refused(server: HlsdServer,
                                                            host: str) -> None:
    """The attack: an asset made of what hlsd alone can reach (its admin API here)."""
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as c:
        before = c.get("/api/assets", params={"limit": 1000}).json()["assets"]
        url = f"http://{host}:{server.port}/api/streams"
        made = c.post("/api/assets", json={"url": url})
        assert made.status_code == 403, made.text
        error = made.json()["error"]
        assert error.startswith(f"refused to fetch {url}: ") and "fetch.allow" in error
        assert c.get("/api/assets", params={"limit": 1000}).json()["assets"] == before


def test_an_import_redirected_off_an_allowed_host_fails_with_the_reason(
        tmp_path: Path, clip: Path) -> None:
    with Upstream() as up, HlsdServer(config(fetch={"allow": ["localhost"]}),
                                      tmp_dir=tmp_path) as server, \
            httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as c:
        up.add_file("/media/clip.mp4", clip, "video/mp4")
        up.add_redirect("/moved.mp4", f"http://127.0.0.1:{up.port}/media/clip.mp4")
        moved = c.post("/api/assets", json={"url": f"http://localhost:{up.port}/moved.mp4"})
        assert moved.status_code == 201, moved.text
        failed = wait_state(c, moved.json()["id"], {"failed", "uploaded", "queued", "ready"})
        assert failed["state"] == "failed", failed
        assert f"refused to fetch http://127.0.0.1:{up.port}/media/clip.mp4: 127.0.0.1 is a " \
               "loopback address" in str(failed["reason"]), failed
        assert up.count("/moved.mp4") == 1 and up.count("/media/clip.mp4") == 0
        # The allowed name itself is imported.
        direct = c.post("/api/assets", json={"url": f"http://localhost:{up.port}/media/clip.mp4"})
        assert direct.status_code == 201, direct.text
        fetched = wait_state(c, direct.json()["id"], {"failed", "queued", "processing", "ready"})
        assert fetched["state"] != "failed", fetched
    logged = " ".join(server.log_text().split())  # its lines may be wrapped
    assert logged.count("refused to fetch") == 1


def test_token_gated_assets_need_a_token(tmp_path: Path, clip: Path) -> None:
    with HlsdServer(config(), tmp_dir=tmp_path) as server, \
            httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as c:
        made = c.post("/api/assets", json={"size": clip.stat().st_size, "access": "token"})
        asset_id = made.json()["id"]
        c.put(f"/api/assets/{asset_id}/content", content=clip.read_bytes())
        wait_state(c, asset_id, {"ready"})
        assert httpx.get(f"{server.url}/vod/{asset_id}/index.m3u8").status_code == 401
        token = c.post(f"/api/assets/{asset_id}/token").json()["token"]
        master = httpx.get(f"{server.url}/vod/{asset_id}/index.m3u8?token={token}")
        assert master.status_code == 200 and "private" in master.headers["cache-control"]
        uris = [u for u in master.text.splitlines() if u and not u.startswith("#")]
        assert uris and all(u.endswith(f"?token={token}") for u in uris)
        assert fx.decode_errors(f"{server.url}/vod/{asset_id}/index.m3u8?token={token}",
                                every_stream=True) == ""


def test_a_restart_mid_job_still_reaches_ready(tmp_path: Path, clip: Path) -> None:
    long_clip = fx.h264_aac_mp4(tmp_path / "long.mp4", seconds=30, size="640x360", gop=50)
    with HlsdServer(config(), tmp_dir=tmp_path / "node") as server, \
            httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as c:
        asset = new_upload(c, long_clip.stat().st_size, "restart")
        c.put(f"/api/assets/{asset['id']}/content", content=long_clip.read_bytes())
        wait_state(c, str(asset["id"]), {"processing"})
        server.kill()
        server.start()
        ready = wait_state(c, str(asset["id"]), {"ready", "failed"}, timeout=120)
        assert ready["state"] == "ready", ready
        assert fx.decode_errors(server.url + ready["playback"]["hls"],  # type: ignore[index]
                                every_stream=True) == ""
        attempts = sorted(p.name for p in (server.data_dir / "objects" / "assets" /
                                           str(asset["id"])).iterdir())
        assert len(attempts) == 1  # the dead run's partial outputs are gone


def test_assets_on_s3(tmp_path: Path, clip: Path) -> None:
    with moto_server(tmp_path / "moto.log") as endpoint, \
            HlsdServer(config(storage={
                "backend": "s3", "bucket": "assets", "endpoint_url": endpoint,
                "access_key": "testing", "secret_key": "testing", "create_bucket": True}),
                tmp_dir=tmp_path / "node") as server, \
            httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as c:
        asset = new_upload(c, clip.stat().st_size, "s3")
        c.put(f"/api/assets/{asset['id']}/content", content=clip.read_bytes())
        ready = wait_state(c, str(asset["id"]), {"ready", "failed"})
        assert ready["state"] == "ready", ready
        assert not (server.data_dir / "objects").exists()
        for kind in ("hls", "dash"):
            assert fx.decode_errors(server.url + ready["playback"][kind],  # type: ignore[index]
                                    every_stream=True) == ""


def test_a_ready_asset_plays_in_a_channel(server: HlsdServer, clip: Path) -> None:
    """Its CMAF video and separate audio come out muxed as MPEG-TS at air time: ffmpeg
    decodes the loop across its boundaries with no error."""
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=60) as c:
        asset = new_upload(c, clip.stat().st_size, "on air")
        c.put(f"/api/assets/{asset['id']}/content", content=clip.read_bytes())
        wait_state(c, str(asset["id"]), {"ready"})
        waiting = new_upload(c, 10, "not ready")
        refused = c.post("/api/channels", json={
            "name": "notready", "items": [{"source": {"asset": waiting["id"]}}]})
        assert refused.status_code == 422 and "not ready" in refused.text
        made = c.post("/api/channels", json={
            "name": "assets", "window": 6, "items": [{"source": {"asset": asset["id"]}}]})
        assert made.status_code == 201, made.text
        assert [v["resolution"] for v in made.json()["variants"]] == ["640x360", "320x180"]
        text = c.get("/live/assets/1/index.m3u8").text
        assert_valid(text, live=True)
        uri = text.strip().splitlines()[-1]
        segment = c.get(f"/live/assets/1/{uri}").content
        assert segment[:1] == b"\x47"
        with av.open(io.BytesIO(segment), format="mpegts") as muxed:
            kinds = sorted(s.type for s in muxed.streams)
            audio = [p for p in muxed.demux(muxed.streams.audio[0]) if p.size]
        assert kinds == ["audio", "video"]  # the separate audio rendition, muxed in
        assert len(audio) * 1024 / 48000 > 1.5  # about the segment's length of sound
    assert fx.decode_errors(f"{server.url}/live/assets/index.m3u8", seconds=9) == ""
