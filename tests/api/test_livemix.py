"""The LiveMix API, exactly: sources, ``POST /v1/playlist`` as LiveMix's README has ffmpeg
send it, and ``/v1/vod/live/{sourceId}/vid.m3u8``."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import m3u8
import pytest

from hlsd.hls.check import assert_valid
from tests._support import media as fx
from tests._support.hls_vod import media_only_vod
from tests._support.hlsd_server import HlsdServer
from tests._support.polling import wait_until
from tests._support.servers import Upstream
from tests.api.test_degraded import fresh_database


@pytest.fixture(scope="module")
def segments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("segments")


@pytest.fixture(scope="module")
def hlsd(segments: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    cfg = {"livemix": {"file_roots": [str(segments)]}, "live": {"window": 4}}
    with HlsdServer(cfg, tmp_dir=tmp_path_factory.mktemp("livemix")) as server:
        yield server


def _envelope_ok(r: httpx.Response) -> dict:  # type: ignore[type-arg]
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True and body["request_id"]
    return body  # type: ignore[no-any-return]


def test_source_crud_speaks_livemix_json(hlsd: HlsdServer) -> None:
    with httpx.Client(base_url=hlsd.url, timeout=10) as c:
        created = _envelope_ok(c.post("/v1/source", json={
            "name": "crud-cam", "segment_len": 2, "description": "lobby"}))["source"]
        assert created["name"] == "crud-cam" and created["segment_length"] == 2
        assert created["streaming"] == -1 and created["description"] == "lobby"
        assert created["id"] and created["created_at"].endswith("Z")
        sid = created["id"]
        assert _envelope_ok(c.get(f"/v1/source/{sid}"))["source"]["id"] == sid
        assert sid in [s["id"] for s in _envelope_ok(c.get("/v1/source"))["sources"]]
        _envelope_ok(c.put(f"/v1/source/{sid}/streaming", params={"new_state": "true"}))
        assert _envelope_ok(c.get(f"/v1/source/{sid}"))["source"]["streaming"] == 1
        r = c.get("/v1/source/nope", headers={"x-request-id": "req-7"})
        assert r.status_code == 404 and r.json()["success"] is False
        assert r.json()["request_id"] == "req-7" and r.json()["error"]["code"] == 404
        dup = c.post("/v1/source", json={"name": "crud-cam", "segment_len": 2})
        assert dup.status_code == 409 and dup.json()["success"] is False
        for bad in ({"name": "x"}, {"name": "x", "segment_len": 0}, {"segment_len": 2},
                    {"name": "../x", "segment_len": 2}):
            assert c.post("/v1/source", json=bad).status_code == 400, bad
        assert c.put(f"/v1/source/{sid}/streaming",
                     params={"new_state": "maybe"}).status_code == 400
        _envelope_ok(c.delete(f"/v1/source/{sid}"))
        assert c.get(f"/v1/source/{sid}").status_code == 404


def test_the_livemix_readme_ffmpeg_command_plays_live(hlsd: HlsdServer, segments: Path) -> None:
    with httpx.Client(base_url=hlsd.url, timeout=10) as c:
        sid = _envelope_ok(c.post("/v1/source", json={"name": "camera-0",
                                                       "segment_len": 1}))["source"]["id"]
        _envelope_ok(c.put(f"/v1/source/{sid}/streaming", params={"new_state": "true"}))
        pub = subprocess.Popen([
            fx.FFMPEG, "-hide_banner", "-v", "error", "-re",
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "7",
            "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-sc_threshold", "0",
            "-pix_fmt", "yuv420p", "-c:a", "aac",
            "-f", "hls", "-hls_time", "1", "-hls_list_size", "5",
            "-hls_segment_filename", str(segments / "vid%d.ts"),
            "-headers", f"Video-Source-Name: camera-0\r\nMPEG-TS-URI-Prefix: "
                        f"file://{segments}\r\n",
            "-method", "POST", f"{hlsd.url}/v1/playlist"])
        try:
            url = f"/v1/vod/live/{sid}/vid.m3u8"
            deadline = time.monotonic() + 20
            previous = None
            sequences = []
            while pub.poll() is None and time.monotonic() < deadline:
                r = c.get(url)
                if r.status_code == 200:
                    assert_valid(r.text, live=True, previous=previous)
                    previous = r.text
                    sequences.append(m3u8.loads(r.text).media_sequence)
                time.sleep(0.4)
            assert pub.wait(20) == 0
        finally:
            pub.kill()
        assert sequences and sequences == sorted(sequences) and sequences[-1] >= 1
        # Also the same stream under its hlsd name, pushed by LiveMix's API.
        assert c.get("/live/camera-0/index.m3u8").status_code == 200
        assert [s["publisher"] for s in c.get("/api/streams").json()["streams"]
                if s["name"] == "camera-0"] == ["livemix"]
        assert fx.decode_errors(f"{hlsd.url}{url}") == ""
        seg = m3u8.loads(c.get(url).text).segments[0].uri
        assert c.get(f"/v1/vod/live/{sid}/{seg}").content[0] == 0x47
        # Not streaming: the LiveMix playback path is closed.
        _envelope_ok(c.put(f"/v1/source/{sid}/streaming", params={"new_state": "false"}))
        assert c.get(url).status_code == 404


@pytest.mark.parametrize(("headers", "status"), [
    ({"video-source-name": "camera-x", "mpeg-ts-uri-prefix": "file:///tmp"}, 404),
    ({"video-source-name": "camera-0"}, 400),
    ({"video-source-name": "camera-0", "mpeg-ts-uri-prefix": "file:///etc"}, 403),
    ({"video-source-name": "camera-0", "mpeg-ts-uri-prefix": "gopher://x"}, 400),
])
def test_playlist_refusals(hlsd: HlsdServer, headers: dict[str, str], status: int) -> None:
    playlist = b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\npasswd\n"
    with httpx.Client(base_url=hlsd.url, timeout=10) as c:
        c.post("/v1/source", json={"name": "camera-0", "segment_len": 1})
        r = c.post("/v1/playlist", content=playlist, headers=headers)
        assert r.status_code == status, r.text
        assert r.json()["success"] is False and r.json()["error"]["message"]
        assert "root:" not in r.text


# -- http(s) prefixes: the outbound policy -------------------------------------------

SPOOF = b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nstreams\n#EXTINF:1.0,\nchannels\n"


def refusals_logged(server: HlsdServer) -> int:
    """Refused fetches in the server's log (its lines may be wrapped)."""
    return " ".join(server.log_text().split()).count("refused to fetch")


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real live-style HLS media playlist (no ENDLIST) and its MPEG-TS segments."""
    folder = tmp_path_factory.mktemp("camera")
    playlist = media_only_vod(folder, seconds=3, segment=1)
    text = "".join(line for line in playlist.read_text().splitlines(keepends=True)
                   if not line.startswith(("#EXT-X-ENDLIST", "#EXT-X-PLAYLIST-TYPE")))
    playlist.write_text(text)
    return folder


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "0177.0.0.1",
                                  "0x7f.0.0.1", "[::ffff:127.0.0.1]"])
def test_an_http_prefix_on_this_node_is_refused_and_nothing_is_published(
        hlsd: HlsdServer, host: str) -> None:
    """The attack: hlsd fetching its own admin routes as segments and publishing them."""
    name = f"probe-{len(host)}-{host.count('.')}"
    logged = refusals_logged(hlsd)
    with httpx.Client(base_url=hlsd.url, timeout=10) as c:
        c.post("/v1/source", json={"name": name, "segment_len": 1})
        r = c.post("/v1/playlist", content=SPOOF, headers={
            "video-source-name": name, "mpeg-ts-uri-prefix": f"http://{host}:{hlsd.port}/api"})
        assert r.status_code == 403, r.text
        body = r.json()
        assert body["success"] is False and body["error"]["code"] == 403
        message = body["error"]["message"]
        assert message.startswith(f"refused to fetch http://{host}:{hlsd.port}/api")
        assert "loopback" in message and "fetch.allow" in message
        assert c.get(f"/live/{name}/index.m3u8").status_code == 404
    assert refusals_logged(hlsd) == logged + 1


@pytest.mark.parametrize("allow", ["127.0.0.1", "localhost"])
def test_an_allowed_http_prefix_is_fetched_and_a_redirect_off_it_is_refused(
        camera: Path, tmp_path: Path, allow: str) -> None:
    with Upstream() as up, HlsdServer({"fetch": {"allow": [allow]}},
                                      tmp_dir=tmp_path) as server, \
            httpx.Client(base_url=server.url, timeout=10) as c:
        up.add_dir("/cam", camera)
        up.add_redirect("/metrics-seg.ts", f"http://127.0.0.2:{server.port}/metrics")
        for name in ("cam", "sneaky"):
            c.post("/v1/source", json={"name": name, "segment_len": 1})
        r = c.post("/v1/playlist", content=(camera / "index.m3u8").read_bytes(), headers={
            "video-source-name": "cam", "mpeg-ts-uri-prefix": f"http://{allow}:{up.port}/cam"})
        assert r.status_code == 200, r.text
        text = c.get("/live/cam/index.m3u8").text
        assert_valid(text, live=True)
        assert len(m3u8.loads(text).segments) == 3
        assert up.count("/cam/seg0.ts") == 1
        # Allowed, the sender's host redirects to a refused address: refused at that hop.
        r = c.post("/v1/playlist", content=b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n"
                                            b"#EXTINF:1.0,\nmetrics-seg.ts\n", headers={
            "video-source-name": "sneaky", "mpeg-ts-uri-prefix": f"http://{allow}:{up.port}/"})
        assert r.status_code == 403, r.text
        assert r.json()["error"]["message"].startswith(
            f"refused to fetch http://127.0.0.2:{server.port}/metrics: 127.0.0.2 is a "
            "loopback address")
        assert up.count("/metrics-seg.ts") == 1
        assert c.get("/live/sneaky/index.m3u8").status_code == 404
        assert refusals_logged(server) == 1


def test_a_source_changed_on_another_node_plays_there_within_seconds(tmp_path: Path) -> None:
    """Two nodes on one PostgreSQL database: what one says of a source (streaming or not,
    deleted) reaches the other's playback path within its few seconds of staleness
    (`LiveMixSources`), where it used to be remembered for ever."""
    with fresh_database() as (host, port, user, name):
        url = f"postgresql://{user}@{host}:{port}/{name}"
        with HlsdServer({"database_url": url}, tmp_dir=tmp_path / "one") as one, \
                HlsdServer({"database_url": url}, tmp_dir=tmp_path / "two") as two, \
                httpx.Client(base_url=one.url, timeout=10) as c1, \
                httpx.Client(base_url=two.url, timeout=10) as c2:
            sid = _envelope_ok(c1.post("/v1/source", json={
                "name": "shared-cam", "segment_len": 1}))["source"]["id"]
            playlist = f"/v1/vod/live/{sid}/vid.m3u8"

            def refusal() -> str:
                r = c2.get(playlist)
                assert r.status_code == 404  # no stream on node two either way
                return str(r.json()["error"])

            assert "not streaming" in refusal()  # and node two remembers it
            _envelope_ok(c1.put(f"/v1/source/{sid}/streaming", params={"new_state": "true"}))
            wait_until(lambda: "not streaming" not in refusal(), timeout=10,
                       what="node two seeing the source streaming")
            _envelope_ok(c1.delete(f"/v1/source/{sid}"))
            wait_until(lambda: "not streaming" in refusal(), timeout=10,
                       what="node two seeing the source gone")
