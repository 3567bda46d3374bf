"""Who the client is: one rule on every server engine.

Forwarding headers (``Forwarded``, ``X-Forwarded-For``, ``X-Real-IP``) are anyone's to
write, so they are believed only when the peer that sent them is a configured trusted
proxy. Then the client is the nearest address in the chain that is not itself a trusted
proxy (a client may put anything at the far end of its own header). From any other peer
the headers are ignored, and a request that carries them is never "local": behind a
reverse proxy on the same host every peer is loopback, and the header is the only sign
that the request came from further away.

The engines' own handling of these headers is off (uvicorn's ``proxy_headers``; granian
has none), so this middleware is the only place that decides. It stores its verdict in
the scope (`client_of`), which the access rules and per-address limits read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from hlsd.infra.cache import Cache, Caches

__all__ = ["Client", "ClientAddress", "TrustedProxies", "client_of", "parse_networks",
           "set_client"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_SCOPE_KEY = "hlsd.client"
_FORWARDING = (b"forwarded", b"x-forwarded-for", b"x-real-ip")
_READ = frozenset((*_FORWARDING, b"x-forwarded-proto"))
_PEERS_KEPT = 10_000
_MAX_HOPS = 32
"""Addresses of a forwarding chain looked at, from the nearest (a longer one is noise)."""


@dataclass(frozen=True, slots=True)
class Client:
    """The client of a request: its address (``""`` when unknown) and whether it is on
    this host, which is what "loopback only" rules mean."""

    host: str
    local: bool


def parse_networks(entries: Iterable[str], *, what: str) -> tuple[Network, ...]:
    """Addresses and CIDR ranges; ``ValueError`` naming `what` for one that is neither."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{what}: {entry!r} is not an IP address or CIDR range") from None
    return tuple(networks)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    def __init__(self, networks: tuple[Network, ...]) -> None:
        self._networks = networks

    def trusts(self, address: Address | None) -> bool:
        return address is not None and any(address in net for net in self._networks)


def _forwarded_for(value: str) -> list[str]:
    """The ``for=`` nodes of an RFC 7239 ``Forwarded`` header, in order."""
    nodes = []
    for element in value.split(","):
        for pair in element.split(";"):
            name, _, node = pair.strip().partition("=")
            if name.strip().lower() == "for":
                node = node.strip().strip('"')
                if node.startswith("["):  # [v6]:port
                    node = node[1:].partition("]")[0]
                elif node.count(":") == 1:  # v4:port
                    node = node.partition(":")[0]
                nodes.append(node)
    return nodes


def _forwarded_proto(value: str) -> str | None:
    """The ``proto=`` of the nearest element of a ``Forwarded`` header."""
    last = value.split(",")[-1]
    for pair in last.split(";"):
        name, _, proto = pair.strip().partition("=")
        if name.strip().lower() == "proto":
            return proto.strip().strip('"').lower()
    return None


def _chain(headers: dict[bytes, str]) -> list[str]:
    """The forwarding chain, farthest first, from the one header a proxy would set."""
    if b"forwarded" in headers:
        return _forwarded_for(headers[b"forwarded"])
    if b"x-forwarded-for" in headers:
        return [hop.strip() for hop in headers[b"x-forwarded-for"].split(",")]
    return [headers[b"x-real-ip"].strip()]


def resolve(peer: str | None, headers: dict[bytes, str], proxies: TrustedProxies,
            ) -> tuple[Client, str | None]:
    """The client of a request from `peer` with these forwarding `headers` (lower-case
    names, first value each), and the scheme a trusted proxy says it was asked with."""
    peer_address = _address(peer) if peer else None
    if not headers:
        return Client(peer or "", peer_address is not None and peer_address.is_loopback), None
    if not proxies.trusts(peer_address):
        # Forwarded by someone we do not trust: the peer is who we talk to, and a
        # forwarded request is not this host's own, whatever the peer is.
        return Client(peer or "", False), None
    hops = _chain(headers)[-_MAX_HOPS:]
    client: Address | None = None
    for hop in reversed(hops):
        client = _address(hop)
        if client is None or not proxies.trusts(client):
            break
    scheme = None
    if b"forwarded" in headers:
        scheme = _forwarded_proto(headers[b"forwarded"])
    elif b"x-forwarded-proto" in headers:
        scheme = headers[b"x-forwarded-proto"].split(",")[-1].strip().lower()
    if scheme not in ("http", "https"):
        scheme = None
    if client is None:  # "unknown", an obfuscated node, or garbage: nobody we can name
        return Client("", False), scheme
    return Client(str(client), client.is_loopback), scheme


class ClientAddress:
    """ASGI middleware: decides the client of each request and websocket (`client_of`),
    and rewrites ``scope["client"]`` (and the scheme) to what a trusted proxy says."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies, *, caches: Caches) -> None:
        self.app = app
        self._proxies = proxies
        self._peers: Cache[str, Client] = caches.new("client-peers", max_entries=_PEERS_KEPT)
        """Peers seen without forwarding headers: parsing an address costs more than
        the rest of the decision. The verdict depends on the address and the trusted
        proxies alone, which never change: it never goes stale."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            self._decide(scope)
        await self.app(scope, receive, send)

    def _decide(self, scope: Scope) -> None:
        headers: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            if name in _READ and name not in headers:
                headers[name] = value.decode("latin-1")
        peer = scope.get("client")
        forwarded = any(name in headers for name in _FORWARDING)
        if not forwarded and peer:  # most requests: the peer, as decided before
            known = self._peers.get(peer[0])
            if known is None:
                known = resolve(peer[0], {}, self._proxies)[0]
                self._peers.put(peer[0], known)
            scope[_SCOPE_KEY] = known
            return
        client, scheme = resolve(peer[0] if peer else None, headers if forwarded else {},
                                 self._proxies)
        scope[_SCOPE_KEY] = client
        if forwarded and self._proxies.trusts(_address(peer[0]) if peer else None):
            scope["client"] = (client.host, 0)
            if scheme is not None:
                if scope["type"] == "websocket":
                    scheme = "wss" if scheme == "https" else "ws"
                scope["scheme"] = scheme


def set_client(scope: Scope, client: Client) -> None:
    """Give a request the client another process decided on (a request one worker hands
    another: `hlsd.node.forward`)."""
    scope[_SCOPE_KEY] = client


def client_of(scope: Scope) -> Client:
    """The client `ClientAddress` decided on; without the middleware (an app under test),
    the peer, with no forwarding believed."""
    client = scope.get(_SCOPE_KEY)
    if isinstance(client, Client):
        return client
    peer = scope.get("client")
    found = {name for name, _ in scope.get("headers", ()) if name in _FORWARDING}
    host = peer[0] if peer else ""
    address = _address(host) if host else None
    return Client(host, not found and address is not None and address.is_loopback)
