"""Live ingest and playback: HTTP push (`/ingest/…`), LiveMix (`/v1/playlist`,
`/v1/source…`), and `/live/<stream>/…` with LiveMix's `/v1/vod/live/…`."""

from __future__ import annotations

from dataclasses import dataclass

from hlsd.api import ingest, livemix
from hlsd.api.ingest import PublishAuth
from hlsd.auth.keys import derive_key
from hlsd.channels import Playout
from hlsd.cluster.resolver import StreamResolver
from hlsd.config import PlaybackAccess
from hlsd.delivery import Mount, TokenGate, live
from hlsd.features.common import Common
from hlsd.features.feature import Feature
from hlsd.ingest.http_push import HttpPushIngest
from hlsd.ingest.livemix import LiveMixIngest
from hlsd.ingest.livemix_sources import LiveMixSources
from hlsd.streams import StreamHub

__all__ = ["Live", "build"]


@dataclass(frozen=True, kw_only=True)
class Live:
    feature: Feature
    sources: LiveMixSources


def build(common: Common, *, hub: StreamHub, playout: Playout,
          resolver: StreamResolver) -> Live:
    settings = common.settings
    lv = settings.live
    push = HttpPushIngest(hub, max_pending_bytes=lv.max_pending_bytes,
                          max_feeds=lv.max_streams,
                          max_streams_per_key=lv.max_streams_per_key,
                          wait_durations=lv.segment_wait_durations,
                          max_awaited=lv.max_awaited_segments, metrics=common.metrics)
    authorize = PublishAuth(tuple(k.get_secret_value() for k in lv.publish_keys),
                            secret=derive_key(common.root_secret, "publish key fingerprint"))
    livemix_ingest = LiveMixIngest(push, client=common.request_client, policy=common.policy,
                                   file_roots=settings.livemix.file_roots,
                                   max_segment_bytes=lv.max_segment_bytes)
    sources = LiveMixSources(common.sessions)
    common.metrics.caches.add(sources.names)
    gate = (TokenGate(common.signer, caches=common.metrics.caches, name="live-grants")
            if lv.access is PlaybackAccess.TOKEN else None)
    playback = live.LiveResolver(hub=hub, gate=gate, channels=playout, resolver=resolver)
    return Live(sources=sources, feature=Feature(
        name="live",
        routers=[ingest.router(ingest=push, authorize=authorize,
                               max_body=lv.max_segment_bytes),
                 livemix.router(sources=sources, ingest=livemix_ingest, authorize=authorize,
                                admin_key=common.admin_key)],
        playback=[Mount(live.PREFIX, playback),
                  Mount(live.LIVEMIX_PREFIX,
                        live.LiveMixLiveResolver(live=playback, names=sources))],
        # What was pushed for streams that ended goes.
        sweep=[push.sweep]))
