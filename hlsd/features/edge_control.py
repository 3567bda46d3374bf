"""The control's end of edge links (``livemix.edge_keys``, ``/v1/edge``): built after the
recorder, which stores what edges send for recordings, and LiveMix's sources, whose
changes edges are told of."""

from __future__ import annotations

import socket

from hlsd.api import edge
from hlsd.auth.keys import derive_key
from hlsd.cluster.control import EdgeControl, EdgeKeys, Services
from hlsd.features.common import Common
from hlsd.features.feature import Feature
from hlsd.ingest.livemix_sources import LiveMixSources
from hlsd.recording import Recorder
from hlsd.streams import StreamHub

__all__ = ["build"]


def build(common: Common, *, hub: StreamHub, sources: LiveMixSources,
          recorder: Recorder) -> Feature:
    settings = common.settings
    lm = settings.livemix
    keys = EdgeKeys(tuple(k.get_secret_value() for k in lm.edge_keys),
                    secret=derive_key(common.root_secret, "edge key fingerprint"))
    control = EdgeControl(
        services=Services(hub=hub, sessions=common.sessions, recorder=recorder,
                          metrics=common.metrics,
                          node=settings.cluster.node_id or socket.gethostname(),
                          report_interval=lm.report_interval,
                          max_segment=lm.max_edge_segment),
        sources=sources, keys=keys, max_edges=lm.max_edges)
    return Feature(name="edges", routers=[edge.router(control=control)],
                   tasks=[control.run], close=[control.close])
