"""The console's stream page, ``/ui/streams/{name}``, in Chromium against a real hlsd
whose live playback is token-gated (``live.access: token``), with a stream that ffmpeg
publishes over RTMP (hlsd cuts it into LL-HLS parts).

The page plays it (its own token, hls.js in low-latency mode), shows its variant and a
bitrate graph, starts a recording that the API then holds and stops it (its own page
then replays it and downloads it as MP4), mints a token the gated server accepts; a
stream that is not on air says so on the page, and plays as soon as it comes on air."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._support.browser import browser_test
from tests._support.console import Browser, shoot
from tests._support.hlsd_server import HlsdServer, free_port
from tests._support.media import FFMPEG, decode_errors
from tests._support.polling import wait_until

pytestmark = browser_test
STREAM = "page-cam"
PLAYED = "(s) => { const v = document.getElementById('video'); return !!v && v.currentTime >= s; }"
PAGE = "() => window.__console.page"
PROBLEMS = "() => window.__console.problems"


class Node:
    def __init__(self, server: HlsdServer, rtmp: int) -> None:
        self.server = server
        self.url = server.url
        self.rtmp = rtmp


@contextmanager
def publishing(node: Node, stream: str) -> Iterator[None]:
    """ffmpeg sending a small test pattern over RTMP (loopback: no publish key needed),
    until the block ends."""
    proc = subprocess.Popen(
        [FFMPEG, "-hide_banner", "-nostdin", "-v", "error", "-re",
         "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k",
         "-f", "flv", f"rtmp://127.0.0.1:{node.rtmp}/live/{stream}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def replay_and_download(browser: Browser, live: Node, rid: str, folder: Path) -> None:
    """The recording started on the stream page, on its own page: it replays, and its
    MP4 downloads and decodes."""
    page = browser.page(f"{live.url}/ui/recordings/{rid}")
    page.wait_for_function(PLAYED, arg=1, timeout=30_000)
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("link", name="Download MP4").click()
    target = folder / "recording.mp4"
    info.value.save_as(target)
    assert decode_errors(str(target)) == ""
    assert page.evaluate(PROBLEMS) == []


def on_air(node: Node, stream: str) -> bool:
    answer = httpx.get(f"{node.url}/api/streams/{stream}", timeout=5)
    return answer.status_code == 200 and any(v["segments"] >= 2
                                             for v in answer.json()["variants"])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    rtmp = free_port()
    config = {"live": {"access": "token", "segment_duration": 1.0, "part_duration": 0.25},
              "rtmp": {"listen": f"127.0.0.1:{rtmp}"}}
    with HlsdServer(config, tmp_dir=tmp_path_factory.mktemp("stream-page")) as server:
        node = Node(server, rtmp)
        with publishing(node, STREAM):
            wait_until(lambda: on_air(node, STREAM), timeout=30, what="the publisher on air")
            yield node


def test_the_page_plays_the_stream_and_controls_it(live: Node, chromium: Any,
                                                   tmp_path: Path) -> None:
    browser = Browser(chromium, live.url)
    page = browser.page(f"{live.url}/ui/streams/{STREAM}")
    page.wait_for_function(PLAYED, arg=2, timeout=30_000)
    shown = page.evaluate(PAGE)
    assert shown["stream"]["parts"] is True and shown["stream"]["access"] == "token"
    assert shown["offAir"] == "" and page.locator("#off-air").is_hidden()
    assert page.locator("#badges").inner_text().split("\n")[0] == "live"
    assert "LL-HLS (parts)" in page.locator("#badges").inner_text()

    # Its variant, and a graph of at least two measured segments.
    row = page.locator("#variants tbody tr").first
    assert row.locator("th").inner_text().startswith("(single variant)")
    assert int(row.locator("td").nth(3).inner_text()) >= 2  # segments in the window
    page.wait_for_function("() => (window.__console.page.samples[''] || 0) >= 2",
                           timeout=15_000)
    points = page.locator("#bitrate-graph polyline").get_attribute("points") or ""
    assert len(points.split()) >= 2
    assert "kbit/s" in page.locator("#legend").inner_text() \
        or "Mbit/s" in page.locator("#legend").inner_text()
    # The page's own player is an HTTP player hlsd counts.
    page.wait_for_function("() => window.__console.page.stream.played_recently",
                           timeout=10_000)
    page.wait_for_function("() => document.getElementById('viewers').innerText"
                           ".includes('watching')", timeout=5_000)
    assert "Websocket spectators\t0" in page.locator("#viewers").inner_text()

    # A recording started on the page is in the API, and stops from the page.
    assert "No recordings of this stream yet" in page.locator("#recording").inner_text()
    page.get_by_label("Name").fill("from the page")
    page.get_by_role("button", name="Start recording").click()
    stop = page.get_by_role("button", name="Stop recording from the page")
    stop.wait_for(timeout=15_000)
    [recording] = httpx.get(f"{live.url}/api/recordings", timeout=5).json()["recordings"]
    assert recording["stream"] == STREAM and recording["active"] is True
    assert recording["alias"] == "from the page"
    link = page.locator(f"#recording-control a[href='/ui/recordings/{recording['id']}']")
    assert link.is_visible()
    assert f"/recordings/{recording['id']}.mp4" in page.locator("#recording-list").inner_text()
    recorded = f"{live.url}/recordings/{recording['id']}/index.m3u8"
    wait_until(lambda: httpx.get(recorded, timeout=5).text.count("#EXTINF") >= 2, 30,
               "two segments recorded")
    stop.click()
    page.get_by_role("button", name="Start recording").wait_for(timeout=15_000)
    stopped = httpx.get(f"{live.url}/api/recordings/{recording['id']}", timeout=5).json()
    assert stopped["active"] is False and stopped["end_ts"]
    replay_and_download(browser, live, recording["id"], tmp_path)

    # A token minted on the page opens the gated stream, for as long as was picked.
    page.get_by_label("Valid for").select_option(label="10 minutes")
    page.get_by_role("button", name="Mint a playback token").click()
    page.wait_for_function("() => window.__console.page.token !== ''", timeout=10_000)
    token = page.evaluate(PAGE)["token"]
    assert 590 <= int(token.split(".")[0]) - time.time() <= 610
    out = page.locator("#token-out").inner_text()
    assert token in out and f"/live/{STREAM}/index.m3u8?token=" in out
    assert "needs a token (live.access: token)" in page.locator("#access-note").inner_text()
    playlist = f"{live.url}/live/{STREAM}/index.m3u8"
    assert httpx.get(playlist, timeout=5).status_code == 401
    assert httpx.get(playlist, params={"token": token}, timeout=5).status_code == 200

    # The URLs to copy.
    urls = page.locator("#urls").inner_text()
    assert f"{live.url}/live/{STREAM}/index.m3u8" in urls
    assert f"{live.url}/web/spectate?stream={STREAM}" in urls

    assert page.evaluate(PROBLEMS) == [] and page.locator("#problem").is_hidden()
    shoot(page, "stream")
    assert browser.outside == [], "the page tried to reach other hosts"
    assert browser.page_errors == []


def test_a_stream_not_on_air_says_so_and_plays_once_it_comes(live: Node,
                                                             chromium: Any) -> None:
    browser = Browser(chromium, live.url)
    page = browser.page(f"{live.url}/ui/streams/late-cam", width=390)
    notice = page.locator("#off-air")
    notice.wait_for(state="visible", timeout=15_000)
    said = notice.inner_text()
    assert said.startswith("Not live: no stream named 'late-cam' is on air on this node")
    assert "plays it as soon as it comes on air" in said
    assert page.locator("#publish-help").is_visible()
    assert page.locator("#video").count() == 0
    assert "not on air" in page.locator("#badges").inner_text()
    shoot(page, "stream-off-air")

    with publishing(live, "late-cam"):
        page.wait_for_function(PLAYED, arg=1, timeout=40_000)
        assert notice.is_hidden()
    assert page.evaluate(PROBLEMS) == []
    assert browser.outside == [] and browser.page_errors == []
