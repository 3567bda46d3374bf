"""The console's pages as HTTP answers: every page is its shell running its module, the
page's argument arrives escaped, the console's files are served and nothing else is, and
with no admin key only clients on this host get a page (as the management API)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from hlsd.api.console import PAGES
from tests._support.hlsd_server import HlsdServer

SPOOF = {"x-forwarded-for": "203.0.113.9"}


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    """No admin key; this host is a trusted proxy, so a forwarded client is from afar."""
    with HlsdServer({"trusted_proxies": ["127.0.0.1"]},
                    tmp_dir=tmp_path_factory.mktemp("console")) as server:
        yield server


def test_every_page_runs_its_module(proxied: HlsdServer) -> None:
    with httpx.Client(base_url=proxied.url, timeout=10) as c:
        for route, page, _title in PAGES:
            answer = c.get(route.replace("{arg}", "a%3Cb%22"))
            assert answer.status_code == 200, route
            assert f'src="/ui/static/pages/{page}.js"' in answer.text
            module = c.get(f"/ui/static/pages/{page}.js")
            assert module.status_code == 200, page
            assert module.headers["content-type"].startswith("text/javascript")
            assert "// @ts-check" in module.text, f"{page}.js is not type-checked"
            if "{arg}" in route:
                assert 'data-arg="a&lt;b&quot;"' in answer.text and "a<b" not in answer.text
        assert c.get("/ui/static/console.css").headers["content-type"].startswith("text/css")


@pytest.mark.parametrize("path", ["/ui/static/..%2F..%2Fapi%2Fconsole.py",
                                  "/ui/static/shell.html", "/ui/static/types.d.ts",
                                  "/ui/static/pages/nope.js", "/ui/static/.hidden.js"])
def test_nothing_but_the_consoles_scripts_and_styles_is_served(proxied: HlsdServer,
                                                                path: str) -> None:
    assert httpx.get(proxied.url + path).status_code == 404


def test_without_an_admin_key_clients_from_elsewhere_get_a_reason(proxied: HlsdServer,
                                                                   ) -> None:
    with httpx.Client(base_url=proxied.url, timeout=10) as c:
        for route in ("/", "/ui/recordings", "/ui/streams/cam"):
            refused = c.get(route, headers=SPOOF)
            assert refused.status_code == 403
            assert "admin key" in refused.text and "pages/" not in refused.text
        # Spectators are not operators: the websocket player stays public.
        assert c.get("/web/spectate", headers=SPOOF).status_code == 200


def test_with_an_admin_key_the_pages_are_served_and_the_data_needs_the_key(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    with HlsdServer({"trusted_proxies": ["127.0.0.1"], "admin_key": "console-key"},
                    tmp_dir=tmp_path_factory.mktemp("keyed")) as server, \
            httpx.Client(base_url=server.url, timeout=10) as c:
        assert c.get("/", headers=SPOOF).status_code == 200
        assert c.get("/api/streams", headers=SPOOF).status_code == 401
        assert c.get("/api/streams", headers={**SPOOF, "authorization": "Bearer console-key"}
                     ).status_code == 200
        assert c.get("/ui/streams/" + "x" * 300).status_code == 404
