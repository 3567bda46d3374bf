"""Forwarding headers are believed from `trusted_proxies` only, and "loopback means
admin" is decided the same way on granian and uvicorn (the 2026-12-06 attack: a request
from 127.0.0.1 with `X-Forwarded-For` was admin on granian and refused on uvicorn)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect

from tests._support.environment import lan_address
from tests._support.hlsd_server import HlsdServer

ENGINES = ["granian", "uvicorn"]
SPOOF = "203.0.113.9"


def _from(address: str, base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=10,
                        transport=httpx.HTTPTransport(local_address=address))


@pytest.fixture(scope="module", params=ENGINES)
def untrusting(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               ) -> Iterator[HlsdServer]:
    """No admin key, no trusted proxies."""
    with HlsdServer({"server": request.param},
                    tmp_dir=tmp_path_factory.mktemp(f"untrusting-{request.param}")) as s:
        yield s


@pytest.fixture(scope="module", params=ENGINES)
def behind_proxy(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                 ) -> Iterator[HlsdServer]:
    """No admin key; the proxy on this host (loopback) is trusted."""
    with HlsdServer({"server": request.param, "trusted_proxies": ["127.0.0.1", "::1"]},
                    tmp_dir=tmp_path_factory.mktemp(f"proxied-{request.param}")) as s:
        yield s


@pytest.mark.parametrize("header", [
    {"x-forwarded-for": SPOOF}, {"x-forwarded-for": "127.0.0.1"}, {"x-real-ip": "::1"},
    {"forwarded": "for=127.0.0.1"},
])
def test_forwarding_headers_from_an_untrusted_peer_make_no_loopback_admin(
        untrusting: HlsdServer, header: dict[str, str]) -> None:
    with httpx.Client(base_url=untrusting.url, timeout=10) as c:
        assert c.get("/api/streams").status_code == 200  # plain loopback: admin
        refused = c.get("/api/streams", headers=header)
        assert refused.status_code == 403
        assert "trusted_proxies" in refused.json()["error"]
        assert c.get("/metrics", headers=header).status_code == 403
        # The token API's "loopback without a handshake" follows the same rule.
        token = c.post("/api/token", json={"qid": "a"}, headers=header)
        assert token.status_code == 403


def test_a_peer_from_elsewhere_is_no_admin_whatever_it_claims(untrusting: HlsdServer,
                                                                ) -> None:
    with _from(lan_address(), untrusting.url) as c:
        assert c.get("/api/streams").status_code == 403
        assert c.get("/api/streams", headers={"x-forwarded-for": "127.0.0.1"}
                     ).status_code == 403


def test_a_websocket_push_follows_the_same_rule(untrusting: HlsdServer) -> None:
    """No push secret: loopback publishers only, and a forwarded one is not loopback."""
    url = untrusting.url.replace("http://", "ws://") + "/ws"

    async def push(stream: str, headers: dict[str, str]) -> str:
        async with connect(url, additional_headers=headers) as ws:
            await ws.send(f"PUSH:stream={stream}")
            while True:
                answer = str(await asyncio.wait_for(ws.recv(), 10))
                if answer != "H":
                    return answer

    refused = asyncio.run(push("proxied-cam", {"x-forwarded-for": SPOOF}))
    assert refused.startswith("E:code=AUTH_ERROR")
    assert asyncio.run(push("loopback-cam", {})) == "OK"


@pytest.mark.parametrize(("header", "admin"), [
    ({"x-forwarded-for": "127.0.0.1"}, True),
    ({"x-real-ip": "::1"}, True),
    ({"forwarded": 'for="[::1]";proto=https'}, True),
    ({"x-forwarded-for": SPOOF}, False),
    # The client wrote the first entry; the proxy appended the address it saw.
    ({"x-forwarded-for": f"127.0.0.1, {SPOOF}"}, False),
    ({"x-forwarded-for": "unknown"}, False),
])
def test_a_trusted_proxy_names_the_client(behind_proxy: HlsdServer, header: dict[str, str],
                                          admin: bool) -> None:
    with httpx.Client(base_url=behind_proxy.url, timeout=10) as c:
        status = c.get("/api/streams", headers=header).status_code
        assert status == (200 if admin else 403)


def test_a_trusted_address_elsewhere_is_still_only_a_proxy(behind_proxy: HlsdServer) -> None:
    """Trusting 127.0.0.1 as a proxy does not make a LAN peer's claims believable."""
    with _from(lan_address(), behind_proxy.url) as c:
        assert c.get("/api/streams", headers={"x-forwarded-for": "127.0.0.1"}
                     ).status_code == 403
