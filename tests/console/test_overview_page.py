"""The overview page (`/`) in Chromium, offline, against a real hlsd whose streams ffmpeg
pushes: the empty state says how to publish to this very node; a stream that starts
appears as a card with its picture, and a second one too, without a reload; the health
of each backend (a Redis registry that does not answer shows as down, and its error in
the recent ones); no key means the sign-in form, and cut updates are said on the page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._support.browser import browser_test
from tests._support.console import Browser, shoot
from tests._support.hlsd_server import HlsdServer, free_port
from tests._support.publisher import LivePublisher

pytestmark = browser_test
KEY = "overview-admin-key"
PICTURE = ("(name) => { const img = document.querySelector("
           "`article[data-stream='${name}'] img.thumb`); "
           "return img !== null && img.complete && img.naturalWidth > 0; }")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    """An admin key, and a Redis registry where no Redis listens (a backend down)."""
    root = tmp_path_factory.mktemp("overview-page")
    with HlsdServer({"admin_key": KEY,
                     "cluster": {"redis_url": f"redis://127.0.0.1:{free_port()}/0"},
                     "rtmp": {"listen": None}, "srt": {"listen": None},
                     "websocket": {"listen": None}}, tmp_dir=root / "node") as hlsd:
        yield hlsd


def _publisher(server: HlsdServer, stream: str, log: Path) -> LivePublisher:
    return LivePublisher(f"{server.url}/ingest/{stream}", size="320x180", audio=False,
                         log_path=log)


def _card(page: Any, stream: str) -> Any:
    return page.locator(f"article[data-stream='{stream}']")


def test_the_overview_follows_the_node_live(server: HlsdServer, chromium: Any,
                                            tmp_path: Path) -> None:
    browser = Browser(chromium, server.url)
    page = browser.page(f"{server.url}/", key=KEY)

    command = page.locator("#publish-command")
    command.wait_for(timeout=15_000)
    assert f"-method PUT {server.url}/ingest/cam1/index.m3u8" in command.inner_text()
    assert "No live streams yet" in page.locator("#streams").inner_text()

    backends = page.get_by_role("table", name="Backends")
    backends.wait_for(timeout=15_000)
    rows = {row.locator("th").inner_text(): row.locator(".badge").inner_text()
            for row in backends.locator("tbody tr").all()}
    assert rows == {"database": "up", "object store": "up", "Redis registry": "down"}
    assert page.locator("#node-status").inner_text() == "degraded"
    errors = page.get_by_role("list", name="Recent warnings and errors, newest first")
    assert "Redis registry" in errors.locator("li").last.inner_text()
    shoot(page, "overview-empty")

    page.evaluate("() => { window.__sameDocument = true; }")
    with _publisher(server, "cam-a", tmp_path / "cam-a.log"):
        card = _card(page, "cam-a")
        card.wait_for(timeout=30_000)
        link = card.get_by_role("link", name="cam-a", exact=True)
        assert link.get_attribute("href") == "/ui/streams/cam-a"
        page.wait_for_function(PICTURE, arg="cam-a", timeout=30_000)
        assert "HTTP push" in card.locator(".badge").inner_text()
        page.wait_for_function(
            "() => /[kM]bit\\/s/.test(document.querySelector(\"article[data-stream='cam-a'] "
            ".figures\").textContent)", timeout=15_000)
        assert "0 websocket viewers" in card.inner_text()

        with _publisher(server, "cam-b", tmp_path / "cam-b.log"):
            _card(page, "cam-b").wait_for(timeout=30_000)
            page.wait_for_function(PICTURE, arg="cam-b", timeout=30_000)
            assert page.evaluate("() => window.__sameDocument") is True  # no reload
            assert page.evaluate("() => window.__console.overview.streams") == [
                "cam-a", "cam-b"]
            shoot(page, "overview")

    assert page.evaluate("() => window.__console.problems") == []
    assert browser.outside == []
    assert browser.page_errors == []


def test_without_the_key_it_asks_for_it(server: HlsdServer, chromium: Any) -> None:
    browser = Browser(chromium, server.url)
    page = browser.page(f"{server.url}/")
    form = page.locator("#signin")
    form.wait_for(timeout=15_000)
    assert "admin key" in form.inner_text()
    assert page.get_by_label("Admin key").is_visible()
    assert browser.outside == []


def test_cut_updates_are_said_on_the_page(server: HlsdServer, chromium: Any) -> None:
    browser = Browser(chromium, server.url)
    page = browser.page(f"{server.url}/", key=KEY)
    page.locator("#health .badge").first.wait_for(timeout=15_000)
    page.route("**/api/console/events", lambda route: route.abort("connectionreset"))
    page.reload()
    alert = page.locator("#problem")
    alert.wait_for(state="visible", timeout=15_000)
    assert "Live updates interrupted" in alert.inner_text()
    assert "Not live" in page.locator("#updated").inner_text()

    page.unroute("**/api/console/events")  # back: the page carries on by itself
    alert.wait_for(state="hidden", timeout=20_000)
    page.locator("#node-status").wait_for(timeout=15_000)
    assert browser.outside == []
    assert browser.page_errors == []
