"""``/hls/<rid>/…``: playback of every media kind, checked by real clients."""

from __future__ import annotations

import http.client
import re
from urllib.parse import quote

import httpx
import m3u8
import pytest

from hlsd.hls.check import assert_valid, check_webvtt_segment
from tests._support import media as fx
from tests._support.hlsd_server import HlsdServer
from tests._support.polling import wait_until
from tests._support.servers import Upstream
from tests.api.conftest import HANDSHAKE, config, issue

KINDS = ["clip.mp4", "clip-mp3.mp4", "tone.wav", "tone.mp3", "tone.flac", "tone.ogg",
         "clip.webm"]


def _get(client: httpx.Client, rid: str, name: str, token: str) -> httpx.Response:
    return client.get(f"/hls/{rid}/{name}", headers={"x-gostreamer-token": token})


@pytest.mark.parametrize("qid", KINDS)
def test_every_kind_plays_clean_in_ffmpeg_and_passes_the_rules(
        client: httpx.Client, hlsd: HlsdServer, qid: str) -> None:
    s = issue(client, qid)
    master = _get(client, s["rid"], "index.m3u8", s["token"])
    assert master.status_code == 200
    assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert_valid(master.text)
    variant = m3u8.loads(master.text).playlists[0]
    info = variant.stream_info
    assert info.bandwidth > 0 and info.codecs
    assert "mp4a.40" in info.codecs
    if qid.endswith((".mp4", ".webm")):
        assert info.codecs.startswith("avc1.") and info.resolution == (320, 240)
    media = _get(client, s["rid"], variant.uri, s["token"])
    assert_valid(media.text)
    assert "#EXT-X-ENDLIST" in media.text and "#EXT-X-PLAYLIST-TYPE:VOD" in media.text
    total = sum(seg.duration for seg in m3u8.loads(media.text).segments)
    assert total == pytest.approx(8 if qid in ("clip.mp4", "tone.wav", "tone.mp3") else 6,
                                  abs=0.25)
    # ffmpeg, as a native player would: the token travels in the query string.
    url = f"{hlsd.url}/hls/{s['rid']}/index.m3u8?token={quote(s['token'])}"
    assert fx.decode_errors(url) == ""


def test_segments_are_files_with_long_lived_private_caching(client: httpx.Client) -> None:
    s = issue(client, "clip.mp4")
    seg = _get(client, s["rid"], "seg-0.ts", s["token"])
    assert seg.status_code == 200 and seg.headers["content-type"] == "video/mp2t"
    assert seg.content[0] == 0x47  # MPEG-TS sync byte
    assert "immutable" in seg.headers["cache-control"]
    assert "private" in seg.headers["cache-control"]  # gated: no shared caches
    ranged = client.get(f"/hls/{s['rid']}/seg-0.ts",
                        headers={"x-gostreamer-token": s["token"], "range": "bytes=0-187"})
    assert ranged.status_code == 206 and len(ranged.content) == 188


def test_playlists_are_cached_bytes_with_an_etag(client: httpx.Client) -> None:
    s = issue(client, "tone.mp3")
    first = _get(client, s["rid"], "playlist.m3u8", s["token"])
    etag = first.headers["etag"]
    again = client.get(f"/hls/{s['rid']}/playlist.m3u8",
                       headers={"x-gostreamer-token": s["token"], "if-none-match": etag})
    assert again.status_code == 304 and again.content == b""


def test_query_tokens_are_carried_into_playlist_uris(client: httpx.Client) -> None:
    s = issue(client, "clip.mp4")
    q = quote(s["token"], safe="")
    master = client.get(f"/hls/{s['rid']}/index.m3u8?token={q}")
    assert master.status_code == 200
    uris = [line for line in master.text.splitlines() if line and not line.startswith("#")]
    uris += re.findall(r'URI="([^"]+)"', master.text)
    assert uris and all(u.endswith(f"token={q}") for u in uris)
    media = client.get(f"/hls/{s['rid']}/playlist.m3u8?token={q}")
    segs = [line for line in media.text.splitlines() if line and not line.startswith("#")]
    assert all(u.endswith(f"?token={q}") for u in segs)
    # A header token leaves the URIs clean.
    plain = _get(client, s["rid"], "playlist.m3u8", s["token"])
    assert "token=" not in plain.text


def test_bearer_tokens_are_accepted(client: httpx.Client) -> None:
    s = issue(client, "tone.mp3")
    r = client.get(f"/hls/{s['rid']}/index.m3u8",
                   headers={"authorization": f"Bearer {s['token']}"})
    assert r.status_code == 200


def test_subtitles_become_a_synced_webvtt_rendition(client: httpx.Client) -> None:
    s = issue(client, "clip.mp4")
    master = m3u8.loads(_get(client, s["rid"], "index.m3u8", s["token"]).text)
    subs = [m for m in master.media if m.type == "SUBTITLES"]
    assert len(subs) == 1 and master.playlists[0].stream_info.subtitles == subs[0].group_id
    playlist_text = _get(client, s["rid"], subs[0].uri, s["token"]).text
    assert_valid(playlist_text)
    sub_playlist = m3u8.loads(playlist_text)
    media = m3u8.loads(_get(client, s["rid"], "playlist.m3u8", s["token"]).text)
    # In sync: the same segment boundaries as the media.
    assert [x.duration for x in sub_playlist.segments] == [x.duration for x in media.segments]
    first = _get(client, s["rid"], sub_playlist.segments[0].uri, s["token"])
    assert first.headers["content-type"].startswith("text/vtt")
    assert check_webvtt_segment(first.text) == []
    assert "X-TIMESTAMP-MAP=" in first.text and "cue 1" in first.text


def test_no_subtitles_upstream_means_no_subtitle_rendition(client: httpx.Client) -> None:
    s = issue(client, "tone.mp3")  # the vtt upstream answers 404 for it
    text = _get(client, s["rid"], "index.m3u8", s["token"]).text
    assert "TYPE=SUBTITLES" not in text
    assert _get(client, s["rid"], "subtitles.m3u8", s["token"]).status_code == 404


def test_ids_with_slashes_and_spaces_stay_one_upstream_path_segment(
        client: httpx.Client) -> None:
    s = issue(client, "q with space/and slash")
    assert _get(client, s["rid"], "index.m3u8", s["token"]).status_code == 200


def test_stream_root_redirects_to_the_master(client: httpx.Client) -> None:
    s = issue(client, "tone.mp3")
    r = client.get(f"/hls/{s['rid']}", headers={"x-gostreamer-token": s["token"]})
    assert r.status_code == 307 and r.headers["location"].endswith("/index.m3u8")


# --- security -----------------------------------------------------------------------


def test_token_rules(client: httpx.Client) -> None:
    a, b = issue(client, "tone.mp3"), issue(client, "tone.wav")
    url = f"/hls/{a['rid']}/index.m3u8"
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"x-gostreamer-token": "123.abc"}).status_code == 403
    other = client.get(url, headers={"x-gostreamer-token": b["token"]})
    assert other.status_code == 403 and other.json()["error"]
    assert client.get(f"{url}?token=garbage").status_code == 403
    assert client.get(f"/hls/{a['rid']}/seg-0.ts").status_code == 401


def test_expired_tokens_and_streams(upstream: Upstream,
                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    with HlsdServer(config(upstream, cache={"expiry": "2s"}),
                    tmp_dir=tmp_path_factory.mktemp("short")) as server, \
            httpx.Client(base_url=server.url, timeout=30) as c:
        s = issue(c, "tone.mp3")
        assert _get(c, s["rid"], "index.m3u8", s["token"]).status_code == 200
        wait_until(lambda: _get(c, s["rid"], "index.m3u8", s["token"]).status_code != 200,
                   10, "the stream's expiry")
        r = _get(c, s["rid"], "index.m3u8", s["token"])
        assert r.status_code == 410 and r.json()["error"]


@pytest.mark.parametrize("path", [
    "/hls/../api/health", "/hls/%2e%2e/%2e%2e/etc/passwd", "/hls/abc/..%2F..%2Fetc%2Fpasswd",
    "/hls/" + "a" * 5000 + "/index.m3u8", "/hls/abc.def/index.m3u8", "/hls/abc/seg-1.ts",
])
def test_path_traversal_and_unknown_rids(hlsd: HlsdServer, path: str) -> None:
    # http.client sends the path as written; httpx would normalise the dots away.
    conn = http.client.HTTPConnection("127.0.0.1", hlsd.port, timeout=10)
    conn.request("GET", path, headers={"x-gostreamer-token": "1.a"})
    r = conn.getresponse()
    body = r.read().decode(errors="replace")
    conn.close()
    assert r.status in (400, 404), (r.status, body)
    assert "root:" not in body and "error" in body


def test_unknown_files_in_a_valid_stream(client: httpx.Client) -> None:
    s = issue(client, "tone.mp3")
    for name in ("seg-99.ts", "seg--1.ts", "nope.m3u8", "..", "sub-0.vtt", "x.mp4"):
        r = _get(client, s["rid"], name, s["token"])
        assert r.status_code == 404, name
        assert r.json()["error"]


def test_tokens_survive_a_restart(upstream: Upstream,
                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    with HlsdServer(config(upstream), tmp_dir=tmp_path_factory.mktemp("restart")) as server:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            s = issue(c, "tone.mp3")
        server.restart()
        with httpx.Client(base_url=server.url, timeout=30) as c:
            r = _get(c, s["rid"], "seg-0.ts", s["token"])
            assert r.status_code == 200 and r.content[0] == 0x47
            unlocked = c.post("/api/unlock", json={"handshake": HANDSHAKE, "rid": s["rid"]})
            assert unlocked.status_code == 201


def test_head_ranges_and_cors_on_the_playback_path(client: httpx.Client) -> None:
    s = issue(client, "clip.mp4")
    auth = {"x-gostreamer-token": s["token"]}
    full = client.get(f"/hls/{s['rid']}/seg-0.ts", headers=auth)
    head = client.head(f"/hls/{s['rid']}/seg-0.ts", headers=auth)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(full.content)
    tail = client.get(f"/hls/{s['rid']}/seg-0.ts", headers={**auth, "range": "bytes=-188"})
    assert tail.status_code == 206 and tail.content == full.content[-188:]
    beyond = client.get(f"/hls/{s['rid']}/seg-0.ts",
                        headers={**auth, "range": f"bytes={len(full.content)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(full.content)}"
    cors = client.get(f"/hls/{s['rid']}/index.m3u8",
                      headers={**auth, "origin": "http://player.example"})
    assert cors.headers["access-control-allow-origin"] == "*"
    assert "etag" in cors.headers["access-control-expose-headers"]
    denied = client.get(f"/hls/{s['rid']}/index.m3u8", headers={"origin": "http://x.example"})
    # Errors carry CORS headers too, so a player page can read why it was refused.
    assert denied.status_code == 401 and denied.headers["access-control-allow-origin"] == "*"
