"""Live ingest and playback: HTTP push (`/ingest/…`), LiveMix (`/v1/playlist`,
`/v1/source…`), RTMP, SRT and continuous HTTP (`/ingest/<stream>.ts`) through the one
segmenting pipeline, and `/live/<stream>/…` with LiveMix's `/v1/vod/live/…`."""

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
from hlsd.ingest.listeners import Listener, Listening, start_listener
from hlsd.ingest.livemix import LiveMixIngest
from hlsd.ingest.livemix_sources import LiveMixSources
from hlsd.ingest.pipeline import ContinuousIngest, Segmenting
from hlsd.ingest.publish_keys import PublishKeys
from hlsd.ingest.publishers import KeyQuota
from hlsd.ingest.rtmp import RtmpServer
from hlsd.ingest.srt import SrtServer, SrtUnavailable
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
    keys = PublishKeys(tuple(k.get_secret_value() for k in lv.publish_keys),
                       secret=derive_key(common.root_secret, "publish key fingerprint"))
    quota = KeyQuota(lv.max_streams_per_key)
    push = HttpPushIngest(hub, max_pending_bytes=lv.max_pending_bytes,
                          max_feeds=lv.max_streams, quota=quota,
                          wait_durations=lv.segment_wait_durations,
                          max_awaited=lv.max_awaited_segments, metrics=common.metrics)
    authorize = PublishAuth(keys)
    continuous = ContinuousIngest(hub, keys=keys, quota=quota, max_sessions=lv.max_streams,
                                  metrics=common.metrics,
                                  segmenting=Segmenting(segment_duration=lv.segment_duration,
                                                        part_duration=lv.part_duration))
    listeners = _Listeners(common, continuous)
    livemix_ingest = LiveMixIngest(push, client=common.request_client, policy=common.policy,
                                   file_roots=settings.livemix.file_roots,
                                   max_segment_bytes=lv.max_segment_bytes)
    sources = LiveMixSources(common.sessions, any_name=settings.edge.enabled)
    common.metrics.caches.add(sources.names)
    gate = (TokenGate(common.signer, caches=common.metrics.caches, name="live-grants")
            if lv.access is PlaybackAccess.TOKEN else None)
    playback = live.LiveResolver(hub=hub, gate=gate, channels=playout, resolver=resolver)
    return Live(sources=sources, feature=Feature(
        name="live",
        routers=[ingest.router(ingest=push, authorize=authorize,
                               max_body=lv.max_segment_bytes, continuous=continuous),
                 livemix.router(sources=sources, ingest=livemix_ingest, authorize=authorize,
                                admin_key=common.admin_key,
                                report_interval=settings.livemix.report_interval)],
        playback=[Mount(live.PREFIX, playback),
                  Mount(live.LIVEMIX_PREFIX,
                        live.LiveMixLiveResolver(live=playback, names=sources))],
        # One worker of a node listens (the leader; `hlsd.node`).
        start=[listeners.start] if common.role.leader else [],
        # What was pushed for streams that ended goes.
        sweep=[push.sweep],
        close=[listeners.close]))


class _Listeners:
    """The RTMP and SRT listeners, as ``rtmp.listen`` and ``srt.listen`` ask."""

    def __init__(self, common: Common, publishers: ContinuousIngest) -> None:
        settings = common.settings
        idle = settings.live.idle_timeout
        self._host = settings.host
        self._wanted: list[tuple[Listener, Listening, type[Exception] | None]] = []
        if settings.rtmp.listen is not None:
            self._wanted.append((
                RtmpServer(publishers, idle_timeout=idle),
                Listening("rtmp", settings.rtmp.listen,
                          explicit="listen" in settings.rtmp.model_fields_set), None))
        if settings.srt.listen is not None:
            self._wanted.append((
                SrtServer(publishers, idle_timeout=idle,
                          latency_ms=round(settings.srt.latency * 1000)),
                Listening("srt", settings.srt.listen,
                          explicit="listen" in settings.srt.model_fields_set),
                SrtUnavailable))
        self._running: list[Listener] = []

    async def start(self) -> None:
        for listener, listening, unavailable in self._wanted:
            if await start_listener(listener, listening, default_host=self._host,
                                    unavailable=unavailable):
                self._running.append(listener)

    async def close(self) -> None:
        for listener in self._running:
            await listener.close()
        self._running.clear()
