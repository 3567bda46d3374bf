"""The console in Chromium, offline: every request to another host is aborted and kept
(`Browser.outside`), as a browser on an isolated network would see it, and every page
error is kept (`Browser.page_errors`). `shoot` takes a page's screenshots at a phone's
width (390 px) and a laptop's (1280 px) into ``build/screenshots/`` for the record, and
checks the page at both widths with axe-core (npm, a development dependency): no
serious or critical accessibility violation (names, labels, contrast, roles, focus).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests._support.browser import CHROMIUM, CHROMIUM_ARGS
from tests._support.hlsd_server import REPO_ROOT

SCREENSHOTS = REPO_ROOT / "build" / "screenshots"
WIDTHS = (390, 1280)
AXE = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
_VIOLATIONS = """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
  .filter((v) => v.impact === "serious" || v.impact === "critical")
  .map((v) => `${v.id} (${v.impact}): ${v.help}; at ${v.nodes.slice(0, 3)
    .map((n) => n.target.join(" ")).join(", ")}`)"""


class Browser:
    """Chromium whose pages may reach `origin` only: anything else is aborted and kept
    in `outside` (requests and websockets alike)."""

    def __init__(self, browser: Any, origin: str) -> None:
        self._browser = browser
        self._host = urlsplit(origin).netloc
        self.outside: list[str] = []
        self.page_errors: list[str] = []

    def page(self, url: str, *, key: str | None = None, width: int = 1280) -> Any:
        """A new page (its own session) at `url`; `key`: the admin key signed in."""
        context = self._browser.new_context(viewport={"width": width, "height": 900})
        # Only requests to other hosts are routed (matched in the browser's driver): the
        # origin's own never wait for this test's thread, which may be busy polling.
        context.route(re.compile(rf"^(?!(?:https?|wss?)://{re.escape(self._host)}[/?#]|"
                                 r"data:|blob:)"), self._guard)
        if key is not None:
            context.add_init_script(f"sessionStorage.setItem('hlsd-admin-key', {key!r});")
        page = context.new_page()
        page.on("pageerror", lambda exc: self.page_errors.append(f"{url}: {exc}"))
        page.on("websocket", lambda ws: self._check(ws.url))
        page.goto(url)
        return page

    def _check(self, url: str) -> bool:
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).netloc == self._host:
            return True
        self.outside.append(url)
        return False

    def _guard(self, route: Any) -> None:
        self._check(route.request.url)
        route.abort("internetdisconnected")


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                     headless=True)
        try:
            yield browser
        finally:
            browser.close()


def shoot(page: Any, name: str) -> list[Path]:
    """Screenshots of `page` as it is now, at each of `WIDTHS` (full page), each width
    checked with axe-core first."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    taken = []
    original = page.viewport_size
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(150)  # one layout after the resize: not a synchronisation
        violations = page.evaluate(_VIOLATIONS)
        assert violations == [], f"{name} at {width} px: {violations}"
        path = SCREENSHOTS / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
    if original:
        page.set_viewport_size(original)
    return taken
