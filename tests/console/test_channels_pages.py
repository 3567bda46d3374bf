"""The console's channel pages in Chromium, offline, against a real hlsd whose library holds
two short clips that look nothing alike (a busy test pattern, a flat blue): a channel made
from the form plays in the preview; edited in the console (item B added, moved first,
item A removed, saved), the channel's own playlist then carries B's segments, which
decode to B's picture, and the preview plays them; a timed item is drawn on the
timeline; the API's refusals (an empty name, a missing file) are said on the page; and
Delete removes the channel."""

from __future__ import annotations

import hashlib
import io
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest

from hlsd.hls import parse_master, parse_media
from tests._support.browser import browser_test
from tests._support.console import Browser, shoot
from tests._support.hlsd_server import HlsdServer
from tests._support.media import FFMPEG
from tests._support.polling import wait_until

pytestmark = browser_test

ADMIN = "console-admin-key"
AUTH = {"authorization": f"Bearer {ADMIN}"}
BLUE = (32, 64, 192)
FETCHED = ("(key) => performance.getEntriesByType('resource')"
           ".some((e) => e.name.includes(key) && e.name.endsWith('.ts'))")
PLAYING = ("(s) => { const v = document.getElementById('preview');"
           " return !!v && v.currentTime >= s; }")


def _clip(path: Path, video: str, seconds: int) -> Path:
    """H.264 + AAC, 320x180, a keyframe every second (so 1-s channel segments); `video`
    is a lavfi source with its options, if any, and the separator for more."""
    subprocess.run(
        [FFMPEG, "-v", "error", "-y",
         "-f", "lavfi", "-i", f"{video}size=320x180:rate=25:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "25",
         "-keyint_min", "25", "-sc_threshold", "0", "-bf", "0",
         "-c:a", "aac", "-b:a", "64k", "-shortest", "-movflags", "+faststart", str(path)],
        check=True, timeout=60)
    return path


def _key(path: str) -> str:
    """The name a library file's segments carry in a channel's URIs
    (`hlsd.channels.program.source_key`)."""
    return hashlib.sha256(f"file:{path}".encode()).hexdigest()[:16]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    root = tmp_path_factory.mktemp("console-channels")
    library = root / "library"
    library.mkdir()
    _clip(library / "a.mp4", "testsrc2=", 3)
    _clip(library / "b.mp4", f"color=c=0x{''.join(f'{c:02x}' for c in BLUE)}:", 4)
    config = {"admin_key": ADMIN, "channels": {"library": str(library), "window": 6},
              "packager": {"segment_duration": 1}}
    with HlsdServer(config, tmp_dir=root / "node") as running:
        yield running


@pytest.fixture
def browser(chromium: Any, server: HlsdServer) -> Iterator[Browser]:
    checked = Browser(chromium, server.url)
    yield checked
    assert checked.outside == [], "pages tried to reach other hosts"
    assert checked.page_errors == []


def _newest_segments(server: HlsdServer, channel: str) -> list[str]:
    """The URIs (under /live/CHANNEL/) of the channel's first variant's live window."""
    with httpx.Client(base_url=server.url, timeout=10) as c:
        master = parse_master(c.get(f"/live/{channel}/index.m3u8").text)
        variant = master.variants[0].uri
        media = parse_media(c.get(f"/live/{channel}/{variant}").text)
        folder = variant.rsplit("/", 1)[0]
        return [f"{folder}/{s.uri}" for s in media.segments]


def _first_picture(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data), mode="r", format="mpegts") as container:
        for frame in container.decode(video=0):
            return frame.to_ndarray(format="rgb24")
    raise AssertionError("no picture in the segment")


def _create(page: Any, name: str, path: str, *, timed: bool = False) -> None:
    page.get_by_label("Name", exact=True).fill(name)
    if timed:
        page.get_by_label("Mode").select_option("timed")
    page.locator("#new-source-kind").select_option("library")
    page.get_by_label("Path in the library").fill(path)
    page.get_by_role("button", name="Create channel").click()


def test_a_channel_edited_in_the_console_plays_the_new_item(server: HlsdServer,
                                                            browser: Browser) -> None:
    page = browser.page(f"{server.url}/ui/channels", key=ADMIN)
    empty = page.locator("#no-channels")
    empty.wait_for(timeout=15_000)
    assert "No channels yet" in empty.inner_text()
    assert "/live/NAME/index.m3u8" in empty.inner_text()

    _create(page, "show", "a.mp4")
    page.wait_for_url(f"{server.url}/ui/channels/show", timeout=30_000)
    page.wait_for_function(PLAYING, arg=1.5, timeout=30_000)
    page.wait_for_function(FETCHED, arg=_key("a.mp4"), timeout=10_000)
    page.get_by_text(f"{server.url}/live/show/index.m3u8").wait_for()
    assert all(_key("a.mp4") in u for u in _newest_segments(server, "show"))

    # Item B added, moved first with the keyboard, item A removed: one saved schedule.
    page.get_by_label("Path in the library").fill("b.mp4")
    page.get_by_role("button", name="Add to the schedule").click()
    page.get_by_role("button", name="Move item 2 (File b.mp4) up").press("Enter")
    focused = page.evaluate("() => document.activeElement.getAttribute('aria-label')")
    assert focused == "Move item 1 (File b.mp4) down"  # the focus stays with the item
    assert page.locator("#save-status").inner_text().startswith("Unsaved changes")
    page.get_by_role("button", name="Remove item 2 (File a.mp4)").click()
    assert page.locator("#schedule > li").count() == 1
    loads = page.evaluate("() => window.__console.previewLoads")
    page.get_by_role("button", name="Save schedule").click()
    page.get_by_text("Saved. The new schedule takes over at").wait_for(timeout=30_000)

    body = httpx.get(f"{server.url}/api/channels/show", headers=AUTH).json()
    assert [i["source"] for i in body["items"]] == [{"file": "b.mp4"}]
    # The channel's playlist goes on to B's segments, and they are B's picture.
    def reached_b() -> list[str]:
        uris = _newest_segments(server, "show")
        return uris if uris and _key("b.mp4") in uris[-1] else []

    newest = wait_until(reached_b, timeout=30, what="item B's segments in the playlist")
    picture = _first_picture(httpx.get(f"{server.url}/live/show/{newest[-1]}").content)
    assert picture.shape[:2] == (180, 320)
    pixels = picture.reshape(-1, 3).astype(float)
    assert pixels.std(axis=0).max() < 8, "B is one flat colour (A is a busy pattern)"
    assert np.allclose(pixels.mean(axis=0), BLUE, atol=16)
    # The preview was reloaded after the save, plays on, and reaches B.
    assert page.evaluate("() => window.__console.previewLoads") == loads + 1
    page.wait_for_function(PLAYING, arg=2, timeout=30_000)
    page.wait_for_function(FETCHED, arg=_key("b.mp4"), timeout=30_000)
    before = page.evaluate("() => document.getElementById('preview').currentTime")
    page.wait_for_function(PLAYING, arg=before + 1, timeout=20_000)
    assert page.locator("#preview-problem").is_hidden()
    assert page.evaluate("() => window.__console.problems") == []


def test_a_timed_item_shows_on_the_timeline(server: HlsdServer, browser: Browser) -> None:
    page = browser.page(f"{server.url}/ui/channels", key=ADMIN)
    page.locator("#new-channel").wait_for(timeout=15_000)
    _create(page, "evening", "b.mp4", timed=True)
    page.wait_for_url(f"{server.url}/ui/channels/evening", timeout=30_000)
    block = page.locator("#timeline .tl-item")
    block.wait_for(timeout=15_000)
    assert "i1 · File b.mp4" in block.inner_text() and "0:04" in block.inner_text()
    marker = page.locator("#timeline .tl-now")
    assert marker.is_visible()
    # The item starts a little ahead: its block is to the right of the "now" line.
    assert block.bounding_box()["x"] > marker.bounding_box()["x"]

    # A second timed item, offered right after the first, saved: two blocks, in order.
    page.get_by_label("Path in the library").fill("a.mp4")
    page.get_by_role("button", name="Add to the schedule").click()
    assert page.locator("#timeline .tl-item.unknown").count() == 1  # length not read yet
    page.get_by_role("button", name="Save schedule").click()
    page.get_by_text("Saved.").wait_for(timeout=30_000)
    blocks = page.locator("#timeline .tl-item:not(.unknown)")
    assert blocks.count() == 2
    first, second = (blocks.nth(n).bounding_box() for n in range(2))
    assert first["x"] + first["width"] <= second["x"] + 1
    assert "i2 · File a.mp4" in blocks.nth(1).inner_text()
    body = httpx.get(f"{server.url}/api/channels/evening", headers=AUTH).json()
    assert body["mode"] == "timed" and [i["id"] for i in body["items"]] == ["i1", "i2"]
    page.wait_for_function(PLAYING, arg=1, timeout=30_000)  # slate until the first item
    shoot(page, "channel")

    # A loop switched to timed: its items are placed one after another from soon on.
    made = httpx.post(f"{server.url}/api/channels", headers=AUTH, json={
        "name": "switched", "items": [{"source": {"library": "a.mp4"}},
                                      {"source": {"library": "b.mp4"}}]})
    assert made.status_code == 201, made.text
    page = browser.page(f"{server.url}/ui/channels/switched", key=ADMIN)
    page.get_by_text("This schedule loops").wait_for(timeout=15_000)
    page.get_by_label("Mode").select_option("timed")
    assert page.locator("#timeline .tl-item").count() == 2
    page.get_by_role("button", name="Save schedule").click()
    page.get_by_text("Saved.").wait_for(timeout=30_000)
    body = httpx.get(f"{server.url}/api/channels/switched", headers=AUTH).json()
    assert body["mode"] == "timed"
    starts = [datetime.fromisoformat(i["start"]) for i in body["items"]]
    assert starts[1] - starts[0] >= timedelta(seconds=3)  # after A's 3 s
    assert starts[0] > datetime.now(UTC)


def test_the_apis_refusals_are_said_on_the_page(server: HlsdServer, browser: Browser) -> None:
    page = browser.page(f"{server.url}/ui/channels", key=ADMIN)
    page.locator("#new-channel").wait_for(timeout=15_000)
    error = page.locator("#new-error")
    _create(page, "", "a.mp4")
    error.wait_for(timeout=15_000)
    assert "a channel name is 1 to 64 letters" in error.inner_text()
    _create(page, "broken", "missing.mp4")
    page.wait_for_function(
        "() => document.getElementById('new-error').textContent.includes('missing.mp4')",
        timeout=15_000)
    assert httpx.get(f"{server.url}/api/channels/broken", headers=AUTH).status_code == 404

    # On a channel's page: a missing file in the schedule is refused when saved.
    made = httpx.post(f"{server.url}/api/channels", headers=AUTH, json={
        "name": "refusals", "items": [{"source": {"library": "a.mp4"}}]})
    assert made.status_code == 201, made.text
    page = browser.page(f"{server.url}/ui/channels/refusals", key=ADMIN)
    page.get_by_label("Path in the library").fill("nope.mp4")
    page.get_by_role("button", name="Add to the schedule").click()
    page.get_by_role("button", name="Save schedule").click()
    refused = page.locator("#save-error")
    refused.wait_for(timeout=15_000)
    assert "nope.mp4" in refused.inner_text()
    body = httpx.get(f"{server.url}/api/channels/refusals", headers=AUTH).json()
    assert [i["source"] for i in body["items"]] == [{"file": "a.mp4"}]
    # Removing every item of a loop: the API says why not.
    page.get_by_role("button", name="Remove item 2 (File nope.mp4)").click()
    page.get_by_role("button", name="Remove item 1 (File a.mp4)").click()
    assert page.locator("#no-items").is_visible()
    page.get_by_role("button", name="Save schedule").click()
    page.wait_for_function(
        "() => document.getElementById('save-error').textContent.includes('at least one item')",
        timeout=15_000)

    missing = browser.page(f"{server.url}/ui/channels/nobody", key=ADMIN)
    missing.get_by_text("There is no channel “nobody”").wait_for(timeout=15_000)


def test_a_channel_is_deleted_after_confirmation(server: HlsdServer, browser: Browser) -> None:
    for name in ("doomed", "kept"):
        made = httpx.post(f"{server.url}/api/channels", headers=AUTH, json={
            "name": name, "items": [{"source": {"library": "a.mp4"}}]})
        assert made.status_code == 201, made.text
    page = browser.page(f"{server.url}/ui/channels/doomed", key=ADMIN)
    page.get_by_role("button", name="Delete channel…").click()
    page.get_by_role("button", name="Cancel").press("Enter")
    assert page.locator("#confirm-delete-box").is_hidden()
    page.get_by_role("button", name="Delete channel…").click()
    page.get_by_role("button", name="Delete doomed").click()
    page.wait_for_url(f"{server.url}/ui/channels", timeout=15_000)
    assert httpx.get(f"{server.url}/api/channels/doomed", headers=AUTH).status_code == 404
    table = page.locator("#channels")
    table.wait_for(timeout=15_000)
    assert page.locator("tr[data-channel='doomed']").count() == 0
    assert "File a.mp4 (i1) since" in page.locator("tr[data-channel='kept'] .on-air").inner_text()
    shoot(page, "channels")
