"""The console's LiveMix sources page in Chromium, offline, against a real hlsd: the empty
state explains sources and edges; a source made with the form is listed; its streaming
switch turns streaming on and off on the server and shows what the server holds; the
API's refusals (a taken name, a name that is no stream id) are said on the page; Delete
removes it. A source a real edge reports names its edge, online, then offline."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests._support.browser import browser_test
from tests._support.console import Browser, shoot
from tests._support.hlsd_server import HlsdEdge, HlsdServer
from tests.edge.test_edge import camera

pytestmark = browser_test

ADMIN = "console-admin-key"
AUTH = {"authorization": f"Bearer {ADMIN}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    with HlsdServer({"admin_key": ADMIN},
                    tmp_dir=tmp_path_factory.mktemp("console-sources")) as hlsd:
        yield hlsd


def until(page: Any, condition: Callable[[], object], what: str, timeout: float = 15) -> None:
    """`condition` polled with Playwright waits between: the browser's requests pass
    through `Browser`'s route handler, which runs only while Playwright is called, so a
    wait on the server alone would hold the page's requests back."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never true within {timeout}s: {what}")
        page.wait_for_timeout(50)


def _sources(server: HlsdServer) -> dict[str, dict[str, Any]]:
    r = httpx.get(f"{server.url}/v1/source", headers=AUTH, timeout=10)
    assert r.json()["success"] is True, r.text
    return {s["name"]: s for s in r.json()["sources"]}


def test_a_source_is_made_switched_on_and_off_and_deleted(server: HlsdServer,
                                                         chromium: Any) -> None:
    browser = Browser(chromium, server.url)
    page = browser.page(f"{server.url}/ui/sources", key=ADMIN)
    empty = page.locator("#sources .empty")
    empty.wait_for(timeout=15_000)
    assert "No sources yet." in empty.inner_text()
    assert "hlsd edge --control" in empty.inner_text()

    page.get_by_label("Name").fill("lobby")
    page.get_by_label("Segment length (s)").fill("2")
    page.get_by_label("Description (optional)").fill("the front door")
    page.get_by_role("button", name="Create source").click()
    card = page.get_by_role("region", name="Source lobby")
    card.wait_for(timeout=15_000)
    source = _sources(server)["lobby"]
    assert source["segment_length"] == 2 and source["streaming"] == -1
    text = card.inner_text()
    assert source["id"] in text and "2 s" in text and "the front door" in text
    assert "no edge has reported it" in text and "not on air" in text
    assert f"/v1/vod/live/{source['id']}/vid.m3u8" in text
    assert card.get_by_role("link", name="Recordings of lobby").get_attribute("href") == \
        f"/ui/recordings?source={source['id']}"

    switch = card.get_by_role("switch", name="Streaming for lobby")
    assert not switch.is_checked()
    switch.check()
    until(page, lambda: _sources(server)["lobby"]["streaming"] == 1, "streaming on")
    expect(card).to_contain_text("Streaming on", timeout=15_000)
    assert switch.is_checked() and switch.is_enabled()
    shoot(page, "sources")
    # The next poll of the list keeps what the server holds.
    polls = page.evaluate("() => window.__console.polls")
    page.wait_for_function("(n) => window.__console.polls > n", arg=polls, timeout=15_000)
    assert switch.is_checked()

    # With the keyboard: focus the switch and press space.
    switch.focus()
    page.keyboard.press("Space")
    until(page, lambda: _sources(server)["lobby"]["streaming"] == -1, "streaming off")
    expect(card).to_contain_text("Streaming off", timeout=15_000)
    assert not switch.is_checked()
    # Focus stayed on the switch through the request.
    assert page.evaluate("() => document.activeElement.getAttribute('role')") == "switch"

    # Refusals from the API, said on the page.
    error = page.locator("#source-error")
    page.get_by_label("Name").fill("lobby")
    page.get_by_role("button", name="Create source").click()
    error.wait_for(state="visible", timeout=15_000)
    assert "already exists" in error.inner_text()
    page.get_by_label("Name").fill("../up")
    page.get_by_role("button", name="Create source").click()
    expect(error).to_contain_text("invalid source name", timeout=15_000)
    assert list(_sources(server)) == ["lobby"]

    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Delete source lobby").click()
    empty.wait_for(timeout=15_000)
    r = httpx.get(f"{server.url}/v1/source/{source['id']}", headers=AUTH, timeout=10)
    assert r.status_code == 404

    assert browser.outside == [], "the page tried to reach other hosts"
    assert browser.page_errors == []


def test_a_source_an_edge_reports_shows_its_edge_and_goes_offline_with_it(
        tmp_path: Path, chromium: Any) -> None:
    """A real edge (``hlsd edge``) taking a camera the control has a source for: the
    card names the edge and says it is online, then offline once the edge is gone."""
    key = "console-edge-key"
    control = {"admin_key": ADMIN, "livemix": {"edge_keys": [key], "report_interval": 1}}
    with HlsdServer(control, tmp_dir=tmp_path / "control") as server:
        made = httpx.post(f"{server.url}/v1/source", headers=AUTH, timeout=10,
                          json={"name": "door", "segment_len": 1})
        assert made.json()["success"] is True, made.text
        folder = tmp_path / "camera"
        edge = HlsdEdge(f"ws://127.0.0.1:{server.port}/v1/edge", key,
                        {"livemix": {"file_roots": [str(folder)]}},
                        tmp_dir=tmp_path / "edge", name="lan-east")
        with edge, camera(edge.url, folder, "door", seconds=60):
            browser = Browser(chromium, server.url)
            page = browser.page(f"{server.url}/ui/sources", key=ADMIN)
            card = page.get_by_role("region", name="Source door")
            expect(card).to_contain_text("lan-east", timeout=30_000)
            expect(card).to_contain_text("online", timeout=30_000)
            expect(card).to_contain_text("last report at the edge's", timeout=30_000)
            shoot(page, "sources-edge")
            edge.kill()
            expect(card).to_contain_text("offline", timeout=30_000)
            assert browser.outside == [] and browser.page_errors == []
