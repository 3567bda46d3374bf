"""The console's asset pages (/ui/assets, /ui/assets/{id}) in Chromium against a real
hlsd: a file picked in the file input is uploaded with tus-js-client through a dropped
connection and an offline spell, becomes a ready asset in the list without a reload, and
plays on its page (quality levels, sprite thumbnails over the scrub bar, copyable URLs);
a paused upload resumes from where it stopped when the same file is picked again after
a reload; subtitles given before processing reach the ladder; a failed asset says why;
Cancel, Retry and Delete act on the server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests._support import media as fx
from tests._support.browser import browser_test
from tests._support.console import Browser, chromium, shoot
from tests._support.hlsd_server import HlsdServer

pytestmark = browser_test

KEY = "adm"
ADMIN = {"authorization": f"Bearer {KEY}"}
TUS = {**ADMIN, "tus-resumable": "1.0.0"}
# Two small rungs keep each transcode to a few seconds.
LADDER = [{"name": "360p", "height": 360, "video_bitrate": "600k", "audio_bitrate": "64k"},
          {"name": "180p", "height": 180, "video_bitrate": "200k", "audio_bitrate": "48k"}]
CHUNK = 64 * 1024
"""The page's tus chunk size here (`state.uploadChunkSize`): several PATCHes per file."""
UPLOADS = "**/api/uploads/**"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 11 s: two thumbnails (one every 10 s), so the scrub bar has tiles to tell apart.
    path = fx.h264_aac_mp4(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=11,
                           size="640x360", gop=50)
    assert path.stat().st_size > 4 * CHUNK  # so the cuts below fall mid-upload
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    config = {"admin_key": KEY, "assets": {"ladder": LADDER, "segment_duration": 2}}
    with HlsdServer(config, tmp_dir=tmp_path_factory.mktemp("console-assets")) as running:
        yield running


@pytest.fixture(scope="module")
def browser(server: HlsdServer) -> Iterator[Browser]:
    with chromium() as chrome:
        yield Browser(chrome, server.url)


@pytest.fixture
def api(server: HlsdServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as client:
        yield client


@pytest.fixture(autouse=True)
def clean_browser(browser: Browser) -> Iterator[None]:
    yield
    assert browser.outside == []
    assert browser.page_errors == []


def open_page(browser: Browser, server: HlsdServer, path: str) -> Any:
    page = browser.page(server.url + path, key=KEY)
    page.wait_for_function("() => window.__console !== undefined")
    return page


def use_small_chunks(page: Any) -> None:
    page.evaluate(f"window.__console.uploadChunkSize = {CHUNK}")


def row_of(page: Any, asset_id: str) -> Any:
    return page.locator(f'#assets tr[data-id="{asset_id}"]')


def id_of(upload_item: Any) -> str:
    href = upload_item.get_by_role("link", name="Its page").get_attribute("href")
    match = re.fullmatch(r"/ui/assets/([0-9a-f]+)", href or "")
    assert match, href
    return match.group(1)


def test_an_upload_from_the_file_input_becomes_a_ready_asset_that_plays(
        server: HlsdServer, browser: Browser, api: httpx.Client, clip: Path) -> None:
    page = open_page(browser, server, "/ui/assets")
    expect(page.locator("#assets .empty")).to_contain_text("No assets yet")
    use_small_chunks(page)
    page.evaluate("window.__notReloaded = true")

    offsets: list[int] = []

    def cut(route: Any) -> None:
        """The second PATCH's connection drops (tus-js-client retries it); at the fourth
        the browser goes offline (the page carries on once it is back)."""
        if route.request.method != "PATCH":
            route.fallback()
            return
        offsets.append(int(route.request.headers["upload-offset"]))
        if len(offsets) == 2:
            route.abort("connectionreset")
        elif len(offsets) == 4:
            page.context.set_offline(True)
            route.abort("internetdisconnected")
        else:
            route.fallback()

    page.route(UPLOADS, cut)
    page.set_input_files("#upload-file", str(clip))
    page.get_by_role("button", name="Upload", exact=True).click()
    item = page.locator("#uploads li").first
    expect(item.get_by_role("status")).to_contain_text("Offline", timeout=30_000)
    expect(item.get_by_role("button", name=re.compile("^Resume"))).to_be_visible()
    page.context.set_offline(False)
    expect(item.get_by_role("status")).to_contain_text("Uploaded", timeout=30_000)
    expect(item.locator("progress")).to_have_js_property("value", 100)

    size = clip.stat().st_size
    # Each cut resumed at the offset the server had confirmed, never from the start.
    assert offsets == [0, CHUNK, CHUNK, 2 * CHUNK, 2 * CHUNK,
                       *range(3 * CHUNK, size, CHUNK)], offsets
    asset_id = id_of(item)

    row = row_of(page, asset_id)
    expect(row.locator("[data-state]")).to_have_attribute("data-state", "ready",
                                                          timeout=90_000)
    assert page.evaluate("window.__notReloaded") is True
    expect(row).to_contain_text("clip.mp4")
    expect(row.get_by_role("button", name="Cancel clip.mp4")).to_be_hidden()
    expect(row.get_by_role("button", name="Retry clip.mp4")).to_be_hidden()
    asset = api.get(f"/api/assets/{asset_id}").json()
    assert asset["state"] == "ready" and asset["size"] == size, asset
    shoot(page, "assets")

    row.get_by_role("link", name="clip.mp4").click()
    page.wait_for_url(f"**/ui/assets/{asset_id}")
    page.wait_for_function(
        "() => { const v = document.querySelector('#video'); return v && v.currentTime > 0.5 }",
        timeout=30_000)
    quality = page.locator("#quality option")
    expect(quality).to_have_count(3)
    labels = quality.all_inner_texts()
    assert labels[0] == "Auto" and sorted(t.split(" ")[0] for t in labels[1:]) == [
        "180p", "360p"], labels
    page.select_option("#quality", label=next(t for t in labels if t.startswith("180p")))
    expect(page.locator("#playing")).to_contain_text("180p", timeout=15_000)

    # The sprite's tile for the time under the pointer, as thumbs.vtt places it.
    tiles = [tuple(map(int, m)) for m in re.findall(
        r"#xywh=(\d+),(\d+),(\d+),(\d+)", api.get(f"/vod/{asset_id}/thumbs.vtt").text)]
    assert len(tiles) == 2, tiles
    assert api.get(f"/vod/{asset_id}/thumbs.jpg").content[:2] == b"\xff\xd8"
    scrub = page.locator("#scrub")
    preview = page.locator("#scrub-preview")

    def shown_tile() -> list[str]:
        return page.locator("#scrub-tile").evaluate("""t => { const s = getComputedStyle(t);
            return [s.backgroundImage, s.backgroundPosition, s.width, s.height] }""")

    def expected(x: int, y: int, w: int, h: int) -> list[str]:
        return [f'url("{server.url}/vod/{asset_id}/thumbs.jpg")', f"{-x}px {-y}px",
                f"{w}px", f"{h}px"]

    scrub.hover(position={"x": 5, "y": 5})
    expect(preview).to_be_visible()
    assert shown_tile() == expected(*tiles[0])
    box = scrub.bounding_box()
    scrub.hover(position={"x": box["width"] - 5, "y": 5})
    assert shown_tile() == expected(*tiles[1])
    # The keyboard reaches it too: focus, then Home and End.
    page.mouse.move(0, 0)
    expect(preview).to_be_hidden()
    scrub.focus()
    page.keyboard.press("Home")
    expect(preview).to_be_visible()
    expect(scrub).to_have_attribute("aria-valuenow", "0")
    assert shown_tile() == expected(*tiles[0])
    page.keyboard.press("End")
    expect(scrub).to_have_attribute("aria-valuenow", str(round(asset["duration"])))
    assert shown_tile() == expected(*tiles[1])

    urls = page.locator(".url code").all_inner_texts()
    assert urls == [f"{server.url}/vod/{asset_id}/index.m3u8",
                    f"{server.url}/vod/{asset_id}/manifest.mpd",
                    f"{server.url}/play/{asset_id}"], urls
    expect(page.locator("#subtitle-form")).to_have_count(0)  # published: no more subtitles
    assert page.evaluate("window.__console.problems") == []
    shoot(page, "asset")
    page.context.close()


def test_a_paused_upload_resumes_after_a_reload_with_its_subtitles_then_is_deleted(
        server: HlsdServer, browser: Browser, api: httpx.Client, clip: Path,
        tmp_path: Path) -> None:
    page = open_page(browser, server, "/ui/assets")
    use_small_chunks(page)

    held: list[Any] = []

    def hold_second(route: Any) -> None:
        """The second PATCH is never answered: the upload hangs there until paused."""
        if route.request.method == "PATCH" and route.request.headers["upload-offset"] != "0":
            held.append(route)
            return
        route.fallback()

    page.route(UPLOADS, hold_second)
    page.set_input_files("#upload-file", str(clip))
    with page.expect_request(lambda r: r.method == "PATCH"
                             and r.headers.get("upload-offset") == str(CHUNK)):
        page.get_by_role("button", name="Upload", exact=True).click()
    item = page.locator("#uploads li").first
    item.get_by_role("button", name="Pause the upload of clip.mp4").click()
    expect(item.get_by_role("status")).to_contain_text("Paused")
    asset_id = id_of(item)
    upload_url = api.get(f"/api/assets/{asset_id}").json()["upload"]["url"]
    assert api.head(upload_url, headers=TUS).headers["upload-offset"] == str(CHUNK)

    # The held request never reaches the server (unrouted, it would go on its way).
    for route in held:
        route.abort()
    page.unroute(UPLOADS)
    assert api.head(upload_url, headers=TUS).headers["upload-offset"] == str(CHUNK)

    # Subtitles are given while the asset waits for its upload.
    page.goto(f"{server.url}/ui/assets/{asset_id}")
    expect(page.locator("[data-state]")).to_have_attribute("data-state", "created")
    page.fill("#subtitle-language", "en")
    page.fill("#subtitle-name", "English")
    page.set_input_files("#subtitle-file", str(fx.vtt(tmp_path / "en.vtt", seconds=4)))
    page.get_by_role("button", name="Add subtitles").click()
    expect(page.locator('#subtitles li[data-language="en"]')).to_contain_text("English")
    assert api.get(f"/api/assets/{asset_id}").json()["subtitles"] == [
        {"language": "en", "name": "English"}]

    # The same file picked again after a reload carries on where the server stopped.
    page.goto(f"{server.url}/ui/assets")
    expect(row_of(page, asset_id)).to_contain_text("waiting for its upload")
    use_small_chunks(page)
    offsets: list[int] = []

    def record(route: Any) -> None:
        if route.request.method == "PATCH":
            offsets.append(int(route.request.headers["upload-offset"]))
        route.fallback()

    page.route(UPLOADS, record)
    page.set_input_files("#upload-file", str(clip))
    page.get_by_role("button", name="Upload", exact=True).click()
    item = page.locator("#uploads li").first
    expect(item.get_by_role("status")).to_contain_text("Uploaded", timeout=30_000)
    assert id_of(item) == asset_id
    assert offsets == list(range(CHUNK, clip.stat().st_size, CHUNK)), offsets
    expect(row_of(page, asset_id).locator("[data-state]")).to_have_attribute(
        "data-state", "ready", timeout=90_000)
    assert api.get(f"/api/assets/{asset_id}").json()["size"] == clip.stat().st_size
    assert "TYPE=SUBTITLES" in api.get(f"/vod/{asset_id}/index.m3u8").text

    page.goto(f"{server.url}/ui/assets/{asset_id}")
    expect(page.locator("#subtitle-track option")).to_have_count(2, timeout=30_000)
    expect(page.locator("#subtitle-track option").nth(1)).to_have_text("English")
    # Delete asks in the page; Keep keeps it.
    page.get_by_role("button", name="Delete clip.mp4").click()
    page.get_by_role("button", name="Keep").click()
    assert api.get(f"/api/assets/{asset_id}").status_code == 200
    page.get_by_role("button", name="Delete clip.mp4").click()
    page.get_by_role("button", name="Yes, delete clip.mp4").click()
    page.wait_for_url(f"{server.url}/ui/assets")
    expect(row_of(page, asset_id)).to_have_count(0)
    assert api.get(f"/api/assets/{asset_id}").status_code == 404
    page.context.close()


def test_a_failed_asset_says_why_and_cancel_retry_delete_act(
        server: HlsdServer, browser: Browser, api: httpx.Client) -> None:
    junk = api.post("/api/assets", json={"title": "junk.bin", "size": 4096}).json()
    sent = api.put(f"/api/assets/{junk['id']}/content", content=b"\x00not media" * 400
                   + b"\x00" * 96)
    assert sent.status_code == 200, sent.text
    waiting = api.post("/api/assets", json={"title": "never.mp4", "size": 1000}).json()

    page = open_page(browser, server, "/ui/assets")
    failed = row_of(page, junk["id"])
    expect(failed.locator("[data-state]")).to_have_attribute("data-state", "failed",
                                                             timeout=30_000)
    reason = api.get(f"/api/assets/{junk['id']}").json()["reason"]
    assert reason
    expect(failed.locator(".reason")).to_have_text(reason)
    expect(failed.get_by_role("button", name="Retry junk.bin")).to_be_visible()
    expect(failed.get_by_role("button", name="Cancel junk.bin")).to_be_hidden()

    created = row_of(page, waiting["id"])
    expect(created).to_contain_text("waiting for its upload")
    created.get_by_role("button", name="Cancel never.mp4").click()
    expect(created.locator("[data-state]")).to_have_attribute("data-state", "cancelled")
    expect(created.get_by_role("button", name="Cancel never.mp4")).to_be_hidden()
    assert api.get(f"/api/assets/{waiting['id']}").json()["state"] == "cancelled"
    created.get_by_role("button", name="Delete never.mp4").click()
    created.get_by_role("button", name="Yes, delete never.mp4").click()
    expect(created).to_have_count(0)
    assert api.get(f"/api/assets/{waiting['id']}").status_code == 404

    # Its page says why it failed; Retry runs it again (and it fails again, saying why).
    page.goto(f"{server.url}/ui/assets/{junk['id']}")
    expect(page.locator("#failure")).to_contain_text(f"Failed: {reason}")
    before = api.get(f"/api/assets/{junk['id']}").json()["updated"]
    page.get_by_role("button", name="Retry junk.bin").click()
    page.wait_for_function(
        f"() => window.__console.asset && window.__console.asset.updated !== {before!r}"
        " && window.__console.asset.state === 'failed'", timeout=30_000)
    expect(page.locator("#failure")).to_be_visible()
    assert page.evaluate("window.__console.problems") == []
    page.context.close()


def test_a_token_gated_asset_plays_with_a_token_in_every_url(
        server: HlsdServer, browser: Browser, api: httpx.Client,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    clip = fx.h264_aac_mp4(tmp_path_factory.mktemp("gated") / "gated.mp4", seconds=2,
                           size="320x180", gop=25)
    made = api.post("/api/assets", json={"title": "gated.mp4", "size": clip.stat().st_size,
                                         "access": "token"}).json()
    assert api.put(f"/api/assets/{made['id']}/content",
                   content=clip.read_bytes()).status_code == 200
    page = open_page(browser, server, f"/ui/assets/{made['id']}")
    expect(page.locator("[data-state]")).to_have_attribute("data-state", "ready",
                                                           timeout=60_000)
    page.wait_for_function(
        "() => { const v = document.querySelector('#video'); return v && v.currentTime > 0.3 }",
        timeout=30_000)
    assert httpx.get(f"{server.url}/vod/{made['id']}/index.m3u8").status_code in (401, 403)
    urls = page.locator(".url code").all_inner_texts()
    assert len(urls) == 3 and all("?token=" in url for url in urls), urls
    assert httpx.get(urls[0]).status_code == 200  # the token shown is a working one
    page.locator("#scrub").hover(position={"x": 5, "y": 5})
    image = page.locator("#scrub-tile").evaluate("t => getComputedStyle(t).backgroundImage")
    sprite = re.fullmatch(r'url\("(.+)"\)', image)
    assert sprite and "?token=" in sprite.group(1), image
    assert httpx.get(sprite.group(1)).content[:2] == b"\xff\xd8"
    assert page.evaluate("window.__console.problems") == []
    page.context.close()


def test_without_tus_js_client_the_upload_says_why(
        server: HlsdServer, browser: Browser, api: httpx.Client, clip: Path) -> None:
    page = open_page(browser, server, "/ui/assets")
    missing = ('{"error": "tus-js-client is not part of this hlsd installation '
               '(build it with npm)"}')
    page.route("**/web/vendor/tus.min.js", lambda route: route.fulfill(
        status=503, content_type="application/json", body=missing))
    before = len(api.get("/api/assets").json()["assets"])
    page.set_input_files("#upload-file", str(clip))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#uploads li").first.get_by_role("status")).to_have_text(
        "Cannot upload: tus-js-client is not part of this hlsd installation "
        "(build it with npm)")
    assert len(api.get("/api/assets").json()["assets"]) == before  # no asset was made
    page.context.close()
