"""The edge (``hlsd edge``): the segment cache fed by the hub and the link to the
control (``edge.control``), with its state in ``/api/health``."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from hlsd.edge import EdgeService, LinkConfig
from hlsd.features.common import Common
from hlsd.features.feature import Feature
from hlsd.streams import StreamHub

__all__ = ["Edge", "build"]


@dataclass(frozen=True, kw_only=True)
class Edge:
    feature: Feature
    service: EdgeService


def build(common: Common, *, hub: StreamHub) -> Edge:
    settings = common.settings
    edge = settings.edge
    assert edge.control is not None and edge.key is not None  # `EdgeSettings` checks it
    service = EdgeService(
        hub=hub, folder=settings.data_dir / "edge", cache_bytes=edge.cache_bytes,
        cache_seconds=edge.cache_seconds, metrics=common.metrics,
        link=LinkConfig(control=edge.control, key=edge.key.get_secret_value(),
                        name=edge.name or socket.gethostname()[:64] or "edge"))
    common.metrics.caches.add(service.cache)
    return Edge(service=service, feature=Feature(
        name="edge", start=[service.start],
        tasks=[service.follow_hub, service.hold_link, service.save_recordings,
               service.sweep_forever],
        close=[service.close]))
