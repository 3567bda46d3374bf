"""Live push ingest and live delivery, end to end: ffmpeg publishes into a running hlsd
(``-re``, ``-method PUT``), and real clients read ``/live/…`` while the push is live."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import m3u8
import pytest

from hlsd.hls.check import assert_valid
from tests._support import media as fx
from tests._support.browser import browser_test, describe, play_hls
from tests._support.hlsd_server import HlsdServer
from tests._support.polling import wait_segments, wait_until
from tests._support.publisher import LivePublisher

KEY = "publish-secret"


@pytest.fixture(scope="module")
def hlsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    # A small memory bound, so that playback here also reads segments spilled to disk.
    cfg = {"live": {"window": 4, "idle_timeout": "3s", "retention": "60s",
                    "publish_keys": [KEY], "max_segment_bytes": "8MB",
                    "memory_per_variant": "150KB"}}
    with HlsdServer(cfg, tmp_dir=tmp_path_factory.mktemp("live")) as server:
        yield server


def _publisher(hlsd: HlsdServer, stream: str, **kw: object) -> LivePublisher:
    return LivePublisher(f"{hlsd.url}/ingest/{stream}",
                         headers={"Authorization": f"Bearer {KEY}"}, size="320x240",
                         **kw)  # type: ignore[arg-type]


def test_a_ts_push_plays_live_with_a_sliding_window(hlsd: HlsdServer) -> None:
    with _publisher(hlsd, "cam-ts", duration=9) as pub, \
            httpx.Client(base_url=hlsd.url, timeout=10) as c:
        url = "/live/cam-ts/index.m3u8"
        previous = wait_segments(c, url, 2)
        sequences = []
        while pub.running:
            text = c.get(url).text
            assert_valid(text, live=True, previous=previous)
            previous = text
            sequences.append(m3u8.loads(text).media_sequence)
            time.sleep(0.5)
        assert sequences == sorted(sequences) and sequences[-1] >= 2  # the window slid
        # The publisher finished: its final playlist said ENDLIST.
        final = c.get(url).text
        assert "#EXT-X-ENDLIST" in final
        assert_valid(final, live=False)
        assert fx.decode_errors(f"{hlsd.url}{url}") == ""
        # A segment that left the window is still fetchable for a while (from disk).
        first = m3u8.loads(previous).segments[0].uri
        assert c.get(f"/live/cam-ts/{first}").status_code == 200
        assert list((hlsd.dir / "hlsd-data" / "spill" / "cam-ts").rglob("*.ts"))


def test_an_fmp4_push_plays_live(hlsd: HlsdServer) -> None:
    with _publisher(hlsd, "cam-fmp4", duration=6, segment_type="fmp4"), \
            httpx.Client(base_url=hlsd.url, timeout=10) as c:
        text = wait_segments(c, "/live/cam-fmp4/index.m3u8", 2)
        assert "#EXT-X-MAP:URI=" in text
        assert_valid(text, live=True)
        assert fx.decode_errors(f"{hlsd.url}/live/cam-fmp4/index.m3u8") == ""


def test_a_multivariant_push_gets_a_master(hlsd: HlsdServer) -> None:
    variants = [("720p", "640x360", "600k"), ("360p", "320x180", "200k")]
    with _publisher(hlsd, "cam-abr", duration=7, variants=variants), \
            httpx.Client(base_url=hlsd.url, timeout=10) as c:
        for name, _, _ in variants:
            wait_segments(c, f"/live/cam-abr/{name}/index.m3u8", 2)
        master = c.get("/live/cam-abr/index.m3u8").text
        assert_valid(master)
        parsed = m3u8.loads(master)
        assert sorted(p.uri for p in parsed.playlists) == ["360p/index.m3u8", "720p/index.m3u8"]
        assert {p.stream_info.resolution for p in parsed.playlists} == {(640, 360), (320, 180)}
        assert all(p.stream_info.bandwidth and p.stream_info.codecs for p in parsed.playlists)
        assert fx.decode_errors(f"{hlsd.url}/live/cam-abr/index.m3u8") == ""


def test_publish_keys_are_checked(hlsd: HlsdServer) -> None:
    with httpx.Client(base_url=hlsd.url, timeout=10) as c:
        assert c.put("/ingest/x/seg-0.ts", content=b"x").status_code == 401
        wrong = c.put("/ingest/x/seg-0.ts", content=b"x", headers={"authorization": "Bearer no"})
        assert wrong.status_code == 403 and wrong.json()["error"]
        ok = c.put(f"/ingest/x/seg-0.ts?key={KEY}", content=b"x")
        assert ok.status_code == 201


@pytest.mark.parametrize(("path", "status"), [
    ("/ingest/../x/seg.ts", 400), ("/ingest/" + "a" * 200 + "/seg.ts", 400),
    ("/ingest/cam/a/b/c.ts", 400),
])
def test_bad_stream_ids_and_paths(hlsd: HlsdServer, path: str, status: int) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", hlsd.port, timeout=10)
    conn.request("PUT", path, body=b"x", headers={"authorization": f"Bearer {KEY}"})
    r = conn.getresponse()
    assert r.status in (status, 404), (r.status, r.read())
    conn.close()


def test_oversized_segments_are_413_and_others_carry_on(hlsd: HlsdServer) -> None:
    with httpx.Client(base_url=hlsd.url, timeout=30) as c:
        r = c.put("/ingest/big/seg-0.ts", content=b"x" * 9_000_000,
                  headers={"authorization": f"Bearer {KEY}"})
        assert r.status_code == 413 and r.json()["error"]
        assert c.get("/api/health").status_code == 200


def test_a_playlist_before_its_segment_is_202_and_the_segment_goes_live(
        hlsd: HlsdServer) -> None:
    auth = {"authorization": f"Bearer {KEY}"}
    segment = _ts_segment()
    playlist = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nlate-0.ts\n"
    with httpx.Client(base_url=hlsd.url, timeout=10) as c:
        early = c.put("/ingest/reordered/index.m3u8", content=playlist, headers=auth)
        assert early.status_code == 202, early.text
        assert early.json() == {"committed": 0, "awaited": ["late-0.ts"]}
        late = c.put("/ingest/reordered/late-0.ts", content=segment, headers=auth)
        assert late.status_code == 201 and late.json()["committed"] == 1
        live = c.get("/live/reordered/index.m3u8")
        assert live.status_code == 200 and live.text.count("#EXTINF") == 1
        uri = m3u8.loads(live.text).segments[0].uri
        assert c.get(f"/live/reordered/{uri}").content == segment
        bad = c.put("/ingest/reordered/index.m3u8", content=b"garbage", headers=auth)
        assert bad.status_code == 400


def _ts_segment() -> bytes:
    return bytes([0x47]) + bytes(187)


def test_a_second_publisher_is_rejected_while_the_first_is_live(hlsd: HlsdServer) -> None:
    with _publisher(hlsd, "cam-dup", duration=8), \
            httpx.Client(base_url=hlsd.url, timeout=10) as c:
        wait_segments(c, "/live/cam-dup/index.m3u8", 3)
        auth = {"authorization": f"Bearer {KEY}"}
        # A second encoder starting from zero on the same id.
        assert c.put("/ingest/cam-dup/other-0.ts", content=b"x" * 188,
                      headers=auth).status_code == 201
        intruder = c.put("/ingest/cam-dup/index.m3u8", headers=auth, content=(
            b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n"
            b"#EXTINF:1.0,\nother-0.ts\n"))
        assert intruder.status_code == 409 and "another publisher" in intruder.json()["error"]
        # The first publisher carries on undisturbed.
        before = m3u8.loads(c.get("/live/cam-dup/index.m3u8").text)
        wait_until(lambda: m3u8.loads(c.get("/live/cam-dup/index.m3u8").text).segments[-1].uri
                   != before.segments[-1].uri, 30, "a new segment from the first publisher")
        after = m3u8.loads(c.get("/live/cam-dup/index.m3u8").text)
        assert after.segments[-1].uri != before.segments[-1].uri
        assert not any(s.discontinuity for s in after.segments)


def test_unknown_streams_are_404(hlsd: HlsdServer) -> None:
    with httpx.Client(base_url=hlsd.url, timeout=10) as c:
        for path in ("/live/nope/index.m3u8", "/live/nope", "/live/a/b/c/d.ts"):
            r = c.get(path)
            assert r.status_code == 404 and r.json()["error"], path


@browser_test[0]
@browser_test[1]
def test_hlsjs_plays_a_live_push(hlsd: HlsdServer, tmp_path: Path) -> None:
    with _publisher(hlsd, "cam-web", duration=14), \
            httpx.Client(base_url=hlsd.url, timeout=10) as c:
        wait_segments(c, "/live/cam-web/index.m3u8", 3)
        result = play_hls(f"{hlsd.url}/live/cam-web/index.m3u8", seconds=3, timeout=30)
        assert result.played >= 3.0, describe(result)
        assert result.fatal_errors == [], describe(result)


def test_token_gated_live_playback(tmp_path: Path) -> None:
    cfg = {"live": {"access": "token", "window": 4, "publish_keys": [KEY]}}
    with HlsdServer(cfg, tmp_dir=tmp_path) as server, \
            httpx.Client(base_url=server.url, timeout=10) as c, \
            _publisher(server, "vip", duration=8):
        minted = c.post("/api/streams/vip/token", json={"ttl": "10m"})
        assert minted.status_code == 201, minted.text
        token = minted.json()["token"]
        other = c.post("/api/streams/other/token").json()["token"]
        url = "/live/vip/index.m3u8"
        deadline = time.monotonic() + 20
        while c.get(url, headers={"x-gostreamer-token": token}).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert c.get(url).status_code == 401
        assert c.get(url, headers={"x-gostreamer-token": other}).status_code == 403
        ok = c.get(url, headers={"authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and "private" in ok.headers["cache-control"]
        via_query = c.get(f"{url}?token={token}").text
        uris = [u for u in via_query.splitlines() if u and not u.startswith("#")]
        assert uris and all(u.endswith(f"?token={token}") for u in uris)
        assert c.get(uris[0].join(["/live/vip/", ""])).status_code == 200
        assert c.post("/api/streams/vip/token", json={"ttl": "30d"}).status_code == 422
        assert c.post("/api/streams/bad id!/token").status_code == 400


def test_one_publish_key_pushes_at_most_max_streams_per_key(tmp_path: Path) -> None:
    keys = ["Kx7qFirstSecret", "Zp3wSecondSecret"]
    roots = tmp_path / "segments"
    roots.mkdir()
    (roots / "seg-0.ts").write_bytes(_ts_segment())
    cfg = {"live": {"publish_keys": keys, "max_streams_per_key": 2},
           "livemix": {"file_roots": [str(roots)]}}
    one, two = ({"authorization": f"Bearer {k}"} for k in keys)
    playlist = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg-0.ts\n"
    with HlsdServer(cfg, tmp_dir=tmp_path / "hlsd") as server, \
            httpx.Client(base_url=server.url, timeout=10) as c:
        for stream in ("a", "b"):
            assert c.put(f"/ingest/{stream}/seg-0.ts", content=_ts_segment(),
                         headers=one).status_code == 201
        refused = c.put("/ingest/c/seg-0.ts", content=_ts_segment(), headers=one)
        assert refused.status_code == 429, refused.text
        assert refused.json()["limit"] == "live.max_streams_per_key"
        assert "live.max_streams_per_key" in refused.json()["error"]
        assert c.put("/ingest/c/index.m3u8", content=playlist,
                     headers=one).status_code == 429
        # The key's own streams carry on, and another key is not held by it.
        assert c.put("/ingest/a/index.m3u8", content=playlist, headers=one).status_code == 201
        assert c.put("/ingest/c/seg-0.ts", content=_ts_segment(),
                     headers=two).status_code == 201
        # LiveMix's /v1/playlist counts against the same key.
        assert c.post("/v1/source", json={"name": "lm", "segment_len": 2}).status_code == 200
        lm = c.post("/v1/playlist", content=playlist, headers={
            **one, "video-source-name": "lm", "mpeg-ts-uri-prefix": roots.as_uri() + "/"})
        assert lm.status_code == 429 and lm.json()["success"] is False
        assert lm.json()["error"]["limit"] == "live.max_streams_per_key"
        ok = c.post("/v1/playlist", content=playlist, headers={
            **two, "video-source-name": "lm", "mpeg-ts-uri-prefix": roots.as_uri() + "/"})
        assert ok.status_code == 200, ok.text
    # No part of a key is written anywhere a log reader sees.
    assert not any(k[:4] in server.log_text() for k in keys)
