"""Builds the ASGI app from settings: the features, in the order each needs the one
before, their routes and hot paths; the lifespan starts and stops what they run."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from fastapi import FastAPI
from starlette.types import ASGIApp

from hlsd import __version__
from hlsd.api import uploads
from hlsd.api._openapi_playback import document_playback
from hlsd.api.errors import install_error_handlers
from hlsd.backends import watch_database
from hlsd.config import CONFIG_ENV, Settings, load_settings
from hlsd.delivery import Cors, Playback
from hlsd.features import (
    assets,
    channels,
    cluster,
    console,
    edge,
    edge_control,
    live,
    ondemand,
    recording,
    service,
    streams,
)
from hlsd.features.common import Common, build_common
from hlsd.features.feature import Feature, close_all, start_all
from hlsd.infra.admission import Admission
from hlsd.infra.backends import BackendState
from hlsd.infra.client_address import ClientAddress, TrustedProxies, parse_networks
from hlsd.infra.limits import ConnectionLimits
from hlsd.node import Siblings, ToLeader

__all__ = ["app_from_environment", "build_features", "create_app"]

log = logging.getLogger(__name__)

_BACKEND_START_WAIT = 15.0
"""Seconds the start waits for the backends' first answers (a connect timeout or two)."""
_TITLE = "hlsd"
_OPENAPI_URL = "/openapi.json"


def build_features(settings: Settings) -> tuple[Common, list[Feature], Siblings | None]:
    """Every feature, built in order: each takes what it needs from those before it;
    with several workers, the links that make their hubs one (`hlsd.node`)."""
    common, core = build_common(settings)
    on_demand = ondemand.build(common)
    hub = streams.build(common)
    siblings = (Siblings(role=common.role, hub=hub.hub, replication=common.replication)
                if common.replication is not None else None)
    programs = channels.build(common, hub=hub.hub, packagers=on_demand.packagers)
    nodes = cluster.build(common, hub=hub.hub, feeds=programs.feeds)
    live_streams = live.build(common, hub=hub.hub, playout=programs.playout,
                              resolver=nodes.resolver)
    recordings = recording.build(common, hub=hub.hub, resolver=nodes.resolver,
                                 sources=live_streams.sources)
    links = edge_control.build(common, hub=hub.hub, sources=live_streams.sources,
                        recorder=recordings.recorder)
    features = [core, on_demand.feature, hub.feature, programs.feature, nodes.feature,
                live_streams.feature, recordings.feature, links, assets.build(common)]
    health: dict[str, Callable[[], object]] = {}
    if siblings is not None:
        health["node"] = siblings.health
    if settings.edge.enabled:
        an_edge = edge.build(common, hub=hub.hub)
        features.append(an_edge.feature)
        health["edge"] = an_edge.service.health
    features.append(service.build(common, title=_TITLE, openapi_url=_OPENAPI_URL,
                                  health=health))
    # Started second, so the overview's recent errors hold what any later start logs.
    features.insert(1, console.build(common, hub=hub.hub, health=health))
    watch_database(common.backends, common.database.engine, common.database.url,
                   recover=[step for feature in features for step in feature.recover])
    return common, features, siblings


def create_app(settings: Settings) -> ASGIApp:
    common, features, siblings = build_features(settings)
    backends = common.backends
    to_leader: ToLeader | None = None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A backend that does not answer is no reason not to serve: the rest is served,
        # and it is retried until it answers (then its start-up steps run).
        tasks = await start_all(features)
        if siblings is not None and to_leader is not None:
            await siblings.start(to_leader.answer)  # the others' streams, before serving
        await backends.start(wait=_BACKEND_START_WAIT)
        missing = [b.name for b in backends.all if b.state is not BackendState.UP]
        log.info("hlsd %s ready; data in %s%s", __version__, settings.data_dir.resolve(),
                 f"; serving without: {', '.join(missing)} (retried)" if missing else "")
        try:
            yield
        finally:
            await backends.close()
            if siblings is not None:
                await siblings.close()
            await close_all(features, tasks)

    app = FastAPI(title=_TITLE, version=__version__, lifespan=lifespan,
                  openapi_url=_OPENAPI_URL, docs_url=None, redoc_url=None)
    install_error_handlers(app, backends)
    for feature in features:
        for router in feature.routers:
            app.include_router(router)
    document_playback(app)  # the playback paths below, in /openapi.json
    cors = Cors(settings.cors.allow_origins, max_age=settings.cors.max_age,
                methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                request_headers=["x-gostreamer-token", "authorization", "content-type",
                                 "range", "if-range", *uploads.TUS_REQUEST_HEADERS],
                exposed=["content-length", "content-range", "etag", "location",
                         *uploads.TUS_RESPONSE_HEADERS])
    caches = common.metrics.caches
    # The playback paths are answered before the framework (which the same CORS wraps).
    playback = Playback(app, mounts=[mount for feature in features for mount in feature.playback],
                        cors=cors, backends=backends, caches=caches)
    proxies = TrustedProxies(parse_networks(settings.trusted_proxies, what="trusted_proxies"))
    limits = ConnectionLimits(max_open=settings.http.max_requests_per_ip, per_second=0,
                              burst=0, exempt=settings.http.limit_exempt)
    # Inside admission, which the worker that takes a request applies once.
    to_leader = ToLeader(playback, siblings=siblings, leader=common.role.leader,
                         max_body=settings.live.max_segment_bytes)
    return ClientAddress(Admission(
        to_leader, limits=limits,
        body_timeout=settings.http.body_timeout, setting="http.max_requests_per_ip",
        caches=caches), proxies, caches=caches)


def app_from_environment() -> ASGIApp:
    """The factory each server process calls: settings from ``HLSD_CONFIG`` and env."""
    config = os.environ.get(CONFIG_ENV)
    return create_app(load_settings(Path(config) if config else None))
