"""The README's reverse-proxy set-up, run as written: nginx in front of hlsd, on both
engines. With `trusted_proxies`, each client counts as itself; without it, a request
that came through the proxy is never taken for this host's own."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from websockets.asyncio.client import connect

from tests._support.environment import lan_address
from tests._support.hlsd_server import REPO_ROOT, HlsdServer
from tests._support.nginx import Nginx

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README.split("## Behind a reverse proxy", 1)[1].split("\n## ", 1)[0]
SITE = re.search(r"```nginx\n(.*?)```", SECTION, re.S).group(1)  # type: ignore[union-attr]
SETTINGS: dict[str, Any] = yaml.safe_load(
    re.search(r"```yaml\n(.*?)```", SECTION, re.S).group(1))  # type: ignore[union-attr]
ENGINES = ["granian", "uvicorn"]


@contextmanager
def behind_nginx(engine: str, config: dict[str, Any], tmp: Path,
                 ) -> Iterator[tuple[HlsdServer, Nginx]]:
    with HlsdServer({"server": engine, **config}, tmp_dir=tmp / "hlsd") as hlsd, \
            Nginx(hlsd.url, tmp_dir=tmp / "nginx", site=SITE) as proxy:
        yield hlsd, proxy


def _client(proxy: Nginx, source: str) -> httpx.Client:
    return httpx.Client(base_url=proxy.url, timeout=10,
                        transport=httpx.HTTPTransport(local_address=source))


def _push(url: str, stream: str) -> str:
    """The first answer to a websocket PUSH from here (no push secret: local publishers
    only)."""
    async def run() -> str:
        async with connect(url, max_size=None) as ws:
            await ws.send(f"PUSH:stream={stream}")
            while (answer := str(await asyncio.wait_for(ws.recv(), 10))) == "H":
                pass
            return answer
    return asyncio.run(run())


@pytest.mark.parametrize("engine", ENGINES)
def test_the_documented_proxy_set_up(engine: str, tmp_path: Path) -> None:
    key = SETTINGS["admin_key"]
    with behind_nginx(engine, SETTINGS, tmp_path) as (_, proxy), \
            _client(proxy, "127.0.0.1") as here, _client(proxy, lan_address()) as far:
        # The management API takes the admin key through the proxy, and nothing else.
        assert here.get("/api/streams").status_code == 401
        assert here.get("/api/streams", headers={"authorization": f"Bearer {key}"}
                        ).status_code == 200
        # With no publish keys, publishers on this host may push, through the proxy too;
        # one elsewhere may not, whatever its request claims.
        assert here.put("/ingest/here/seg-0.ts", content=b"\x47" * 188).status_code == 201
        spoof = {"x-forwarded-for": "127.0.0.1"}
        refused = far.put("/ingest/far/seg-0.ts", content=b"\x47" * 188, headers=spoof)
        assert refused.status_code == 403, refused.text
        assert "only loopback publishers" in refused.json()["error"]
        # The websocket CDN works through it (Upgrade), by the same rule.
        ws = proxy.url.replace("http://", "ws://") + "/ws"
        assert _push(ws, "through-nginx") == "OK"


@pytest.mark.parametrize("engine", ENGINES)
def test_without_trusted_proxies_a_proxied_request_is_nobody_local(engine: str,
                                                                     tmp_path: Path) -> None:
    untrusting = {k: v for k, v in SETTINGS.items() if k != "trusted_proxies"}
    with behind_nginx(engine, untrusting, tmp_path) as (hlsd, proxy), \
            _client(proxy, "127.0.0.1") as here:
        refused = here.put("/ingest/here/seg-0.ts", content=b"\x47" * 188)
        assert refused.status_code == 403
        with httpx.Client(base_url=hlsd.url, timeout=10) as direct:  # not through nginx
            assert direct.put("/ingest/direct/seg-0.ts",
                              content=b"\x47" * 188).status_code == 201
