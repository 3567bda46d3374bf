"""Recordings of live streams: the recorder (and `recording.auto`), replay and MP4
export; `/api/…/recordings`, LiveMix's `/v1/recording…`, `/recordings/…` and
`/v1/vod/recording/…`."""

from __future__ import annotations

from dataclasses import dataclass

from hlsd.api import livemix_recordings, recordings
from hlsd.cluster.resolver import StreamResolver
from hlsd.config import PlaybackAccess
from hlsd.delivery import Mount, TokenGate
from hlsd.delivery import recordings as recorded
from hlsd.features.common import Common
from hlsd.features.feature import Feature
from hlsd.infra.cache import Cache
from hlsd.ingest.livemix_sources import LiveMixSources
from hlsd.recording import AutoRecorder, Exporter, Recorder, ReplayCatalog
from hlsd.recording.queries import RecordingQueries
from hlsd.streams import StreamHub

__all__ = ["Recording", "build"]


@dataclass(frozen=True, kw_only=True)
class Recording:
    feature: Feature
    recorder: Recorder


def build(common: Common, *, hub: StreamHub, resolver: StreamResolver,
          sources: LiveMixSources) -> Recording:
    """`resolver` finds a stream the hub does not have when a recording of it starts (a
    channel's feed, a relay from the node that publishes it), and again while it is not
    on air (a channel after a restart, a publisher back on another node)."""
    settings, sessions = common.settings, common.sessions
    leader = common.role.leader
    rec = settings.recording
    caches = common.metrics.caches
    # Stored segments under their object keys: never stale.
    cache: Cache[str, bytes] = caches.for_bytes("replay", rec.replay_cache)
    replays = ReplayCatalog(sessions=sessions, store=common.store, cache=cache,
                            caches=caches, prefetch=rec.prefetch)
    recorder = Recorder(hub=hub, sessions=sessions, store=common.store,
                        metrics=common.metrics, reach_back=rec.reach_back,
                        queue_segments=rec.queue_segments, store_attempts=rec.store_attempts,
                        on_commit=replays.changed, on_demand=resolver.find)
    auto = AutoRecorder(recorder=recorder, hub=hub, sessions=sessions, patterns=rec.auto)
    exporter = Exporter(catalog=replays, temp_dir=settings.temp_dir,
                        executor=common.executor, max_bytes=rec.max_export_bytes)
    queries = RecordingQueries(sessions)
    gate = (TokenGate(common.signer, caches=caches, name="recording-grants")
            if rec.access is PlaybackAccess.TOKEN else None)
    playback = recorded.RecordingResolver(catalog=replays, exporter=exporter, gate=gate)
    return Recording(recorder=recorder, feature=Feature(
        name="recording",
        routers=[livemix_recordings.router(recorder=recorder, recordings=queries,
                                           sources=sources, admin_key=common.admin_key),
                 recordings.router(recorder=recorder, recordings=queries,
                                   signer=common.signer, admin_key=common.admin_key)],
        playback=[Mount(recorded.PREFIX, playback),
                  Mount(recorded.LIVEMIX_PREFIX, recorded.LiveMixRecordingResolver(playback))],
        # Automatic recordings of streams that ended stop; recorded streams not on air
        # are looked for again. The leader records, for every worker of a node (the
        # others hand it the recording requests: `hlsd.node.forward`).
        sweep=[auto.sweep, lambda: resolver.follow(recorder.streams())] if leader else [],
        recover=[recorder.open, auto.open] if leader else [],
        close=[auto.close, recorder.close, replays.close]))
