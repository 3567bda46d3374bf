"""Live push through a real nginx reverse proxy with request buffering on (its default).

nginx reads each upload whole before it sends it on, and here it first asks an auth
endpoint about every media upload (`Nginx(hold=…)`), so each segment reaches hlsd after
the playlist ffmpeg sent right behind it, and the ENDLIST playlist before the last
segment. Every segment hlsd acknowledged with a 2xx must be in the automatic recording,
byte for byte (nginx mirrors each upload to a recorder), and the recording must decode
clean.
"""

from __future__ import annotations

import hashlib
import posixpath
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import m3u8
import pytest

from hlsd.hls.check import assert_valid
from tests._support import media as fx
from tests._support.hlsd_server import HlsdServer
from tests._support.nginx import AccessEntry, Nginx, require_nginx
from tests._support.publisher import LivePublisher, Recorder, SegmentType, Variant

KEY = "publish-secret"


@pytest.fixture(scope="module")
def hlsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    require_nginx()
    cfg = {"live": {"window": 4, "idle_timeout": "10s", "publish_keys": [KEY]},
           "recording": {"reach_back": "30s", "auto": ["proxied-*"]}}
    with HlsdServer(cfg, tmp_dir=tmp_path_factory.mktemp("nginx-hlsd")) as server:
        yield server


def _until(what: str, check: Callable[[], bool], timeout: float = 40.0,
           detail: Callable[[], object] = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {detail()}")
        time.sleep(0.2)


def _media_uploads(entries: list[AccessEntry], stream: str) -> list[AccessEntry]:
    return [e for e in entries if e.method == "PUT" and e.uri.startswith(f"/ingest/{stream}/")
            and e.uri.endswith((".ts", ".m4s"))]


def _recorded(c: httpx.Client, playlist: str) -> tuple[set[str], list[str]]:
    """The SHA-256 of every media segment of a recording, and its media playlists."""
    text = c.get(playlist).text
    assert_valid(text)
    parsed = m3u8.loads(text)
    base = playlist.rsplit("/", 1)[0]
    if parsed.is_variant:
        texts = [c.get(f"{base}/{v.uri}").text for v in parsed.playlists]
        folders = [f"{base}/{posixpath.dirname(v.uri)}" for v in parsed.playlists]
    else:
        texts, folders = [text], [base]
    hashes = set()
    for media, folder in zip(texts, folders, strict=True):
        assert_valid(media)
        for segment in m3u8.loads(media).segments:
            hashes.add(hashlib.sha256(c.get(f"{folder}/{segment.uri}").content).hexdigest())
    return hashes, texts


@pytest.mark.parametrize(("segment_type", "variants", "hold"), [
    ("mpegts", None, 0.3),
    ("fmp4", [("720p", "640x360", "900k"), ("360p", "320x180", "300k")], 1.5),
], ids=["ts-held-0.3s", "fmp4-variants-held-1.5s"])
def test_every_acknowledged_segment_is_recorded_through_a_buffering_proxy(
        hlsd: HlsdServer, tmp_path: Path, segment_type: SegmentType,
        variants: list[Variant] | None, hold: float) -> None:
    stream = f"proxied-{segment_type}"
    with Recorder() as copies, \
            Nginx(hlsd.url, tmp_dir=tmp_path / "nginx", mirror=copies.url, hold=hold) as proxy, \
            httpx.Client(base_url=hlsd.url, timeout=30) as c:
        with LivePublisher(f"{proxy.url}/ingest/{stream}", segment_type=segment_type,
                           variants=variants, headers={"Authorization": f"Bearer {KEY}"},
                           duration=10, size="640x360", video_bitrate="1500k",
                           list_size=4) as pub:
            assert pub.wait(timeout=60) == 0, pub.log_text()[-2000:]

        def recordings() -> list[dict[str, object]]:
            listed: list[dict[str, object]] = c.get(
                f"/api/streams/{stream}/recordings").json()["recordings"]
            return listed

        _until("the automatic recording to stop at ENDLIST",
               lambda: len(listed := recordings()) == 1 and not listed[0]["active"],
               detail=lambda: f"recordings {recordings()}; nginx saw "
               f"{[(e.uri, e.status) for e in proxy.access()][:12]}")
        # nginx logs a request once hlsd has answered it, and the mirror holds its body.
        _until("nginx to log every mirrored upload",
               lambda: {e.uri for e in _media_uploads(proxy.access(), stream)}
               >= {p for p in copies.files if p.startswith(f"/ingest/{stream}/")
                   and p.endswith((".ts", ".m4s"))})
        uploads = _media_uploads(proxy.access(), stream)
        acknowledged = [e for e in uploads if e.upstream_ok]
        assert len(acknowledged) >= 8 * len(variants or [None]), [
            (e.uri, e.upstream_status) for e in uploads]
        # The proxy did reorder: hlsd waited for segments its playlists had named.
        metrics = c.get("/metrics").text
        [reordered] = [float(line.split()[1]) for line in metrics.splitlines()
                       if line.startswith("hlsd_live_reordered_segments_total ")]
        assert reordered >= len(acknowledged) // 2

        [rec] = c.get(f"/api/streams/{stream}/recordings").json()["recordings"]
        stored, texts = _recorded(c, rec["playlist"])
        lost = [e.uri for e in acknowledged
                if hashlib.sha256(copies.body(e.uri)).hexdigest() not in stored]
        assert lost == [], f"acknowledged, not recorded: {lost}\n{hlsd.log_tail(30)}"
        assert sum(text.count("#EXTINF") for text in texts) == len(acknowledged)
        assert not any("#EXT-X-DISCONTINUITY\n" in text for text in texts)
        assert fx.decode_errors(f"{hlsd.url}{rec['playlist']}", every_stream=True) == ""
        assert "hlsd_live_lost_segments_total{" not in metrics
