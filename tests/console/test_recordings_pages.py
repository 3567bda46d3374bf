"""The console's recordings pages in Chromium, offline, against a real hlsd fed by real
ffmpeg: the list shows recordings of a stream and of a LiveMix source (saying which),
stops an active one; a recording's page replays it, its MP4 downloads and decodes, and
Delete removes it; a recording that is gone, or a list with nothing in it, says so."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests._support import media as fx
from tests._support.browser import browser_test
from tests._support.console import Browser, shoot
from tests._support.hlsd_server import HlsdServer
from tests._support.polling import wait_segments, wait_until
from tests._support.publisher import LivePublisher

pytestmark = browser_test

ADMIN = "console-admin-key"
STREAM = "rec-cam"
AUTH = {"authorization": f"Bearer {ADMIN}"}
PLAYED = "(s) => document.getElementById('video').currentTime >= s"


@dataclass(frozen=True)
class Recordings:
    server: HlsdServer
    stopped: str
    """Stopped, a few seconds long, alias "goal"."""
    active: str
    """Still recording (nothing feeds it once the publisher ends)."""
    livemix: str
    """A LiveMix source's recording (the source named as the stream), stopped."""


def _segments(c: httpx.Client, rid: str) -> int:
    count: int = c.get(f"/api/recordings/{rid}").json()["segments"]
    return count


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recordings]:
    root = tmp_path_factory.mktemp("console-recordings")
    config = {"admin_key": ADMIN, "live": {"window": 4, "idle_timeout": "3s"},
              "recording": {"reach_back": "20s"}}
    with HlsdServer(config, tmp_dir=root / "node") as server, \
            httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as c, \
            LivePublisher(f"{server.url}/ingest/{STREAM}", size="320x240", duration=20):
        wait_segments(c, f"/live/{STREAM}/index.m3u8", 2)
        source = c.post("/v1/source", json={"name": STREAM, "segment_len": 1}).json()["source"]
        started = c.post(f"/api/streams/{STREAM}/recordings", json={"alias": "goal"})
        assert started.status_code == 201, started.text
        stopped = started.json()["id"]
        from_source = c.post(f"/v1/source/{source['id']}/recording", json={"alias": "lobby"})
        assert from_source.json()["success"] is True, from_source.text
        livemix = from_source.json()["recording"]["id"]
        wait_until(lambda: _segments(c, stopped) >= 3 and _segments(c, livemix) >= 2, 30,
                   "segments recorded")
        for rid in (stopped, livemix):
            assert c.post(f"/api/recordings/{rid}/stop").json()["active"] is False
        active = c.post(f"/api/streams/{STREAM}/recordings", json={"alias": "running"})
        assert active.status_code == 201, active.text
        yield Recordings(server, stopped, active.json()["id"], livemix)


@pytest.fixture
def browser(chromium: Any, recordings: Recordings) -> Iterator[Browser]:
    b = Browser(chromium, recordings.server.url)
    yield b
    assert b.outside == [], "the pages tried to reach other hosts"
    assert b.page_errors == []


def _api(recordings: Recordings, path: str) -> httpx.Response:
    return httpx.get(recordings.server.url + path, headers=AUTH, timeout=30)


def test_the_list_shows_both_kinds_and_stops_an_active_one(
        recordings: Recordings, browser: Browser) -> None:
    page = browser.page(f"{recordings.server.url}/ui/recordings", key=ADMIN)
    table = page.locator("#recordings table")
    stopped = table.locator(f"tr[data-id='{recordings.stopped}']")
    active = table.locator(f"tr[data-id='{recordings.active}']")
    livemix = table.locator(f"tr[data-id='{recordings.livemix}']")
    stopped.get_by_role("link", name="Recording goal").wait_for(timeout=15_000)
    assert stopped.get_by_role("link", name="Recording goal").get_attribute("href") == \
        f"/ui/recordings/{recordings.stopped}"
    assert "stream" in stopped.inner_text() and STREAM in stopped.inner_text()
    assert "stopped" in stopped.inner_text()
    # A LiveMix recording: marked as such, with its source's name.
    assert "LiveMix" in livemix.inner_text() and STREAM in livemix.inner_text()
    assert "active" in active.inner_text()
    # The size and length come from each recording's figures.
    expect(stopped).to_contain_text("KB", timeout=15_000)
    assert "0:0" in stopped.inner_text()
    shoot(page, "recordings")

    active.get_by_role("button", name="Stop recording running").click()
    expect(active).to_contain_text("stopped", timeout=30_000)
    assert _api(recordings, f"/api/recordings/{recordings.active}").json()["active"] is False
    assert active.get_by_role("button", name="Stop recording running").count() == 0
    # Focus moves to the row's remaining button; the figures are the final ones.
    expect(active.get_by_role("button", name="Delete recording running")).to_be_focused()
    expect(active).not_to_contain_text("so far", timeout=15_000)

    # One source's recordings only, from the link in its row.
    livemix.get_by_role("link", name=STREAM).click()
    page.wait_for_url("**/ui/recordings?source=*")
    page.locator(f"tr[data-id='{recordings.livemix}']").wait_for(timeout=15_000)
    assert page.locator("#recordings tbody tr").count() == 1


def test_a_recording_replays_and_downloads(recordings: Recordings, browser: Browser,
                                           tmp_path: Path) -> None:
    page = browser.page(f"{recordings.server.url}/ui/recordings/{recordings.stopped}",
                        key=ADMIN)
    page.wait_for_function(PLAYED, arg=2, timeout=30_000)
    details = page.locator("#content").inner_text()
    assert "goal" in details and "stopped" in details and STREAM in details
    assert page.get_by_role("button", name="Stop recording").count() == 0
    assert f"/recordings/{recordings.stopped}/index.m3u8" in details
    shoot(page, "recording")

    link = page.get_by_role("link", name="Download MP4")
    assert link.get_attribute("download")
    with page.expect_download(timeout=60_000) as info:
        link.click()
    download = info.value
    assert download.failure() is None
    target = tmp_path / "download.mp4"
    download.save_as(target)
    assert target.stat().st_size > 1000
    assert fx.decode_errors(str(target)) == ""
    assert page.evaluate("() => window.__console.problems") == []


def test_delete_from_the_page_removes_it(recordings: Recordings, browser: Browser) -> None:
    rid = recordings.livemix
    page = browser.page(f"{recordings.server.url}/ui/recordings/{rid}", key=ADMIN)
    page.wait_for_function(PLAYED, arg=1, timeout=30_000)
    assert f"/v1/vod/recording/{rid}/vid.m3u8" in page.locator("#content").inner_text()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete recording").click()
    page.wait_for_url(f"{recordings.server.url}/ui/recordings")
    page.locator("#recordings table").wait_for(timeout=15_000)
    assert page.locator(f"tr[data-id='{rid}']").count() == 0
    assert _api(recordings, f"/api/recordings/{rid}").status_code == 404
    assert httpx.get(f"{recordings.server.url}/recordings/{rid}/index.m3u8").status_code == 404

    # Its page now says it is gone; a dismissed confirmation deletes nothing.
    gone = browser.page(f"{recordings.server.url}/ui/recordings/{rid}", key=ADMIN)
    gone.get_by_text(f"No recording {rid}").wait_for(timeout=15_000)
    page.goto(f"{recordings.server.url}/ui/recordings/{recordings.active}")
    page.get_by_role("button", name="Delete recording").wait_for(timeout=15_000)
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete recording").click()
    assert _api(recordings, f"/api/recordings/{recordings.active}").status_code == 200


def test_empty_states_say_how_to_start(recordings: Recordings, browser: Browser) -> None:
    page = browser.page(f"{recordings.server.url}/ui/recordings?stream=nobody", key=ADMIN)
    page.get_by_text("No recordings of the stream nobody yet.").wait_for(timeout=15_000)
    assert page.get_by_role("link", name="Every recording").count() >= 1


def test_a_gated_recording_replays_with_a_token_minted_by_the_page(
        chromium: Any, tmp_path: Path) -> None:
    """With ``recording.access: token`` the page mints a playback token with the admin
    key and replays, downloads and shows URLs with it."""
    config = {"admin_key": ADMIN, "recording": {"access": "token"}}
    with HlsdServer(config, tmp_dir=tmp_path / "gated") as server, \
            httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as c, \
            LivePublisher(f"{server.url}/ingest/{STREAM}", size="320x240", duration=8):
        wait_segments(c, f"/live/{STREAM}/index.m3u8", 1)
        rid = c.post(f"/api/streams/{STREAM}/recordings").json()["id"]
        wait_until(lambda: _segments(c, rid) >= 2, 30, "segments recorded")
        c.post(f"/api/recordings/{rid}/stop")
        assert httpx.get(f"{server.url}/recordings/{rid}/index.m3u8").status_code == 401

        browser = Browser(chromium, server.url)
        page = browser.page(f"{server.url}/ui/recordings/{rid}", key=ADMIN)
        page.wait_for_function(PLAYED, arg=1, timeout=30_000)
        href = page.get_by_role("link", name="Download MP4").get_attribute("href")
        assert href and href.startswith(f"/recordings/{rid}.mp4?token=")
        assert httpx.get(server.url + href, timeout=60).status_code == 200
        assert "recording.access: token" in page.locator("#content").inner_text()
        assert page.evaluate("() => window.__console.problems") == []
        assert browser.outside == [] and browser.page_errors == []
