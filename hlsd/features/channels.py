"""VOD-to-live channels: `/api/channels`, their playout (computed playlists, segments
at air time) and their feeds into the hub for websocket readers and recordings."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from hlsd.api import channels as channels_api
from hlsd.channels import ChannelService, Playout, SourceKind
from hlsd.channels.feed import ChannelFeeds
from hlsd.features.common import Common
from hlsd.features.feature import Feature
from hlsd.infra.cache import Cache
from hlsd.infra.guarded_http import guarded_async_client
from hlsd.streams import StreamHub
from hlsd.vod.packager import Packager

__all__ = ["Channels", "build"]


@dataclass(frozen=True, kw_only=True)
class Channels:
    feature: Feature
    playout: Playout
    feeds: ChannelFeeds


def build(common: Common, *, hub: StreamHub, packagers: dict[SourceKind, Packager]) -> Channels:
    settings = common.settings
    ch, up = settings.channels, settings.upstream
    caches = common.metrics.caches
    # Slates by what they are, segments by their air time: never stale.
    slates: Cache[str, bytes] = caches.for_bytes("slates", ch.slate_cache)
    segments: Cache[str, bytes] = caches.for_bytes("channel-segments", ch.segment_cache)
    client = guarded_async_client(
        common.policy, timeout=httpx.Timeout(ch.fetch_timeout, connect=up.connect_timeout),
        max_redirects=up.max_redirects)
    service = ChannelService(
        sessions=common.sessions, library=settings.library_dir, client=client,
        policy=common.policy, store=common.store, packagers=packagers, window=ch.window,
        max_channels=ch.max_channels, max_items=ch.max_items,
        max_playlist_bytes=ch.max_playlist_bytes, refresh=ch.refresh)
    playout = Playout(service=service, library=settings.library_dir, packagers=packagers,
                      client=client, store=common.store, served=segments, slates=slates,
                      caches=caches, refresh=ch.refresh, max_compiled=ch.max_channels,
                      max_segment_bytes=ch.max_segment_bytes)
    # A channel is fed into the hub only while something reads it there (a websocket
    # spectator, a relay to another node, a recording).
    feeds = ChannelFeeds(hub=hub, playout=playout, wanted=lambda s: s.readers > 0)
    return Channels(playout=playout, feeds=feeds, feature=Feature(
        name="channels",
        routers=[channels_api.router(service=service, playout=playout,
                                     admin_key=common.admin_key)],
        sweep=[feeds.sweep], close=[feeds.close, client.aclose]))
