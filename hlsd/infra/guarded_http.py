"""httpx clients for URLs that come from requests: every connection obeys a `FetchPolicy`.

The check sits where the connection is made, in httpcore's network backend: the host is
resolved once, every address it resolves to is checked, and the TCP connection goes to
an address that was checked, never to the name again (a DNS answer that changes between
the check and the connection, "DNS rebinding", cannot slip through). Each redirect hop
is a new request and connects through the same backend, so every hop is checked. TLS
still verifies and names (SNI) the URL's host: httpcore passes the origin's host to
``start_tls``, whatever address the socket reached.

The clients ignore proxy environment variables (a proxy would make the connection in
our stead, unchecked). A refusal raises `FetchRefused` (an `httpx.TransportError`, so
callers that handle transport errors fail safe), logged once, naming the URL, the
address, its class and the config key that allows it.

`check_url` and `check_url_resolving` refuse a URL before any request, so an API can
answer at once; the connection-time check stays the one that counts.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import typing
from collections.abc import Awaitable, Callable, Iterable, Sequence
from urllib.parse import urlsplit

import httpcore
import httpx

from hlsd.infra.logs import clip
from hlsd.infra.outbound import (
    ALLOW_KEY,
    AddressRefused,
    FetchPolicy,
    IPAddress,
    literal_address,
)

__all__ = ["AsyncResolver", "FetchRefused", "Resolver", "check_url", "check_url_resolving",
           "guarded_async_client", "guarded_client", "resolve", "resolve_async"]

log = logging.getLogger(__name__)

Resolver = Callable[[str, int], Sequence[str]]
"""``(host, port) → addresses`` (as strings), blocking."""
AsyncResolver = Callable[[str, int], Awaitable[Sequence[str]]]

_DEFAULT_LIMITS = httpx.Limits(max_connections=32, max_keepalive_connections=8)


class FetchRefused(httpx.TransportError):
    """A fetch the outbound policy refused. str() is the message for the client."""

    def __init__(self, url: str, detail: str) -> None:
        self.url = _shown(url)
        self.detail = detail
        super().__init__(f"refused to fetch {self.url}: {detail}; allow it with {ALLOW_KEY}")


def _refused(url: str, detail: str) -> FetchRefused:
    """The refusal, logged here and only here (once per refused fetch)."""
    error = FetchRefused(url, detail)
    log.warning("refused to fetch %s: %s", clip(error.url), clip(detail))
    return error


def _shown(url: str) -> str:
    """`url` without credentials, query or fragment (for messages and logs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


# -- resolution -------------------------------------------------------------------------


def _unique(infos: Iterable[tuple[typing.Any, ...]]) -> list[str]:
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def resolve(host: str, port: int) -> list[str]:
    return _unique(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))


async def resolve_async(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    return _unique(await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM))


def _addresses(answer: Sequence[str], host: str) -> list[IPAddress]:
    found = [a for a in (literal_address(text) for text in answer) if a is not None]
    if not found:
        raise httpcore.ConnectError(f"{host} resolves to no address")
    return found


# -- before a request -------------------------------------------------------------------


def _host_port(url: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None  # not a URL: the fetch will say so
    if not host:
        return None
    return host, port or (443 if parts.scheme.lower() == "https" else 80)


def check_url(policy: FetchPolicy, url: str) -> None:
    """`FetchRefused` now if `url`'s host is an address the policy refuses, in any
    spelling (also ones httpx rejects as invalid). Names are left to the connection."""
    target = _host_port(url)
    if target is None or policy.allows_name(target[0]):
        return
    ip = literal_address(target[0])
    if ip is not None:
        try:
            policy.check(target[0], [ip], resolved=False)
        except AddressRefused as exc:
            raise _refused(url, exc.detail) from None


async def check_url_resolving(policy: FetchPolicy, url: str,
                              resolver: AsyncResolver = resolve_async) -> None:
    """`check_url`, and a name resolved now and each of its addresses checked. A name
    that does not resolve passes: the fetch fails on it with its own error."""
    check_url(policy, url)
    target = _host_port(url)
    if target is None or policy.allows_name(target[0]) or literal_address(target[0]):
        return
    try:
        answer = await resolver(*target)
    except OSError:
        return
    try:
        policy.check(target[0], [a for a in map(literal_address, answer) if a is not None],
                     resolved=True)
    except AddressRefused as exc:
        raise _refused(url, exc.detail) from None


# -- the connection ---------------------------------------------------------------------


def _targets(policy: FetchPolicy, host: str, answer: Callable[[], Sequence[str]]
             ) -> list[IPAddress]:
    literal = literal_address(host)
    if literal is not None:
        policy.check(host, [literal], resolved=False)
        return [literal]
    addresses = _addresses(answer(), host)
    policy.check(host, addresses, resolved=True)
    return addresses


class _GuardedBackend(httpcore.NetworkBackend):
    def __init__(self, policy: FetchPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolve = resolver
        self._tcp = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                    ) -> httpcore.NetworkStream:
        def answer() -> Sequence[str]:
            try:
                return self._resolve(host, port)
            except OSError as exc:
                raise httpcore.ConnectError(f"{host}: {exc}") from exc

        error: httpcore.ConnectError | None = None
        for ip in _targets(self._policy, host, answer):
            try:
                return self._tcp.connect_tcp(str(ip), port, timeout=timeout,
                                             local_address=local_address,
                                             socket_options=socket_options)
            except httpcore.ConnectError as exc:
                error = exc  # the next address, as socket.create_connection does
        assert error is not None
        raise error

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                            ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("guarded clients connect over TCP only")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _AsyncGuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: FetchPolicy, resolver: AsyncResolver) -> None:
        self._policy = policy
        self._resolve = resolver
        self._tcp = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        answer: Sequence[str] = ()
        if literal_address(host) is None:
            answer = await self._lookup(host, port, timeout)
        error: httpcore.ConnectError | None = None
        for ip in _targets(self._policy, host, lambda: answer):
            try:
                return await self._tcp.connect_tcp(str(ip), port, timeout=timeout,
                                                   local_address=local_address,
                                                   socket_options=socket_options)
            except httpcore.ConnectError as exc:
                error = exc
        assert error is not None
        raise error

    async def _lookup(self, host: str, port: int, timeout: float | None) -> Sequence[str]:
        try:
            async with asyncio.timeout(timeout):
                return await self._resolve(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"{host} did not resolve in time") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"{host}: {exc}") from exc

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("guarded clients connect over TCP only")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _replace_pool(transport: httpx.HTTPTransport | httpx.AsyncHTTPTransport,
                  pool: httpcore.ConnectionPool | httpcore.AsyncConnectionPool) -> None:
    """The one private attribute: httpx's transports take no network backend, and their
    connection pool (httpcore's, which does) is `_pool`. Checked, so that an httpx that
    changes it stops hlsd at start rather than leaving its fetches unguarded."""
    current = getattr(transport, "_pool", None)
    if not isinstance(current, httpcore.ConnectionPool | httpcore.AsyncConnectionPool):
        raise RuntimeError("this httpx keeps its connection pool elsewhere; the guarded "
                           "clients of hlsd.infra.guarded_http need updating")
    transport._pool = pool


def _pool_options(limits: httpx.Limits, verify: typing.Any) -> dict[str, typing.Any]:
    return {"ssl_context": httpx.create_ssl_context(verify=verify, trust_env=False),
            "max_connections": limits.max_connections,
            "max_keepalive_connections": limits.max_keepalive_connections,
            "keepalive_expiry": limits.keepalive_expiry}


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self, policy: FetchPolicy, *, limits: httpx.Limits, resolver: Resolver,
                 verify: typing.Any) -> None:
        super().__init__(verify=verify, trust_env=False, limits=limits)
        _replace_pool(self, httpcore.ConnectionPool(
            **_pool_options(limits, verify),
            network_backend=_GuardedBackend(policy, resolver)))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except AddressRefused as exc:
            raise _refused(str(request.url), exc.detail) from None


class _AsyncGuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, policy: FetchPolicy, *, limits: httpx.Limits,
                 resolver: AsyncResolver, verify: typing.Any) -> None:
        super().__init__(verify=verify, trust_env=False, limits=limits)
        _replace_pool(self, httpcore.AsyncConnectionPool(
            **_pool_options(limits, verify),
            network_backend=_AsyncGuardedBackend(policy, resolver)))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except AddressRefused as exc:
            raise _refused(str(request.url), exc.detail) from None


def guarded_client(policy: FetchPolicy, *, timeout: httpx.Timeout, max_redirects: int,
                   limits: httpx.Limits = _DEFAULT_LIMITS,
                   headers: dict[str, str] | None = None, resolver: Resolver = resolve,
                   verify: typing.Any = True) -> httpx.Client:
    """A synchronous client whose every connection (redirects included) obeys `policy`.
    `resolver` is injectable (tests); `verify` is httpx's (a path or an SSL context)."""
    return httpx.Client(
        transport=_GuardedTransport(policy, limits=limits, resolver=resolver, verify=verify),
        timeout=timeout, follow_redirects=max_redirects > 0, max_redirects=max_redirects,
        headers=headers, trust_env=False)


def guarded_async_client(policy: FetchPolicy, *, timeout: httpx.Timeout, max_redirects: int,
                         limits: httpx.Limits = _DEFAULT_LIMITS,
                         headers: dict[str, str] | None = None,
                         resolver: AsyncResolver = resolve_async,
                         verify: typing.Any = True) -> httpx.AsyncClient:
    """The asynchronous `guarded_client`."""
    return httpx.AsyncClient(
        transport=_AsyncGuardedTransport(policy, limits=limits, resolver=resolver,
                                         verify=verify),
        timeout=timeout, follow_redirects=max_redirects > 0, max_redirects=max_redirects,
        headers=headers, trust_env=False)
