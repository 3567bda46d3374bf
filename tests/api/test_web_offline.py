"""hlsd's pages work offline: in Chromium with every request to another host aborted (and
recorded), the console's overview lists a live stream (with its picture) and links to
its page, the spectate page plays it over the websocket, and ``/docs`` shows every
operation. When the installation lacks the front-end files (hls.js, Swagger UI), each
page says so on the page (the overview, which plays nothing, still lists the streams),
and the files' URLs answer 503 with the reason."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests._support import console
from tests._support import media as fx
from tests._support.browser import browser_test
from tests._support.console import Browser
from tests._support.hlsd_server import REPO_ROOT, HlsdServer
from tests._support.polling import wait_until
from tests._support.publisher import LivePublisher

pytestmark = browser_test
STREAM = "offline-cam"
PLAYED = "(s) => { const v = document.getElementById('video'); return v.currentTime >= s; }"
PICTURE = ("(name) => { const img = document.querySelector("
           "`article[data-stream='${name}'] img.thumb`); "
           "return img !== null && img.complete && img.naturalWidth > 0; }")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with console.chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    """hlsd with a websocket stream on air (a clip published in a loop)."""
    root = tmp_path_factory.mktemp("offline")
    clip = fx.h264_aac_mp4(root / "clip.mp4", seconds=4)
    with HlsdServer({"websocket": {"fragment_buffer": 3}}, tmp_dir=root / "node") as server:
        publish = subprocess.Popen(
            [sys.executable, "-m", "hlsd", "publish", str(clip), "--stream", STREAM,
             "--to", f"ws://127.0.0.1:{server.port}/ws", "--segment", "1", "--loop"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: httpx.get(f"{server.url}/live/{STREAM}/index.m3u8")
                       .status_code == 200, timeout=30, what="the publisher on air")
            yield server
        finally:
            publish.terminate()
            publish.wait(timeout=10)


def test_every_page_works_with_no_other_host(live: HlsdServer, chromium: Any) -> None:
    browser = Browser(chromium, live.url)

    overview = browser.page(f"{live.url}/")
    card = overview.locator(f"article[data-stream='{STREAM}']")
    card.wait_for(timeout=15_000)
    assert card.get_by_role("link", name=STREAM, exact=True).get_attribute("href") \
        == f"/ui/streams/{STREAM}"
    overview.wait_for_function(PICTURE, arg=STREAM, timeout=30_000)
    assert overview.locator("#problem").is_hidden()
    assert overview.evaluate("() => window.__console.problems") == []

    spectate = browser.page(f"{live.url}/web/spectate?stream={STREAM}&delay=3")
    spectate.wait_for_function(PLAYED, arg=3, timeout=30_000)
    assert spectate.evaluate("() => window.__spectate.errors") == []

    operations = sum(len(ops) for ops in httpx.get(f"{live.url}/openapi.json")
                     .json()["paths"].values())
    docs = browser.page(f"{live.url}/docs")
    docs.wait_for_function("(n) => document.querySelectorAll('.opblock').length === n",
                           arg=operations, timeout=30_000)
    shown = docs.locator("#swagger-ui").inner_text()
    for path in ("/api/token", "/hls/{rid}/{file}", "/live/{stream}/index.m3u8", "/ws",
                 "/metrics", "/api/uploads/{upload_id}"):
        assert path in shown, path

    assert browser.outside == [], "pages tried to reach other hosts"
    assert browser.page_errors == []


def test_a_page_that_cannot_play_says_why(live: HlsdServer, chromium: Any) -> None:
    """A stream that is not on air: the spectate page says so on the page."""
    browser = Browser(chromium, live.url)
    page = browser.page(f"{live.url}/web/spectate?stream=nobody-here&delay=3")
    message = page.locator("#message")
    message.wait_for(state="visible", timeout=15_000)
    assert "“nobody-here” is not live here" in message.inner_text()
    assert browser.outside == []


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    """hlsd from a copy of the package that was never built: no hlsd/web/vendor/, and no
    source checkout (node_modules) around it."""
    root = tmp_path_factory.mktemp("bare")
    shutil.copytree(REPO_ROOT / "hlsd", root / "site" / "hlsd",
                    ignore=shutil.ignore_patterns("vendor", "__pycache__"))
    with HlsdServer({}, tmp_dir=root / "node",
                    env={"PYTHONPATH": str(root / "site")}) as server:
        yield server


def test_missing_front_end_files_are_named_on_the_pages(bare: HlsdServer,
                                                       chromium: Any) -> None:
    for name, what in (("hls.min.js", "hls.js"), ("swagger-ui-bundle.js", "Swagger UI")):
        r = httpx.get(f"{bare.url}/web/vendor/{name}")
        assert r.status_code == 503 and "location" not in r.headers
        assert r.json()["error"].startswith(f"{what} is not part of this hlsd installation")
        assert "npm" in r.json()["error"]
    browser = Browser(chromium, bare.url)

    spectate = browser.page(f"{bare.url}/web/spectate?stream={STREAM}")
    message = spectate.locator("#message")
    message.wait_for(state="visible", timeout=15_000)
    assert "hls.js is not part of this hlsd installation" in message.inner_text()
    assert spectate.locator("button").is_disabled()

    # The overview plays nothing: without hls.js it still lists the live streams.
    with LivePublisher(f"{bare.url}/ingest/bare-cam", size="320x180", audio=False):
        overview = browser.page(f"{bare.url}/")
        card = overview.locator("article[data-stream='bare-cam']")
        card.wait_for(timeout=30_000)
        assert card.get_by_role("link", name="bare-cam", exact=True).get_attribute("href") \
            == "/ui/streams/bare-cam"
        assert overview.locator("#problem").is_hidden()
        assert overview.locator("#health .badge").first.is_visible()

    docs = browser.page(f"{bare.url}/docs")
    assert "Swagger UI is not part of this hlsd installation" in docs.locator(
        "#message").inner_text()
    assert docs.locator("a[href='/openapi.json']").is_visible()

    assert browser.outside == []
