"""Disk bounds, expiry and metrics, each on a server of its own."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests._support.hlsd_server import HlsdServer
from tests._support.servers import Upstream
from tests.api.conftest import HANDSHAKE, config, issue


def _files(root: Path, pattern: str) -> list[Path]:
    return [p for p in root.rglob(pattern) if p.is_file()]


def _token(c: httpx.Client, qid: str) -> httpx.Response:
    return c.post("/api/token", json={"handshake": HANDSHAKE, "qid": qid})


def test_source_cache_evicts_lru_by_entry_limit(upstream: Upstream,
                                                tmp_path: Path) -> None:
    with HlsdServer(config(upstream, cache={"limit": 1}), tmp_dir=tmp_path) as server, \
            httpx.Client(base_url=server.url, timeout=30) as c:
        issue(c, "tone.mp3")
        issue(c, "tone.wav")
        issue(c, "tone.flac")
        assert len(_files(tmp_path / "cache" / "media", "*")) == 1
        metrics = c.get("/metrics").text
        assert 'hlsd_cache_evictions_total{cache="sources"}' in metrics
        evicted = float(metrics.split('hlsd_cache_evictions_total{cache="sources"} ')[1]
                        .split()[0])
        assert evicted >= 1
        before = upstream.count("/media/tone.mp3")
        s = issue(c, "tone.mp3")
        seg = c.get(f"/hls/{s['rid']}/seg-0.ts", headers={"x-gostreamer-token": s["token"]})
        assert seg.status_code == 200
        assert upstream.count("/media/tone.mp3") == before + 1  # evicted: fetched again


def test_a_full_segment_store_refuses_with_507(upstream: Upstream, tmp_path: Path) -> None:
    cfg = config(upstream, cache={"killsize": {"enabled": True, "tempdir": "200MB",
                                               "static": "20KB"}})
    with HlsdServer(cfg, tmp_dir=tmp_path) as server, \
            httpx.Client(base_url=server.url, timeout=30) as c:
        s = issue(c, "clip.mp4")
        r = c.get(f"/hls/{s['rid']}/seg-0.ts", headers={"x-gostreamer-token": s["token"]})
        assert r.status_code == 507 and "limit" in r.json()["error"]
        assert c.get("/api/health").status_code == 200
        assert "refused" in server.log_text() or "exceeds" in server.log_text()
    assert _files(tmp_path / "static", "*.ts") == []
    assert _files(tmp_path / "static", "*.part") == []


def test_a_full_temp_dir_refuses_new_fetches_with_507(upstream: Upstream,
                                                      tmp_path: Path) -> None:
    cfg = config(upstream, cache={"killsize": {"enabled": True, "tempdir": "10KB",
                                               "static": "512MB"}})
    with HlsdServer(cfg, tmp_dir=tmp_path) as server, \
            httpx.Client(base_url=server.url, timeout=30) as c:
        r = _token(c, "tone.wav")
        assert r.status_code == 507 and r.json()["error"]
        assert "ceiling" in server.log_text()
    assert list((tmp_path / "temp").iterdir()) == []


def test_idle_streams_and_segments_expire_and_are_removed(upstream: Upstream,
                                                          tmp_path: Path) -> None:
    with HlsdServer(config(upstream, cache={"expiry": "2s"}), tmp_dir=tmp_path) as server, \
            httpx.Client(base_url=server.url, timeout=30) as c:
        s = issue(c, "tone.mp3")
        seg = c.get(f"/hls/{s['rid']}/seg-0.ts", headers={"x-gostreamer-token": s["token"]})
        assert seg.status_code == 200
        assert _files(tmp_path / "static", "seg-*.ts")
        assert _files(tmp_path / "cache" / "media", "*")
        deadline = time.monotonic() + 10
        media = tmp_path / "cache" / "media"
        while time.monotonic() < deadline and (
                _files(tmp_path / "static", "seg-*.ts") or _files(media, "*")):
            time.sleep(0.5)
        assert _files(tmp_path / "static", "seg-*.ts") == []
        assert _files(tmp_path / "cache" / "media", "*") == []


def test_failures_leave_nothing_in_the_temp_dir(upstream: Upstream, tmp_path: Path) -> None:
    with HlsdServer(config(upstream), tmp_dir=tmp_path) as server, \
            httpx.Client(base_url=server.url, timeout=30) as c:
        for qid in ("missing", "broken", "notes.txt", "cut.mp4", "tone.mp3"):
            _token(c, qid)
    assert list((tmp_path / "temp").iterdir()) == []
    assert len(_files(tmp_path / "cache" / "media", "*")) == 1  # only the good one is kept


def test_metrics_report_cache_figures_and_builds(client: httpx.Client) -> None:
    s = issue(client, "tone.wav")
    client.get(f"/hls/{s['rid']}/seg-0.ts", headers={"x-gostreamer-token": s["token"]})
    text = client.get("/metrics").text
    for name in ("hlsd_cache_bytes", "hlsd_cache_limit_bytes", "hlsd_cache_entries",
                 "hlsd_cache_limit_entries", "hlsd_vod_segments_built_total",
                 "hlsd_vod_segment_build_seconds_bucket", "hlsd_tokens_issued_total"):
        assert name in text, name
    assert 'hlsd_vod_segments_built_total{mode="transcode"}' in text


@pytest.mark.parametrize("engine", ["uvicorn", "granian"])
def test_several_worker_processes_serve(upstream: Upstream, tmp_path: Path,
                                        engine: str) -> None:
    with HlsdServer(config(upstream), tmp_dir=tmp_path,
                    extra_args=["--workers", "2", "--server", engine]) as server, \
            httpx.Client(base_url=server.url, timeout=30) as c:
        s = issue(c, "tone.mp3")
        # Any worker verifies any token: they share the signing secret.
        for _ in range(6):
            r = c.get(f"/hls/{s['rid']}/index.m3u8", headers={"x-gostreamer-token": s["token"]})
            assert r.status_code == 200


def test_an_unreachable_upstream_is_502_and_the_server_carries_on(tmp_path: Path) -> None:
    from tests._support.hlsd_server import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    cfg = {"handshake": HANDSHAKE, "url": {"video": f"{dead}/media", "vtt": f"{dead}/vtt"}}
    with HlsdServer(cfg, tmp_dir=tmp_path) as server, \
            httpx.Client(base_url=server.url, timeout=30) as c:
        r = _token(c, "tone.mp3")
        assert r.status_code == 502 and "unreachable" in r.json()["error"]
        assert c.get("/api/health").status_code == 200
        assert "unreachable" in server.log_text()


def test_whole_downloads_when_ranges_are_turned_off(upstream: Upstream, tmp_path: Path) -> None:
    from tests._support import media as fx

    with HlsdServer(config(upstream, upstream={"ranges": False}), tmp_dir=tmp_path) as server, \
            httpx.Client(base_url=server.url, timeout=30) as c:
        seen = len(upstream.requests)
        s = issue(c, "clip-mp3.mp4")
        gets = [r for r in upstream.requests[seen:] if r.path == "/media/clip-mp3.mp4"]
        assert len(gets) == 1 and gets[0].header("range") is None
        url = f"{server.url}/hls/{s['rid']}/index.m3u8?token={s['token']}"
        assert fx.decode_errors(url) == ""
