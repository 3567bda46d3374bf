"""One upstream and one hlsd per test module, with media generated once per session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._support import media as fx
from tests._support.hlsd_server import HlsdServer
from tests._support.servers import Upstream

HANDSHAKE = "I-AM-A-SECRET-KEY"


@dataclass(frozen=True)
class Library:
    """Test media by qid."""

    files: dict[str, Path]
    vtt: Path


@pytest.fixture(scope="session")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    d = tmp_path_factory.mktemp("library")
    files = {
        "clip.mp4": fx.h264_aac_mp4(d / "clip.mp4", seconds=8),
        "clip-mp3.mp4": fx.h264_mp3_mp4(d / "clip-mp3.mp4", seconds=6),
        "tone.wav": fx.wav(d / "tone.wav", seconds=8),
        "tone.mp3": fx.mp3(d / "tone.mp3", seconds=8),
        "tone.flac": fx.flac(d / "tone.flac", seconds=6),
        "tone.ogg": fx.ogg_opus(d / "tone.ogg", seconds=6),
        "clip.webm": fx.vp9_opus_webm(d / "clip.webm", seconds=6),
        # No B-frames, 44.1 kHz AAC (priming of 1024 samples = 23 ms before the picture)
        "sync.mp4": fx.h264_aac_mp4(d / "sync.mp4", seconds=6, bframes=False,
                                    sample_rate=44100),
    }
    (d / "notes.txt").write_text("this is not media\n" * 100)
    files["notes.txt"] = d / "notes.txt"
    files["cut.mp4"] = fx.truncated(files["clip.mp4"], d / "cut.mp4", keep=0.4)
    return Library(files=files, vtt=fx.vtt(d / "subs.vtt", seconds=8))


def serve_library(up: Upstream, library: Library) -> None:
    for qid, path in library.files.items():
        up.add_file(f"/media/{qid}", path)
    up.add_file("/vtt/clip.mp4", library.vtt)
    up.add_file("/vtt/tone.wav", library.vtt)
    up.add_file("/vtt/q with space/and slash", library.vtt)
    up.add_file("/media/q with space/and slash", library.files["tone.mp3"])
    up.add_status("/media/missing", 404)
    up.add_status("/media/broken", 500)
    up.add_status("/vtt/broken-subs", 500)
    up.add_file("/media/broken-subs", library.files["tone.mp3"])
    up.add_delay("/media/slow", 30)


def config(up: Upstream, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "cache": {"dir": "cache", "size": "500MB", "limit": 50, "tempdir": "temp",
                  "static": "static", "expiry": "10m",
                  "killsize": {"enabled": True, "tempdir": "200MB", "static": "512MB"}},
        "handshake": HANDSHAKE,
        "url": {"video": f"{up.url}/media", "vtt": f"{up.url}/vtt"},
        "upstream": {"read_timeout": "2s", "total_timeout": "20s"},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


@pytest.fixture(scope="module")
def upstream(library: Library) -> Iterator[Upstream]:
    with Upstream() as up:
        serve_library(up, library)
        yield up


@pytest.fixture(scope="module")
def hlsd(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    with HlsdServer(config(upstream), tmp_dir=tmp_path_factory.mktemp("hlsd")) as server:
        yield server


@pytest.fixture
def client(hlsd: HlsdServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hlsd.url, timeout=30) as c:
        yield c


def issue(client: httpx.Client, qid: str) -> dict[str, str]:
    r = client.post("/api/token", json={"handshake": HANDSHAKE, "qid": qid})
    assert r.status_code == 201, r.text
    body: dict[str, str] = r.json()
    return body
