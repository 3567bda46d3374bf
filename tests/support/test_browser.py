"""Self-tests of tests/_support/browser.py: hls.js in headless Chromium plays real HLS."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._support.browser import browser_test, describe, play_hls, play_hls_async
from tests._support.media import FFMPEG
from tests._support.servers import Upstream

pytestmark = browser_test

H264_AAC = 'video/mp4; codecs="avc1.42E01E,mp4a.40.2"'


@pytest.fixture(scope="module")
def hls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An 8 s H.264/AAC VOD stream in MPEG-TS segments of 2 s, made by ffmpeg."""
    out = tmp_path_factory.mktemp("hls")
    subprocess.run([
        FFMPEG, "-hide_banner", "-v", "error", "-y",
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=8",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=8",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
        "-c:a", "aac", "-b:a", "96k", "-shortest",
        "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod",
        "-hls_segment_filename", str(out / "seg%03d.ts"), str(out / "index.m3u8"),
    ], check=True)
    return out


@pytest.fixture
def stream(hls_dir: Path) -> Iterator[Upstream]:
    with Upstream(cors=True) as up:
        up.add_dir("/s", hls_dir)
        yield up


def test_chromium_supports_h264_aac_in_mse() -> None:
    from playwright.sync_api import sync_playwright

    from tests._support.browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            assert page.evaluate("t => MediaSource.isTypeSupported(t)", H264_AAC)
        finally:
            browser.close()


def test_plays_a_real_stream(stream: Upstream) -> None:
    result = play_hls(stream.url + "/s/index.m3u8", seconds=3)
    assert result.played >= 2.0, describe(result)
    assert not result.fatal_errors, describe(result)
    assert not result.timed_out, describe(result)
    assert result.levels == 1
    assert result.fragments_loaded >= 2
    assert result.requests[0] == stream.url + "/s/index.m3u8"
    assert any(u.endswith(".ts") for u in result.requests)
    assert stream.count("/s/seg000.ts", method="GET") == 1


def test_seek_plays_from_the_middle(stream: Upstream) -> None:
    result = play_hls(stream.url + "/s/index.m3u8", seconds=1.0, seek_to=4.5)
    assert result.played >= 5.5, describe(result)
    assert not result.fatal_errors, describe(result)
    assert stream.count("/s/seg002.ts") >= 1


def test_custom_headers_reach_the_server(stream: Upstream) -> None:
    token = "tok-123.abc"
    result = play_hls(stream.url + "/s/index.m3u8", seconds=1.0,
                      headers={"x-gostreamer-token": token})
    assert result.played >= 1.0, describe(result)
    gets = [r for r in stream.requests if r.method == "GET"]
    assert gets and all(r.header("x-gostreamer-token") == token for r in gets)
    # the custom header makes the cross-origin requests non-simple: Chromium preflights
    assert any(r.method == "OPTIONS" for r in stream.requests)


def test_errors_are_reported(stream: Upstream) -> None:
    stream.add_status("/missing/index.m3u8", 404)
    result = play_hls(stream.url + "/missing/index.m3u8", timeout=15)
    assert result.played == 0
    assert result.fatal_errors, describe(result)
    assert any("manifestLoadError" in e and "http=404" in e for e in result.errors)


def test_cross_origin_without_cors_is_blocked(hls_dir: Path) -> None:
    with Upstream(cors=False) as up:
        up.add_dir("/s", hls_dir)
        result = play_hls(up.url + "/s/index.m3u8", timeout=15)
    assert result.played == 0 and result.fatal_errors, describe(result)


async def test_plays_from_async_code(stream: Upstream) -> None:
    result = await play_hls_async(stream.url + "/s/index.m3u8", seconds=1.0)
    assert result.played >= 1.0 and not result.fatal_errors, describe(result)
    # the blocking form also works on a thread that runs an event loop
    result = play_hls(stream.url + "/s/index.m3u8", seconds=0.5)
    assert result.played >= 0.5 and not result.fatal_errors, describe(result)
