"""The websocket CDN (hls-websocket-cdn's protocol at `websocket.path`, on the main port
and on its own listener, `websocket.listen`), the Redis publish registry, the relays
between nodes, and the resolver every consumer asks for a stream the hub does not have
(a channel's feed, else a relay)."""

from __future__ import annotations

import ssl
import uuid
from dataclasses import dataclass

from hlsd.api import websocket
from hlsd.backends import watch_redis
from hlsd.channels.feed import ChannelFeeds
from hlsd.cluster.registry import Announcer, NoRegistry, RedisRegistry, Registry
from hlsd.cluster.relay import RelayConfig, Relays
from hlsd.cluster.resolver import StreamResolver
from hlsd.config import Settings
from hlsd.features.common import Common
from hlsd.features.feature import Feature
from hlsd.infra.client_address import TrustedProxies, parse_networks
from hlsd.ingest.listeners import Listening, parse_listen, start_listener
from hlsd.streams import StreamHub
from hlsd.wscdn import CdnConfig, WebsocketCdn
from hlsd.wscdn._listener import WebsocketListener
from hlsd.wscdn._socket import FramedFragments

__all__ = ["Cluster", "build", "default_websocket_url", "listener_url"]


def default_websocket_url(settings: Settings) -> str:
    """This node's websocket as other nodes reach it, when ``cluster.external_url`` does
    not say: ``wss://`` when it serves TLS itself."""
    scheme = "wss" if settings.tls.enabled else "ws"
    return f"{scheme}://{settings.host}:{settings.port}{settings.websocket.path}"


def listener_url(settings: Settings, port: int) -> str:
    """The URL of the ``websocket.listen`` listener on `port`."""
    assert settings.websocket.listen is not None
    host, _ = parse_listen(settings.websocket.listen, settings.host)
    scheme = "wss" if settings.tls.enabled else "ws"
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port}{settings.websocket.path}"


class _Listener:
    """The ``websocket.listen`` listener, started (for the CDN made after it) as the RTMP
    and SRT listeners are."""

    def __init__(self, common: Common) -> None:
        self._common = common
        self._running: WebsocketListener | None = None

    @property
    def url(self) -> str | None:
        """Its URL while it runs."""
        if self._running is None:
            return None
        return listener_url(self._common.settings, self._running.port)

    async def start(self, cdn: WebsocketCdn) -> None:
        settings = self._common.settings
        ws = settings.websocket
        if ws.listen is None:
            return
        tls = None
        if settings.tls.enabled:
            assert settings.tls.cert is not None and settings.tls.key is not None
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.minimum_version = ssl.TLSVersion.TLSv1_2
            tls.load_cert_chain(settings.tls.cert, settings.tls.key)
            tls.set_alpn_protocols(["http/1.1"])
        listener = WebsocketListener(
            cdn, path=ws.path, frames=FramedFragments(self._common.metrics.caches),
            proxies=TrustedProxies(parse_networks(settings.trusted_proxies,
                                                  what="trusted_proxies")),
            header_timeout=settings.http.header_timeout,
            max_connections=ws.max_connections, tls=tls)
        if await start_listener(listener, Listening(
                "websocket", ws.listen, explicit="listen" in ws.model_fields_set),
                default_host=settings.host):
            self._running = listener

    async def close(self) -> None:
        if self._running is not None:
            await self._running.close()
            self._running = None


class _OwnUrls:
    """This node's websocket URLs: the one the registry announces (the listener's while
    it runs, unless `cluster.external_url` says), and every one that reaches this node
    (a registry entry naming any of them is never relayed from)."""

    def __init__(self, settings: Settings, listener: _Listener) -> None:
        self._external = settings.cluster.external_url
        self._main = default_websocket_url(settings)
        self._listener = listener

    @property
    def announced(self) -> str:
        return self._external or self._listener.url or self._main

    def __contains__(self, url: object) -> bool:
        return url in (self._external, self._main, self._listener.url)


@dataclass(frozen=True, kw_only=True)
class Cluster:
    feature: Feature
    relays: Relays
    resolver: StreamResolver


def build(common: Common, *, hub: StreamHub, feeds: ChannelFeeds) -> Cluster:
    settings = common.settings
    ws, cl = settings.websocket, settings.cluster
    listener = _Listener(common)
    own = _OwnUrls(settings, listener)
    node_id = cl.node_id or uuid.uuid4().hex[:12]
    registry: Registry = NoRegistry()
    tasks = []
    close = []
    leader = common.role.leader  # one worker of a node announces and listens
    if cl.redis_url is not None:
        redis = RedisRegistry(cl.redis_url.get_secret_value(), prefix=cl.registry_prefix,
                              ttl=2 * cl.refresh_interval)
        watch_redis(common.backends, "Redis registry", cl.redis_url.get_secret_value(),
                    redis.ping)
        announcer = Announcer(hub=hub, registry=redis, url=lambda: own.announced,
                              refresh=cl.refresh_interval)
        if leader:
            tasks.append(announcer.run)
            close.append(announcer.close)
        registry = redis
    close.append(registry.close)
    pull_secret = ws.pull_secret.get_secret_value() if ws.pull_secret else None
    relays = Relays(hub=hub, registry=registry, metrics=common.metrics, config=RelayConfig(
        own_urls=own, node_id=node_id, relay_from=cl.relay_from, pull_secret=pull_secret,
        inactivity=cl.relay_inactivity, connect_timeout=cl.relay_connect_timeout,
        max_binary_message=ws.max_binary_message, heartbeat=ws.heartbeat))
    resolver = StreamResolver(hub=hub, feeds=feeds, relays=relays)
    cdn = WebsocketCdn(hub=hub, metrics=common.metrics, node_id=node_id,
                       on_demand=resolver.find,
                       config=CdnConfig(
        push_secret=ws.push_secret.get_secret_value() if ws.push_secret else None,
        pull_secret=pull_secret,
        fragment_buffer=ws.fragment_buffer, max_initial_fragments=ws.max_initial_fragments,
        max_binary_message=ws.max_binary_message, heartbeat=ws.heartbeat,
        first_message_timeout=ws.first_message_timeout, write_timeout=ws.write_timeout,
        slow_spectators=ws.slow_spectators, max_connections_per_ip=ws.max_connections_per_ip,
        connects_per_second=ws.connects_per_second, connect_burst=ws.connect_burst,
        rate_limit_exempt=ws.rate_limit_exempt))
    # The listener starts before the tasks (the announcer reads its URL) and closes
    # first: its sessions read the hub and the relays.
    return Cluster(relays=relays, resolver=resolver, feature=Feature(
        name="cluster", routers=[websocket.router(cdn=cdn, path=ws.path)],
        start=[lambda: listener.start(cdn)] if leader else [], tasks=tasks, sweep=[relays.sweep],
        close=[listener.close, resolver.close, relays.close, *close]))
