"""``/api/channels`` and channel playback on a real hlsd process, in real time: ffmpeg
decodes across loop points with no error, hls.js in Chromium plays through a
discontinuity, and bad requests get clear errors while the channel keeps playing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hlsd.hls import parse_master, parse_media
from hlsd.hls.check import assert_valid
from tests._support.browser import browser_test, describe, play_hls
from tests._support.hls_vod import abr_vod
from tests._support.hlsd_server import HlsdServer
from tests._support.media import decode_errors, h264_aac_mp4
from tests._support.polling import wait_until
from tests._support.servers import Upstream
from tests._support.ts import continuity_errors
from tests._support.wscdn import open_session, pull_all

ADMIN = {"authorization": "Bearer adm"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    root = tmp_path_factory.mktemp("channels")
    library = root / "library"
    # Short items with 1-s segments, so a few seconds of real time cross a loop point.
    abr_vod(library / "red", seconds=3, segment=1, tone=440)
    abr_vod(library / "blue", seconds=3, segment=1, tone=880, pattern="testsrc")
    abr_vod(library / "green", seconds=3, segment=1, tone=550, fmp4=True)
    (library / "films").mkdir()
    h264_aac_mp4(library / "films" / "clip.mp4", seconds=4, size="640x360", gop=25)
    with HlsdServer({"admin_key": "adm", "channels": {"library": str(library)}},
                    tmp_dir=root / "server") as running:
        response = httpx.post(f"{running.url}/api/channels", headers=ADMIN, json={
            "name": "loop", "window": 4, "items": [
                {"source": {"library": "red/master.m3u8"}},
                {"source": {"library": "blue/master.m3u8"}}]})
        assert response.status_code == 201, response.text
        yield running


def test_the_api_describes_the_channel(server: HlsdServer) -> None:
    body = httpx.get(f"{server.url}/api/channels/loop", headers=ADMIN).json()
    assert body["playlist"] == "/live/loop/index.m3u8"
    assert [i["id"] for i in body["items"]] == ["i1", "i2"]
    assert [v["resolution"] for v in body["variants"]] == ["640x360", "320x180"]
    assert body["target_duration"] == 1 and body["window"] == 4
    assert body["on_air"]["item"] in ("i1", "i2")
    listed = httpx.get(f"{server.url}/api/channels", headers=ADMIN).json()
    assert [c["name"] for c in listed["channels"]] == ["loop"]


def test_playlists_follow_the_rules_and_decode_across_loop_points(server: HlsdServer) -> None:
    with httpx.Client(base_url=server.url) as c:
        master = c.get("/live/loop/index.m3u8")
        assert master.status_code == 200
        assert_valid(master.text)
        assert len(parse_master(master.text).variants) == 2
        first = c.get("/live/loop/1/index.m3u8")
        assert first.headers["cache-control"] == "public, max-age=1"
        assert_valid(first.text, live=True)
        segment = parse_media(first.text).segments[-1].uri
        got = c.get(f"/live/loop/1/{segment}")
        assert got.status_code == 200 and got.content[:1] == b"\x47"
        assert "immutable" in got.headers["cache-control"]
    # 7 s of media in real time: at least two loop points (items are 3 s).
    assert decode_errors(f"{server.url}/live/loop/index.m3u8", seconds=7) == ""
    with httpx.Client(base_url=server.url) as c:
        assert_valid(c.get("/live/loop/1/index.m3u8").text, live=True, previous=first.text)


def test_continuity_counters_run_on_across_channel_segments(server: HlsdServer,
                                                            tmp_path: Path) -> None:
    """Each channel segment is remuxed on its own (from either item, across the loop
    point), yet every PID's continuity counter goes on from one segment to the next."""
    with httpx.Client(base_url=server.url) as c:
        playlist = parse_media(c.get("/live/loop/1/index.m3u8").text)
        segments = [c.get(f"/live/loop/1/{s.uri}").content for s in playlist.segments]
    assert len(segments) >= 4
    assert continuity_errors(segments) == []
    joined = tmp_path / "window.ts"
    joined.write_bytes(b"".join(segments))
    assert decode_errors(str(joined)) == ""


@browser_test[0]
@browser_test[1]
def test_hls_js_plays_through_a_discontinuity(server: HlsdServer) -> None:
    result = play_hls(f"{server.url}/live/loop/index.m3u8", seconds=5, timeout=40)
    assert not result.fatal_errors and result.played >= 5, describe(result)
    segments = [u for u in result.requests if u.endswith(".ts")]
    keys = {u.rsplit("/", 3)[-3] for u in segments}
    assert len(keys) == 2, segments  # both items played: it went through a boundary


def test_bad_requests_get_clear_errors_and_the_channel_plays_on(server: HlsdServer) -> None:
    url = f"{server.url}/api/channels"
    assert httpx.get(url).status_code == 401  # management needs the key
    cases = [
        ({"name": "x", "items": []}, 422, "at least one item"),
        ({"name": "x", "items": [{"source": {"library": "missing.m3u8"}}]}, 422, "missing"),
        ({"name": "x", "items": [{"source": {"library": "../../etc/passwd"}}]}, 422, "passwd"),
        ({"name": "x", "items": [{"source": {"url": "file:///etc/passwd"}}]}, 422, "http"),
        ({"name": "x", "items": [{"source": {"url": "a", "library": "b"}}]}, 422, "one of"),
        ({"name": "loop", "items": [{"source": {"library": "red/master.m3u8"}}]}, 409,
         "exists"),
    ]
    for body, status, words in cases:
        response = httpx.post(url, headers=ADMIN, json=body)
        assert response.status_code == status, response.text
        assert words in response.text
    assert httpx.get(f"{url}/nope", headers=ADMIN).status_code == 404
    assert httpx.delete(f"{url}/loop/items/i9", headers=ADMIN).status_code == 404
    with httpx.Client(base_url=server.url) as c:
        assert c.get("/live/loop/7/index.m3u8").status_code == 404
        assert c.get("/live/loop/0/feedfacefeedface/0.ts").status_code == 404
        assert c.get("/live/loop/0/slate-x/0.ts").status_code == 404
        assert c.get("/live/loop/index.m3u8").status_code == 200


def test_an_item_added_on_air_joins_the_loop(server: HlsdServer) -> None:
    url = f"{server.url}/api/channels"
    made = httpx.post(url, headers=ADMIN, json={
        "name": "grow", "window": 4, "items": [{"source": {"library": "red/master.m3u8"}}]})
    assert made.status_code == 201, made.text
    added = httpx.post(f"{url}/grow/items", headers=ADMIN,
                       json={"source": {"library": "blue/master.m3u8"}})
    assert added.status_code == 200, added.text
    body = added.json()
    assert [i["id"] for i in body["items"]] == ["i1", "i2"]
    assert body["pending"] is not None
    assert httpx.delete(f"{url}/grow", headers=ADMIN).status_code == 204
    assert httpx.get(f"{server.url}/live/grow/index.m3u8").status_code == 404


def test_a_channel_is_recorded_like_any_stream(server: HlsdServer) -> None:
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as c:
        started = c.post("/api/streams/loop/recordings", json={})
        assert started.status_code == 201, started.text
        rid = started.json()["id"]
        wait_until(lambda: c.get(f"/api/recordings/{rid}").json()["segments"] >= 4, 30,
                   "two recorded segments of each variant")
        stopped = c.post(f"/api/recordings/{rid}/stop")
        assert stopped.status_code == 200, stopped.text
        text = c.get(f"/recordings/{rid}/index.m3u8").text
        assert_valid(text)
        replay = parse_master(text)
        assert len(replay.variants) == 2
        variant = c.get(f"/recordings/{rid}/{replay.variants[0].uri}").text
        assert sum(s.duration for s in parse_media(variant).segments) >= 3
        # HTTP players still get the computed channel, not the fed copy.
        assert "#EXT-X-PROGRAM-DATE-TIME" in c.get("/live/loop/0/index.m3u8").text
    assert decode_errors(f"{server.url}/recordings/{rid}/index.m3u8") == ""


async def test_a_channel_is_pulled_over_the_websocket(server: HlsdServer) -> None:
    url = server.url.replace("http://", "ws://") + "/ws"
    ws, answer = await open_session(url, "PULL", "loop", max_initial_fragments="2")
    try:
        assert answer[0] == "OK"
        got = await pull_all(ws, until=4, timeout=20)
        # The channel's feed is listed as such (it used to show as an HTTP push).
        listed = httpx.get(f"{server.url}/api/streams", headers=ADMIN).json()["streams"]
        assert [(s["publisher"], s["spectators"]) for s in listed if s["name"] == "loop"] \
            == [("channel", 1)]
    finally:
        await ws.close()
    assert len(got.fragments) == 4, got
    assert all(data[:1] == b"\x47" and duration == 1.0 for duration, data, _ in got.fragments)


def test_channels_survive_a_restart(server: HlsdServer, tmp_path: Path) -> None:
    before = httpx.get(f"{server.url}/api/channels/loop", headers=ADMIN).json()
    server.restart()
    after = httpx.get(f"{server.url}/api/channels/loop", headers=ADMIN).json()
    assert after["items"] == before["items"] and after["created"] == before["created"]
    assert httpx.get(f"{server.url}/live/loop/0/index.m3u8").status_code == 200


def test_upstream_and_url_sources_play_through_hlsd(tmp_path: Path) -> None:
    """An on-demand upstream id (packaged by hlsd) and an external HLS VOD URL, in one
    loop: every segment comes through hlsd at its air time, and ffmpeg decodes the
    channel across the boundary between them with no error."""
    media = h264_aac_mp4(tmp_path / "clip.mp4", seconds=4, size="640x360", gop=25)
    abr_vod(tmp_path / "ext", seconds=3, segment=1, sizes=("640x360",), bitrates=("800k",))
    with Upstream() as up:
        up.add_file("/media/clip.mp4", media, "video/mp4")
        for file in (tmp_path / "ext").rglob("*"):
            if file.is_file():
                up.add_file(f"/ext/{file.relative_to(tmp_path / 'ext').as_posix()}", file)
        with HlsdServer({"admin_key": "adm", "url": {"video": f"{up.url}/media"},
                         "packager": {"segment_duration": 1},
                         "fetch": {"allow": ["127.0.0.1"]}},
                        tmp_dir=tmp_path / "server") as hlsd:
            made = httpx.post(f"{hlsd.url}/api/channels", headers=ADMIN, timeout=60, json={
                "name": "mixed", "window": 4, "items": [
                    {"source": {"upstream": "clip.mp4"}},
                    {"source": {"url": f"{up.url}/ext/master.m3u8"}}]})
            assert made.status_code == 201, made.text
            text = httpx.get(f"{hlsd.url}/live/mixed/0/index.m3u8").text
            assert_valid(text, live=True)
            assert all(not s.uri.startswith("http") for s in parse_media(text).segments)
            assert decode_errors(f"{hlsd.url}/live/mixed/index.m3u8", seconds=8) == ""
            # Allowed no more: the source's segments are refused at the connection, and
            # the channel plays slate in their place.
            made = httpx.post(f"{hlsd.url}/api/channels", headers=ADMIN, timeout=60, json={
                "name": "ext", "window": 4, "items": [
                    {"source": {"url": f"{up.url}/ext/master.m3u8"}}]})
            assert made.status_code == 201, made.text
            hlsd.config["fetch"] = {"allow": []}
            hlsd.restart()
            asked = len(up.requests)
            text = httpx.get(f"{hlsd.url}/live/ext/0/index.m3u8").text
            segment = httpx.get(f"{hlsd.url}/live/ext/0/{parse_media(text).segments[-1].uri}")
            assert segment.status_code == 200 and segment.content[:1] == b"\x47"
            assert len(up.requests) == asked
            logged = " ".join(hlsd.log_text().split())  # its lines may be wrapped
            assert "refused to fetch" in logged and "a loopback address" in logged


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "0x7f.0.0.1", "0177.0.0.1",
                                  "[::ffff:127.0.0.1]"])
def test_a_url_source_on_this_node_is_refused(server: HlsdServer, tmp_path: Path,
                                              host: str) -> None:
    """The attack: a channel that republishes an HLS VOD only this node can reach."""
    abr_vod(tmp_path / "inside", seconds=2, segment=1, sizes=("640x360",), bitrates=("800k",))
    with Upstream() as up:
        up.add_dir("/inside", tmp_path / "inside")
        url = f"http://{host}:{up.port}/inside/master.m3u8"
        made = httpx.post(f"{server.url}/api/channels", headers=ADMIN, timeout=60, json={
            "name": "leak", "items": [{"source": {"url": url}}]})
        assert made.status_code == 403, made.text
        error = made.json()["error"]
        assert f"refused to fetch {url}: " in error and "fetch.allow" in error
        assert httpx.get(f"{server.url}/api/channels/leak", headers=ADMIN).status_code == 404
        assert up.requests == []


def test_a_media_file_in_the_library_is_packaged_on_the_fly(server: HlsdServer) -> None:
    made = httpx.post(f"{server.url}/api/channels", headers=ADMIN, timeout=60, json={
        "name": "films", "window": 4, "items": [
            {"source": {"library": "films/clip.mp4"}},
            {"source": {"library": "red/master.m3u8"}}]})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["items"][0]["source"] == {"file": "films/clip.mp4"}
    assert [v["resolution"] for v in body["variants"]] == ["640x360"]  # what both share
    assert decode_errors(f"{server.url}/live/films/index.m3u8", seconds=6) == ""
    missing = httpx.post(f"{server.url}/api/channels", headers=ADMIN, json={
        "name": "nofilm", "items": [{"source": {"library": "films/none.mp4"}}]})
    assert missing.status_code == 422 and "none.mp4" in missing.text


def test_fmp4_sources_play_as_mpeg_ts_beside_ts_ones(server: HlsdServer) -> None:
    made = httpx.post(f"{server.url}/api/channels", headers=ADMIN, timeout=60, json={
        "name": "mixedfmt", "window": 4, "items": [
            {"source": {"library": "green/master.m3u8"}},
            {"source": {"library": "red/master.m3u8"}}]})
    assert made.status_code == 201, made.text
    with httpx.Client(base_url=server.url) as c:
        text = c.get("/live/mixedfmt/0/index.m3u8").text
        assert_valid(text, live=True)
        assert "#EXT-X-MAP" not in text  # one container throughout
        for segment in parse_media(text).segments[-3:]:
            assert c.get(f"/live/mixedfmt/0/{segment.uri}").content[:1] == b"\x47"
    assert decode_errors(f"{server.url}/live/mixedfmt/index.m3u8", seconds=7) == ""


def test_two_nodes_serve_the_same_channel_byte_for_byte(tmp_path: Path,
                                                        server: HlsdServer) -> None:
    """Two hlsd processes sharing one database (and the library): a channel made on one
    plays on the other with the same playlists and the same segment bytes."""
    library = server.config["channels"]["library"]
    shared = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    config = {"admin_key": "adm", "database_url": shared, "channels": {"library": library}}
    with HlsdServer(config, tmp_dir=tmp_path / "one") as one, \
            HlsdServer(config, tmp_dir=tmp_path / "two") as two:
        made = httpx.post(f"{one.url}/api/channels", headers=ADMIN, json={
            "name": "both", "window": 4, "items": [
                {"source": {"library": "red/master.m3u8"}},
                {"source": {"library": "blue/master.m3u8"}}]})
        assert made.status_code == 201, made.text
        assert httpx.get(f"{two.url}/live/both/index.m3u8").text == \
            httpx.get(f"{one.url}/live/both/index.m3u8").text
        for _ in range(5):  # two requests may straddle a segment boundary: try again
            a = httpx.get(f"{one.url}/live/both/1/index.m3u8").text
            b = httpx.get(f"{two.url}/live/both/1/index.m3u8").text
            if a == b:
                break
        assert a == b
        uri = parse_media(a).segments[-1].uri
        assert httpx.get(f"{one.url}/live/both/1/{uri}").content == \
            httpx.get(f"{two.url}/live/both/1/{uri}").content


def test_token_gated_channels_need_a_token_bound_to_the_channel(tmp_path: Path,
                                                               server: HlsdServer) -> None:
    library = server.config["channels"]["library"]
    config = {"live": {"access": "token"}, "channels": {"library": library}}
    with HlsdServer(config, tmp_dir=tmp_path) as gated, \
            httpx.Client(base_url=gated.url, timeout=10) as c:
        made = c.post("/api/channels", json={
            "name": "paid", "items": [{"source": {"library": "red/master.m3u8"}}]})
        assert made.status_code == 201, made.text
        token = c.post("/api/streams/paid/token").json()["token"]
        other = c.post("/api/streams/free/token").json()["token"]
        assert c.get("/live/paid/index.m3u8").status_code == 401
        assert c.get("/live/paid/index.m3u8",
                     headers={"x-gostreamer-token": other}).status_code == 403
        media = c.get(f"/live/paid/0/index.m3u8?token={token}")
        assert media.status_code == 200 and "private" in media.headers["cache-control"]
        uris = [u for u in media.text.splitlines() if u and not u.startswith("#")]
        assert uris and all(u.endswith(f"?token={token}") for u in uris)
        assert c.get(f"/live/paid/0/{uris[-1]}").status_code == 200
        assert c.get(f"/live/paid/0/{uris[-1].split('?')[0]}").status_code == 401
