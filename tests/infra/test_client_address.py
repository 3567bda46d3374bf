"""Who the client is, from the peer and the forwarding headers (`infra.client_address`)."""

from __future__ import annotations

import pytest

from hlsd.infra.cache import Caches
from hlsd.infra.client_address import (
    Client,
    ClientAddress,
    TrustedProxies,
    client_of,
    parse_networks,
    resolve,
)

NOBODY = TrustedProxies(())
LOCAL_PROXY = TrustedProxies(parse_networks(["127.0.0.1", "::1", "10.0.0.0/8"], what="t"))


def test_without_forwarding_headers_the_peer_is_the_client() -> None:
    assert resolve("127.0.0.1", {}, NOBODY) == (Client("127.0.0.1", True), None)
    assert resolve("::1", {}, NOBODY)[0] == Client("::1", True)
    assert resolve("::ffff:127.0.0.1", {}, NOBODY)[0].local
    assert resolve("203.0.113.9", {}, NOBODY)[0] == Client("203.0.113.9", False)
    assert resolve(None, {}, NOBODY)[0] == Client("", False)


@pytest.mark.parametrize("headers", [
    {b"x-forwarded-for": "127.0.0.1"},
    {b"x-real-ip": "127.0.0.1"},
    {b"forwarded": "for=127.0.0.1"},
    {b"x-forwarded-for": ""},
])
def test_an_untrusted_peer_with_forwarding_headers_is_never_local(
        headers: dict[bytes, str]) -> None:
    client, scheme = resolve("127.0.0.1", headers, NOBODY)
    assert client == Client("127.0.0.1", False)  # the peer, but not "this host"
    assert scheme is None


def test_a_trusted_proxy_names_the_nearest_untrusted_address() -> None:
    def client(value: str) -> Client:
        return resolve("127.0.0.1", {b"x-forwarded-for": value}, LOCAL_PROXY)[0]

    assert client("203.0.113.9") == Client("203.0.113.9", False)
    assert client("127.0.0.1") == Client("127.0.0.1", True)
    # A client cannot make itself local by writing the far end of the chain.
    assert client("127.0.0.1, 203.0.113.9") == Client("203.0.113.9", False)
    # Proxies of our own along the way are skipped.
    assert client("203.0.113.9, 10.1.2.3") == Client("203.0.113.9", False)
    assert client("10.1.2.3, 10.2.3.4") == Client("10.1.2.3", False)
    # Garbage where the client should be: nobody we can name, and not local.
    assert client("unknown") == Client("", False)
    assert client("198.51.100.1, not-an-ip") == Client("", False)


@pytest.mark.parametrize(("value", "expected"), [
    ('for="[::1]:4711"', Client("::1", True)),
    ("for=192.0.2.60;proto=http;by=203.0.113.43", Client("192.0.2.60", False)),
    ("for=192.0.2.43, for=198.51.100.17", Client("198.51.100.17", False)),
    ("for=198.51.100.17:8080", Client("198.51.100.17", False)),
    ("for=_hidden", Client("", False)),
    ('For="[2001:db8:cafe::17]"', Client("2001:db8:cafe::17", False)),
])
def test_the_forwarded_header(value: str, expected: Client) -> None:
    assert resolve("::1", {b"forwarded": value}, LOCAL_PROXY)[0] == expected


def test_forwarded_wins_over_the_legacy_headers_and_gives_the_scheme() -> None:
    headers = {b"forwarded": "for=198.51.100.17;proto=https",
               b"x-forwarded-for": "127.0.0.1", b"x-forwarded-proto": "http"}
    assert resolve("127.0.0.1", headers, LOCAL_PROXY) == (
        Client("198.51.100.17", False), "https")
    headers = {b"x-forwarded-for": "198.51.100.17", b"x-forwarded-proto": "https"}
    assert resolve("127.0.0.1", headers, LOCAL_PROXY)[1] == "https"
    headers = {b"x-forwarded-for": "198.51.100.17", b"x-forwarded-proto": "gopher"}
    assert resolve("127.0.0.1", headers, LOCAL_PROXY)[1] is None


def test_a_long_chain_is_cut_at_the_near_end() -> None:
    chain = ", ".join(["10.0.0.1"] * 10_000 + ["198.51.100.7"])
    assert resolve("127.0.0.1", {b"x-forwarded-for": chain}, LOCAL_PROXY)[0] == Client(
        "198.51.100.7", False)


def test_networks_are_validated() -> None:
    with pytest.raises(ValueError, match="trusted_proxies: 'nginx' is not an IP"):
        parse_networks(["nginx"], what="trusted_proxies")


async def test_the_middleware_rewrites_the_scope_for_a_trusted_proxy() -> None:
    seen: list[dict[str, object]] = []

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        seen.append(dict(scope))

    middleware = ClientAddress(app, LOCAL_PROXY, caches=Caches())
    scope = {"type": "http", "client": ("127.0.0.1", 5000), "scheme": "http",
             "headers": [(b"x-forwarded-for", b"198.51.100.7"),
                         (b"x-forwarded-proto", b"https")]}
    await middleware(scope, None, None)  # type: ignore[arg-type]
    assert seen[-1]["client"] == ("198.51.100.7", 0) and seen[-1]["scheme"] == "https"
    assert client_of(seen[-1]) == Client("198.51.100.7", False)
    scope = {"type": "websocket", "client": ("127.0.0.1", 5000), "scheme": "ws",
             "headers": [(b"forwarded", b"for=127.0.0.1;proto=https")]}
    await middleware(scope, None, None)  # type: ignore[arg-type]
    assert seen[-1]["scheme"] == "wss" and client_of(seen[-1]).local
    # Untrusted: the scope is left as the engine made it.
    untrusted = ClientAddress(app, NOBODY, caches=Caches())
    scope = {"type": "http", "client": ("127.0.0.1", 5000), "scheme": "http",
             "headers": [(b"x-forwarded-for", b"198.51.100.7")]}
    await untrusted(scope, None, None)  # type: ignore[arg-type]
    assert seen[-1]["client"] == ("127.0.0.1", 5000)
    assert client_of(seen[-1]) == Client("127.0.0.1", False)


def test_without_the_middleware_forwarding_headers_still_deny_local() -> None:
    assert client_of({"client": ("127.0.0.1", 1), "headers": []}).local
    assert not client_of({"client": ("127.0.0.1", 1),
                          "headers": [(b"x-real-ip", b"127.0.0.1")]}).local
