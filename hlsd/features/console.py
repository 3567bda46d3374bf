"""The console's live side: the overview's event stream (`/api/console/events`), with
the node's recent warnings and errors, and live thumbnails
(`/api/streams/{stream}/thumbnail.jpg`). The pages themselves are served with the
service endpoints (`features/service.py`)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

from hlsd.api import console_events
from hlsd.api.service import health_report
from hlsd.api.streams import stream_json
from hlsd.console import Overview, Thumbnails
from hlsd.console.thumbnails import CACHE_BYTES, CACHE_ENTRIES
from hlsd.features.common import Common
from hlsd.features.feature import Feature
from hlsd.infra.recent_log import RecentLog
from hlsd.streams import StreamHub

__all__ = ["build"]


def build(common: Common, *, hub: StreamHub,
          health: Mapping[str, Callable[[], object]]) -> Feature:
    """`health`: the parts ``/api/health`` adds (the edge's link), shown alike."""
    # This app's own ring: installed as the app starts, removed as it stops, so apps
    # built one after another in one process (the tests) never stack handlers.
    recent = RecentLog()
    overview = Overview(
        hub=hub, describe=functools.partial(stream_json, access=common.settings.live.access),
        recent=recent,
        health=functools.partial(health_report, common.backends, health),
        publish_key_required=bool(common.settings.live.publish_keys))
    thumbnails = Thumbnails(
        hub=hub, executor=common.executor,
        cache=common.metrics.caches.for_bytes("console-thumbnails", CACHE_BYTES,
                                              max_entries=CACHE_ENTRIES))
    return Feature(
        name="console",
        routers=[console_events.router(overview=overview, thumbnails=thumbnails,
                                       admin_key=common.admin_key)],
        start=[recent.install], tasks=[overview.run], close=[recent.remove])
