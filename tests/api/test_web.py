"""The browser client: the spectate page plays a websocket stream in Debian's Chromium
(Playwright), through hlsd's ES module and hls.js, near the live edge."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests._support import media as fx
from tests._support.browser import CHROMIUM, CHROMIUM_ARGS, browser_test
from tests._support.hlsd_server import HlsdServer


def test_the_client_package_is_served(tmp_path: Path) -> None:
    with HlsdServer({}, tmp_dir=tmp_path) as server:
        module = httpx.get(f"{server.url}/web/client/hlsd-ws-client.js")
        assert module.status_code == 200 and "export class HlsWebSocket" in module.text
        assert module.headers["content-type"].startswith("text/javascript")
        assert httpx.get(f"{server.url}/web/client/package.json").json()["name"] \
            == "@hlsd/ws-client"
        assert httpx.get(f"{server.url}/web/client/..%2Fpages.js").status_code == 404
        page = httpx.get(f"{server.url}/web/spectate").text
        assert 'data-ws-path="/ws"' in page and "/ui/static/pages/spectate.js" in page
        script = httpx.get(f"{server.url}/ui/static/pages/spectate.js").text
        assert '"/web/client/hlsd-ws-client.js"' in script
        assert httpx.get(f"{server.url}/ui/static/..%2F..%2Fapi%2Fweb.py").status_code == 404
        hls = httpx.get(f"{server.url}/web/vendor/hls.min.js")
        assert hls.status_code == 200 and len(hls.content) > 100_000


@browser_test[0]
@browser_test[1]
def test_the_spectate_page_plays_a_websocket_stream(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    clip = fx.h264_aac_mp4(tmp_path / "clip.mp4", seconds=4)
    with HlsdServer({"websocket": {"fragment_buffer": 3}}, tmp_dir=tmp_path / "node") \
            as server:
        publish = subprocess.Popen(
            [sys.executable, "-m", "hlsd", "publish", str(clip), "--stream", "web-cam",
             "--to", f"ws://127.0.0.1:{server.port}/ws", "--segment", "1", "--loop"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while httpx.get(f"{server.url}/live/web-cam/index.m3u8").status_code != 200:
                assert time.monotonic() < deadline, "the publisher never started"
                time.sleep(0.2)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                             headless=True)
                try:
                    page = browser.new_page()
                    errors: list[str] = []
                    page.on("pageerror", lambda exc: errors.append(str(exc)))
                    page.goto(f"{server.url}/web/spectate?stream=web-cam&delay=3")
                    played, behind = 0.0, 0.0
                    deadline = time.monotonic() + 40
                    while time.monotonic() < deadline and played < 5:
                        page.wait_for_timeout(250)
                        played, behind = page.evaluate(
                            "() => { const v = document.getElementById('video');"
                            " const e = v.buffered.length ? v.buffered.end(v.buffered.length-1)"
                            " : 0; return [v.currentTime, e - v.currentTime]; }")
                    state = page.evaluate("() => window.__spectate.errors")
                finally:
                    browser.close()
        finally:
            publish.terminate()
            publish.wait(timeout=10)
    assert played >= 5, (played, state, errors)
    assert state == [] and errors == []
    assert behind < 8, f"{behind:.1f}s behind the newest fragment"


async def test_the_overview_lists_live_streams(tmp_path: Path) -> None:
    from tests._support.fragments import ts_fragments
    from tests._support.wscdn import open_session, push

    fragments = ts_fragments(tmp_path, count=3)
    with HlsdServer({}, tmp_dir=tmp_path / "node") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
            # `/` is the console's overview, which follows the node's events.
            assert 'src="/ui/static/pages/overview.js"' in (await c.get("/")).text
            assert "/api/console/events" in (await c.get("/ui/static/pages/overview.js")).text
            assert (await c.get("/api/streams")).json() == {"streams": []}
            pub, _ = await open_session(f"ws://127.0.0.1:{server.port}/ws", "PUSH", "dash/1")
            await push(pub, fragments)
            viewer, _ = await open_session(f"ws://127.0.0.1:{server.port}/ws", "PULL",
                                           "dash/1", max_initial_fragments="0")
            # The pushes are sent, not yet all taken in: wait for the third.
            deadline = asyncio.get_running_loop().time() + 10
            while True:
                [listed] = (await c.get("/api/streams")).json()["streams"]
                if (listed["variants"] and listed["variants"][0]["segments"] == 3) \
                        or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert listed["name"] == "dash/1" and listed["state"] == "live"
            assert listed["publisher"] == "websocket" and listed["spectators"] == 1
            assert listed["playlist"] == "/live/dash%2F1/index.m3u8"
            assert listed["variants"][0]["segments"] == 3
            assert (await c.get(listed["playlist"])).status_code == 200

            # The overview's first event shows it too, the spectator as its viewer.
            async with c.stream("GET", "/api/console/events") as events:
                assert events.headers["content-type"].startswith("text/event-stream")
                async for line in events.aiter_lines():
                    if line.startswith("data:"):
                        [shown] = json.loads(line[5:])["streams"]
                        break
            # What /api/streams says, and more (a bitrate, per variant too; viewers); the
            # playlist was asked for since the listing.
            changing = ("variants", "played_recently")
            assert {k: shown[k] for k in listed if k not in changing} == {
                k: v for k, v in listed.items() if k not in changing}
            assert shown["played_recently"] is True
            assert [{k: v[k] for k in listed["variants"][0]} for v in shown["variants"]] \
                == listed["variants"]
            assert shown["viewers"] == 1 and shown["bitrate"] > 0
            picture = await c.get("/api/streams/dash%2F1/thumbnail.jpg")
            assert picture.status_code == 200, picture.text
            assert picture.headers["content-type"] == "image/jpeg"
            await viewer.close()
            await pub.close()


async def test_without_hls_js_installed_no_other_host_is_named() -> None:
    """Offline: a missing hls.js is a clear 503 saying how to get it, never a redirect to
    a CDN (the pages showing it: test_web_offline)."""
    from fastapi import FastAPI

    from hlsd.api import web

    app = FastAPI()
    app.include_router(web.router(vendor={}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://hlsd") as c:
        missing = await c.get("/web/vendor/hls.min.js")
        unknown = await c.get("/web/vendor/jquery.js")
    assert missing.status_code == 503 and "npm ci" in missing.json()["error"]
    assert "location" not in missing.headers
    assert unknown.status_code == 404
