"""The websocket CDN (hls-websocket-cdn's protocol at `websocket.path`), the Redis
publish registry, the relays between nodes, and the resolver every consumer asks for a
stream the hub does not have (a channel's feed, else a relay)."""

from __future__ import annotations

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
from hlsd.streams import StreamHub
from hlsd.wscdn import CdnConfig, WebsocketCdn

__all__ = ["Cluster", "build", "default_websocket_url"]


def default_websocket_url(settings: Settings) -> str:
    """This node's websocket as other nodes reach it, when ``cluster.external_url`` does
    not say: ``wss://`` when it serves TLS itself."""
    scheme = "wss" if settings.tls.enabled else "ws"
    return f"{scheme}://{settings.host}:{settings.port}{settings.websocket.path}"


@dataclass(frozen=True, kw_only=True)
class Cluster:
    feature: Feature
    relays: Relays
    resolver: StreamResolver


def build(common: Common, *, hub: StreamHub, feeds: ChannelFeeds) -> Cluster:
    settings = common.settings
    ws, cl = settings.websocket, settings.cluster
    own_url = cl.external_url or default_websocket_url(settings)
    node_id = cl.node_id or uuid.uuid4().hex[:12]
    registry: Registry = NoRegistry()
    tasks = []
    close = []
    if cl.redis_url is not None:
        redis = RedisRegistry(cl.redis_url.get_secret_value(), prefix=cl.registry_prefix,
                              ttl=2 * cl.refresh_interval)
        watch_redis(common.backends, "Redis registry", cl.redis_url.get_secret_value(),
                    redis.ping)
        announcer = Announcer(hub=hub, registry=redis, url=own_url,
                              refresh=cl.refresh_interval)
        tasks.append(announcer.run)
        close.append(announcer.close)
        registry = redis
    close.append(registry.close)
    pull_secret = ws.pull_secret.get_secret_value() if ws.pull_secret else None
    relays = Relays(hub=hub, registry=registry, metrics=common.metrics, config=RelayConfig(
        own_url=own_url, node_id=node_id, relay_from=cl.relay_from, pull_secret=pull_secret,
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
    return Cluster(relays=relays, resolver=resolver, feature=Feature(
        name="cluster", routers=[websocket.router(cdn=cdn, path=ws.path)],
        tasks=tasks, sweep=[relays.sweep], close=[resolver.close, relays.close, *close]))
