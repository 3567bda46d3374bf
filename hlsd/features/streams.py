"""The hub of this node's live streams, which every ingest feeds and every consumer
reads; `GET /api/streams` and live playback tokens."""

from __future__ import annotations

from dataclasses import dataclass

from hlsd.api import streams as streams_api
from hlsd.features.common import Common
from hlsd.features.feature import Feature
from hlsd.streams import StreamHub
from hlsd.streams.spill import SpillDir

__all__ = ["Streams", "build"]


@dataclass(frozen=True, kw_only=True)
class Streams:
    feature: Feature
    hub: StreamHub


def build(common: Common) -> Streams:
    settings = common.settings
    lv = settings.live
    role, replication = common.role, common.replication
    # Each worker spills its own copies; `hlsd serve` empties the folder before they start.
    spill = settings.data_dir / "spill" / (f"w-{role.worker_id}" if role.shared else "")
    hub = StreamHub(window=lv.window, policy=lv.publish_policy, idle_timeout=lv.idle_timeout,
                    retention=lv.retention, max_streams=lv.max_streams,
                    spill=SpillDir(spill),
                    memory_per_variant=lv.memory_per_variant,
                    keep_for=settings.recording.reach_back,
                    on_drop=common.metrics.reader_dropped,
                    replicate=replication.wrap if replication is not None else None)
    return Streams(hub=hub, feature=Feature(
        name="streams",
        routers=[streams_api.router(signer=common.signer, hub=hub,
                                    admin_key=common.admin_key, access=lv.access)],
        # Streams whose publisher went quiet end (ENDLIST); long-ended ones go.
        sweep=[hub.sweep]))
