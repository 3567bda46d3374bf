"""Builds the ASGI app from settings. Services are made here and handed to routers;
the lifespan starts and stops what runs in the background."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.types import ASGIApp

from hlsd import __version__
from hlsd.api import (
    assets,
    channels,
    gostreamer,
    ingest,
    livemix,
    livemix_recordings,
    recordings,
    service,
    streams,
    uploads,
    web,
    websocket,
)
from hlsd.api._admin import require_admin
from hlsd.api._openapi_playback import document_playback
from hlsd.api.errors import install_error_handlers
from hlsd.api.ingest import PublishAuth
from hlsd.assets.jobs import JobQueue, LocalJobs
from hlsd.assets.playback import ReadyAssets
from hlsd.assets.processor import Processor
from hlsd.assets.queue_redis import JobSettings, RedisJobs
from hlsd.assets.service import AssetService
from hlsd.assets.uploads import Upload, UploadStore
from hlsd.assets.worker import processor_config
from hlsd.auth.keys import derive_key, load_root_secret
from hlsd.auth.tokens import TokenSigner
from hlsd.backends import DATABASE, watch_database, watch_redis, watch_store
from hlsd.backends import gauge as backend_gauge
from hlsd.channels import ChannelService, Playout, SourceKind
from hlsd.channels.feed import ChannelFeeds
from hlsd.channels.sources import library_file
from hlsd.cluster.registry import Announcer, NoRegistry, RedisRegistry, Registry
from hlsd.cluster.relay import RelayConfig, Relays
from hlsd.config import CONFIG_ENV, PlaybackAccess, Settings, load_settings
from hlsd.db import database_url, make_engine, session_factory
from hlsd.db.models import AssetRow
from hlsd.delivery import Cors, Mount, Playback, TokenGate, hls, live
from hlsd.delivery import assets as asset_files
from hlsd.delivery import recordings as recording_files
from hlsd.infra.admission import Admission
from hlsd.infra.backends import Backends, BackendState
from hlsd.infra.cache import Cache
from hlsd.infra.client_address import ClientAddress, TrustedProxies, parse_networks
from hlsd.infra.folders import prepare_folders
from hlsd.infra.guarded_http import guarded_async_client
from hlsd.infra.limits import ConnectionLimits
from hlsd.infra.outbound import FetchPolicy
from hlsd.ingest.http_push import HttpPushIngest
from hlsd.ingest.livemix import LiveMixIngest
from hlsd.metrics import Metrics
from hlsd.recording import AutoRecorder, Exporter, Recorder, ReplayCatalog
from hlsd.recording.export import TEMP_PATTERN as EXPORT_TEMP_PATTERN
from hlsd.storage import ObjectStore, make_store
from hlsd.streams import Stream, StreamHub
from hlsd.streams.spill import SpillDir
from hlsd.vod.disk_lru import DiskBudget, DiskLRU
from hlsd.vod.fetch import Fetcher, make_client
from hlsd.vod.library import LibraryFiles
from hlsd.vod.memory_lru import MemoryLRU
from hlsd.vod.packager import Package, Packager
from hlsd.vod.sources import RangeSettings, SourceStore
from hlsd.vod.streams import OnDemandStreams
from hlsd.wscdn import CdnConfig, WebsocketCdn

log = logging.getLogger(__name__)

_MAX_SEGMENT_ENTRIES = 200_000
_BACKEND_START_WAIT = 15.0
"""Seconds the start waits for the backends' first answers (a connect timeout or two)."""


@dataclass(kw_only=True)
class Services:
    settings: Settings
    metrics: Metrics
    backends: Backends
    client: httpx.Client
    request_client: httpx.Client
    """For URLs that come from requests (LiveMix prefixes, asset imports): guarded."""
    executor: ThreadPoolExecutor
    sources: DiskLRU
    subtitles: DiskLRU
    segments: DiskLRU
    packager: Packager
    library_packager: Packager
    streams: OnDemandStreams
    hub: StreamHub
    push: HttpPushIngest
    publish_auth: PublishAuth
    signer: TokenSigner
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    livemix: LiveMixIngest
    store: ObjectStore
    recorder: Recorder
    auto_recorder: AutoRecorder
    replays: ReplayCatalog
    exporter: Exporter
    cdn: WebsocketCdn
    registry: Registry
    announcer: Announcer | None
    relays: Relays
    channels: ChannelService
    playout: Playout
    feeds: ChannelFeeds
    channel_client: httpx.AsyncClient
    uploads: UploadStore
    assets: AssetService
    asset_jobs: JobQueue
    asset_progress: dict[str, float]
    asset_cache: Cache[str, bytes]


def build_services(settings: Settings) -> Services:
    prepare_folders(settings.working_folders())  # `hlsd serve` checked them already
    _clean_temp(settings.temp_dir)
    metrics = Metrics()
    backends = Backends(on_change=backend_gauge(metrics))
    killsize = settings.cache.killsize
    sources = DiskLRU(settings.cache_dir / "media", name="sources",
                      max_bytes=settings.cache.size, max_entries=settings.cache.limit)
    subtitles = DiskLRU(settings.cache_dir / "vtt", name="subtitles",
                        max_bytes=settings.cache.limit * settings.upstream.max_vtt_bytes,
                        max_entries=settings.cache.limit)
    segments = DiskLRU(settings.static_dir, name="segments", max_bytes=killsize.static,
                       max_entries=_MAX_SEGMENT_ENTRIES)
    hot = MemoryLRU(name="hot-segments", max_bytes=settings.packager.memory_cache,
                    max_entry=settings.packager.memory_cache // 8)
    temp_budget = DiskBudget("tempdir", killsize.tempdir, enforced=killsize.enabled)
    up = settings.upstream
    client = make_client(connect_timeout=up.connect_timeout, read_timeout=up.read_timeout,
                         max_redirects=up.max_redirects)
    fetcher = Fetcher(client, settings.temp_dir, deadline=up.total_timeout, budget=temp_budget)
    # URLs given in requests reach only what the outbound policy allows; the upstream
    # client above trusts its URLs, which are the operator's (url.*).
    policy = FetchPolicy(settings.fetch.allow)
    request_client = make_client(connect_timeout=up.connect_timeout,
                                 read_timeout=up.read_timeout,
                                 max_redirects=up.max_redirects, policy=policy)
    store = SourceStore(fetcher=fetcher, media_cache=sources, vtt_cache=subtitles,
                        media_prefix=settings.url.media_prefix, vtt_prefix=settings.url.vtt,
                        max_bytes=up.max_bytes, max_vtt_bytes=up.max_vtt_bytes,
                        ranges=RangeSettings(block_size=up.range_block) if up.ranges else None)
    executor = ThreadPoolExecutor(max_workers=settings.packager.threads,
                                  thread_name_prefix="hlsd-media")

    def segment_built(package: Package, seconds: float) -> None:
        mode = "transcode" if package.transcodes else "remux"
        metrics.segments_built.labels(mode).inc()
        metrics.segment_build_seconds.observe(seconds)

    packager = Packager(
        sources=store, segments=segments, hot=hot, executor=executor,
        incoming_dir=settings.static_dir / ".incoming",
        segment_duration=settings.packager.segment_duration,
        read_ahead=settings.packager.read_ahead,
        max_packages=settings.packager.max_open_sources,
        max_builds=settings.packager.threads + 1,
        on_segment_built=segment_built,
    )
    handshake = settings.handshake.get_secret_value() if settings.handshake else None
    token_secret = settings.token_secret.get_secret_value() if settings.token_secret else None
    root_secret = load_root_secret(token_secret, handshake, settings.data_dir)
    signer = TokenSigner(root_secret)
    streams = OnDemandStreams(signer=signer, packager=packager, expiry=settings.cache.expiry,
                              max_id_length=settings.packager.max_id_length)
    lv = settings.live
    hub = StreamHub(window=lv.window, policy=lv.publish_policy, idle_timeout=lv.idle_timeout,
                    retention=lv.retention, max_streams=lv.max_streams,
                    spill=SpillDir(settings.data_dir / "spill"),
                    memory_per_variant=lv.memory_per_variant,
                    keep_for=settings.recording.reach_back)
    push = HttpPushIngest(hub, max_pending_bytes=lv.max_pending_bytes,
                          max_feeds=lv.max_streams,
                          max_streams_per_key=lv.max_streams_per_key,
                          wait_durations=lv.segment_wait_durations,
                          max_awaited=lv.max_awaited_segments, metrics=metrics)
    publish_auth = PublishAuth(tuple(k.get_secret_value() for k in lv.publish_keys),
                               secret=derive_key(root_secret, "publish key fingerprint"))
    configured_db = settings.database_url.get_secret_value() if settings.database_url else None
    db_url = database_url(settings.data_dir, configured_db)
    engine = make_engine(db_url)
    sessions = session_factory(engine, gate=functools.partial(backends.require, DATABASE))
    livemix_ingest = LiveMixIngest(push, client=request_client, policy=policy,
                                   file_roots=settings.livemix.file_roots,
                                   max_segment_bytes=lv.max_segment_bytes)
    rec = settings.recording
    objects = make_store(settings.storage)
    recorder = Recorder(hub=hub, sessions=sessions, store=objects, metrics=metrics,
                        reach_back=rec.reach_back, queue_segments=rec.queue_segments,
                        store_attempts=rec.store_attempts)
    auto_recorder = AutoRecorder(recorder=recorder, hub=hub, sessions=sessions,
                                 patterns=rec.auto)
    replay_cache = MemoryLRU(name="replay", max_bytes=rec.replay_cache,
                             max_entry=max(1, rec.replay_cache // 8))
    ch = settings.channels
    slates = MemoryLRU(name="slates", max_bytes=ch.slate_cache,
                       max_entry=max(1, ch.slate_cache // 8))
    channel_segments = MemoryLRU(name="channel-segments", max_bytes=ch.segment_cache,
                                 max_entry=max(1, ch.segment_cache // 8))
    metrics.watch_caches((sources, subtitles, segments, hot, replay_cache, slates,
                          channel_segments), (temp_budget,))
    channel_client = guarded_async_client(
        policy, timeout=httpx.Timeout(ch.fetch_timeout, connect=up.connect_timeout),
        max_redirects=up.max_redirects)
    library_packager = Packager(
        sources=LibraryFiles(functools.partial(library_file, settings.library_dir)),
        segments=segments, hot=hot, executor=executor,
        incoming_dir=settings.static_dir / ".incoming-library",
        segment_duration=settings.packager.segment_duration,
        read_ahead=settings.packager.read_ahead,
        max_packages=settings.packager.max_open_sources,
        max_builds=settings.packager.threads + 1, on_segment_built=segment_built)
    packagers = {SourceKind.FILE: library_packager}
    if settings.url.media_prefix:
        packagers[SourceKind.UPSTREAM] = packager
    channel_service = ChannelService(
        sessions=sessions, library=settings.library_dir, client=channel_client,
        policy=policy, store=objects, packagers=packagers, window=ch.window,
        max_channels=ch.max_channels, max_items=ch.max_items,
        max_playlist_bytes=ch.max_playlist_bytes, refresh=ch.refresh)
    playout = Playout(service=channel_service, library=settings.library_dir,
                      packagers=packagers,
                      client=channel_client, store=objects, served=channel_segments,
                      slates=slates,
                      refresh=ch.refresh, max_compiled=ch.max_channels,
                      max_segment_bytes=ch.max_segment_bytes)
    replays = ReplayCatalog(sessions=sessions, store=objects, cache=replay_cache,
                            prefetch=rec.prefetch)
    recorder.committed = replays.changed
    exporter = Exporter(catalog=replays, temp_dir=settings.temp_dir, executor=executor,
                        max_bytes=rec.max_export_bytes)
    feeds = ChannelFeeds(hub=hub, playout=playout,
                         wanted=lambda s: s.readers > 0 or recorder.records(s.name))
    recorder.on_demand = feeds.find
    cdn, registry, announcer, relays = _websocket_cdn(settings, hub, metrics, feeds)
    uploads, assets, asset_jobs, asset_progress, asset_cache = _assets(
        settings, sessions, objects, fetcher.using(request_client), policy, metrics)
    watch_database(backends, engine, db_url, recover=[
        recorder.open, auto_recorder.open, uploads.redeliver, assets.recover,
        functools.partial(_resume_channel_recordings, recorder, hub, feeds)])
    watch_store(backends, objects)
    if isinstance(registry, RedisRegistry):
        assert settings.cluster.redis_url is not None
        watch_redis(backends, "Redis registry", settings.cluster.redis_url.get_secret_value(),
                    registry.ping)
    if isinstance(asset_jobs, RedisJobs):
        assert settings.assets.redis_url is not None
        watch_redis(backends, "Redis job queue", settings.assets.redis_url.get_secret_value(),
                    asset_jobs.ping)
    return Services(settings=settings, metrics=metrics, backends=backends, client=client,
                    request_client=request_client, executor=executor,
                    hub=hub, push=push, publish_auth=publish_auth, signer=signer,
                    engine=engine,
                    sessions=sessions, livemix=livemix_ingest,
                    sources=sources, subtitles=subtitles, segments=segments,
                    packager=packager, library_packager=library_packager, streams=streams,
                    store=objects, recorder=recorder,
                    auto_recorder=auto_recorder, replays=replays, exporter=exporter, cdn=cdn,
                    registry=registry, announcer=announcer, relays=relays,
                    channels=channel_service, playout=playout, feeds=feeds,
                    channel_client=channel_client, uploads=uploads, assets=assets,
                    asset_jobs=asset_jobs, asset_progress=asset_progress,
                    asset_cache=asset_cache)


def _assets(settings: Settings, sessions: async_sessionmaker[AsyncSession],
            store: ObjectStore, fetcher: Fetcher, policy: FetchPolicy, metrics: Metrics,
            ) -> tuple[UploadStore, AssetService, JobQueue, dict[str, float],
                       Cache[str, bytes]]:
    """Uploads, the asset service and its job queue: in this process, or (the redis
    queue) `hlsd worker` processes, to which this node only hands jobs."""
    conf = settings.assets
    progress: dict[str, float] = {}

    def report(asset_id: str, fraction: float | None) -> None:
        if fraction is None:
            progress.pop(asset_id, None)
        else:
            progress[asset_id] = fraction

    holder: list[AssetService] = []

    async def uploaded(upload: Upload, path: Path) -> None:
        await holder[0].upload_complete(upload, path)

    uploads = UploadStore(settings.data_dir / "uploads", max_bytes=conf.max_upload,
                          max_total_bytes=conf.max_uploads_bytes,
                          max_uploads=conf.max_uploads, expire_after=conf.upload_expiry,
                          on_complete=uploaded)
    processor_box: list[Processor] = []
    jobs: JobQueue
    if conf.queue == "redis":
        assert conf.redis_url is not None  # filled in from cluster.redis_url, or refused
        jobs = RedisJobs(url=conf.redis_url.get_secret_value(), name=conf.queue_name,
                         max_queued=conf.max_queued,
                         jobs=JobSettings(heartbeat=math.ceil(conf.heartbeat),
                                          attempts=conf.attempts))
    else:
        jobs = LocalJobs(process=lambda asset_id: processor_box[0].run(asset_id),
                         workers=conf.workers, max_queued=conf.max_queued)
    service = AssetService(sessions=sessions, store=store, uploads=uploads, jobs=jobs,
                           fetcher=fetcher, policy=policy,
                           imports=settings.data_dir / "imports",
                           max_bytes=conf.max_upload,
                           locate_library=functools.partial(library_file,
                                                            settings.library_dir),
                           remote_jobs=conf.queue == "redis")
    holder.append(service)

    async def source_here(asset: AssetRow, _folder: Path) -> Path:
        return service.source_path(asset)  # read where it is: no copy

    if isinstance(jobs, LocalJobs):
        processor_box.append(Processor(
            sessions=sessions, store=store, source=source_here, on_progress=report,
            on_ready=service.ready, config=processor_config(settings)))
    metrics.watch_asset_progress(progress)
    cache: Cache[str, bytes] = Cache("assets", max_entries=100_000, size=len,
                                     max_bytes=conf.playback_cache,
                                     max_entry=max(1, conf.playback_cache // 8))
    return uploads, service, jobs, progress, cache


def _websocket_cdn(settings: Settings, hub: StreamHub, metrics: Metrics, feeds: ChannelFeeds,
                   ) -> tuple[WebsocketCdn, Registry, Announcer | None, Relays]:
    """The websocket endpoint, the publish registry and the relays between nodes. A
    stream this node does not publish is a channel of its own, else a relay's."""
    ws, cl = settings.websocket, settings.cluster
    own_url = cl.external_url or f"ws://{settings.host}:{settings.port}{ws.path}"
    node_id = cl.node_id or uuid.uuid4().hex[:12]
    registry: Registry = NoRegistry()
    announcer = None
    if cl.redis_url is not None:
        registry = RedisRegistry(cl.redis_url.get_secret_value(), prefix=cl.registry_prefix,
                                 ttl=2 * cl.refresh_interval)
        announcer = Announcer(hub=hub, registry=registry, url=own_url,
                              refresh=cl.refresh_interval)
    pull_secret = ws.pull_secret.get_secret_value() if ws.pull_secret else None
    relays = Relays(hub=hub, registry=registry, metrics=metrics, config=RelayConfig(
        own_url=own_url, node_id=node_id, relay_from=cl.relay_from, pull_secret=pull_secret,
        inactivity=cl.relay_inactivity, connect_timeout=cl.relay_connect_timeout,
        max_binary_message=ws.max_binary_message, heartbeat=ws.heartbeat))
    async def find(stream_id: str, via: tuple[str, ...]) -> Stream | None:
        fed = await feeds.find(stream_id)
        return fed if fed is not None else await relays.find(stream_id, via)

    cdn = WebsocketCdn(hub=hub, metrics=metrics, node_id=node_id, relay=find,
                       config=CdnConfig(
        push_secret=ws.push_secret.get_secret_value() if ws.push_secret else None,
        pull_secret=pull_secret,
        fragment_buffer=ws.fragment_buffer, max_initial_fragments=ws.max_initial_fragments,
        max_binary_message=ws.max_binary_message, heartbeat=ws.heartbeat,
        first_message_timeout=ws.first_message_timeout, write_timeout=ws.write_timeout,
        slow_spectators=ws.slow_spectators, max_connections_per_ip=ws.max_connections_per_ip,
        connects_per_second=ws.connects_per_second, connect_burst=ws.connect_burst,
        rate_limit_exempt=ws.rate_limit_exempt))
    return cdn, registry, announcer, relays


def create_app(settings: Settings) -> ASGIApp:
    services = build_services(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.asset_jobs.start()
        # A backend that does not answer is no reason not to serve: the rest is served,
        # and it is retried until it answers (then its start-up steps run).
        await services.backends.start(wait=_BACKEND_START_WAIT)
        janitor = asyncio.create_task(_janitor(services), name="hlsd-janitor")
        sweeper = asyncio.create_task(_sweep_streams(services), name="hlsd-streams")
        background = [janitor, sweeper]
        if services.announcer is not None:
            background.append(asyncio.create_task(services.announcer.run(),
                                                  name="hlsd-registry"))
        missing = [b.name for b in services.backends.all if b.state is not BackendState.UP]
        log.info("hlsd %s ready; data in %s%s", __version__, settings.data_dir.resolve(),
                 f"; serving without: {', '.join(missing)} (retried)" if missing else "")
        try:
            yield
        finally:
            await services.backends.close()
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await services.relays.close()
            await services.feeds.close()
            await services.assets.close()
            await services.asset_jobs.close()
            if services.announcer is not None:
                await services.announcer.close()
            await services.registry.close()
            await services.auto_recorder.close()
            await services.recorder.close()
            await services.replays.close()
            await services.store.close()
            await services.packager.close()
            await services.library_packager.close()
            services.client.close()
            services.request_client.close()
            await services.channel_client.aclose()
            await services.engine.dispose()
            services.executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="hlsd", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    install_error_handlers(app, services.backends)
    handshake = settings.handshake.get_secret_value() if settings.handshake else None
    admin_key = settings.admin_key.get_secret_value() if settings.admin_key else None
    publish_auth = services.publish_auth
    source_names = livemix.SourceNames(services.sessions)
    vendor = web.locate_vendor()
    routers = [
        service.router(metrics=services.metrics, admin_key=admin_key,
                       backends=services.backends),
        gostreamer.router(streams=services.streams, handshake=handshake,
                          default_expiry=settings.cache.expiry, metrics=services.metrics),
        streams.router(signer=services.signer, hub=services.hub, admin_key=admin_key),
        ingest.router(ingest=services.push, authorize=publish_auth,
                      max_body=settings.live.max_segment_bytes),
        livemix.router(sessions=services.sessions, names=source_names,
                       ingest=services.livemix, authorize=publish_auth, admin_key=admin_key),
        livemix_recordings.router(recorder=services.recorder, sessions=services.sessions,
                                  admin_key=admin_key),
        recordings.router(recorder=services.recorder, sessions=services.sessions,
                          signer=services.signer, admin_key=admin_key),
        channels.router(service=services.channels, playout=services.playout,
                        admin_key=admin_key),
        assets.router(service=services.assets, sessions=services.sessions,
                      admin_key=admin_key, live_progress=services.asset_progress,
                      signer=services.signer, default_access=settings.assets.access.value),
        uploads.router(store=services.uploads, authorize=lambda r: require_admin(r, admin_key)),
        websocket.router(cdn=services.cdn, path=settings.websocket.path),
        web.router(ws_path=settings.websocket.path, vendor=vendor),
        web.docs_router(title=app.title, openapi_url=app.openapi_url or "/openapi.json",
                        vendor=vendor),
    ]
    for router in routers:
        app.include_router(router)
    document_playback(app)  # the playback paths below, in /openapi.json
    signer = services.signer
    live_files = live.LiveResolver(hub=services.hub, channels=services.playout, gate=(
        TokenGate(signer) if settings.live.access is PlaybackAccess.TOKEN else None))
    recorded = recording_files.RecordingResolver(
        catalog=services.replays, exporter=services.exporter,
        gate=(TokenGate(signer) if settings.recording.access is PlaybackAccess.TOKEN
              else None))
    ready = ReadyAssets(sessions=services.sessions, store=services.store,
                        cache=services.asset_cache)
    playback = Playback(app, backends=services.backends, cors=Cors(
        settings.cors.allow_origins, max_age=settings.cors.max_age,
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        request_headers=["x-gostreamer-token", "authorization", "content-type", "range",
                         "if-range", *uploads.TUS_REQUEST_HEADERS],
        exposed=["content-length", "content-range", "etag", "location",
                 *uploads.TUS_RESPONSE_HEADERS]), mounts=[
        Mount(hls.PREFIX, hls.HlsResolver(streams=services.streams,
                                          packager=services.packager,
                                          metrics=services.metrics)),
        Mount(live.PREFIX, live_files),
        Mount(asset_files.PREFIX, asset_files.AssetResolver(assets=ready,
                                                            gate=TokenGate(signer))),
        Mount(asset_files.PLAY_PREFIX, asset_files.PlayResolver(ready)),
        Mount(live.LIVEMIX_PREFIX, live.LiveMixLiveResolver(live=live_files,
                                                            names=source_names)),
        Mount(recording_files.PREFIX, recorded),
        Mount(recording_files.LIVEMIX_PREFIX,
              recording_files.LiveMixRecordingResolver(recorded)),
    ])
    proxies = TrustedProxies(parse_networks(settings.trusted_proxies, what="trusted_proxies"))
    limits = ConnectionLimits(max_open=settings.http.max_requests_per_ip, per_second=0,
                              burst=0, exempt=settings.http.limit_exempt)
    return ClientAddress(Admission(playback, limits=limits,
                                   body_timeout=settings.http.body_timeout,
                                   setting="http.max_requests_per_ip"), proxies)


def app_from_environment() -> ASGIApp:
    """The factory each server process calls: settings from ``HLSD_CONFIG`` and env."""
    config = os.environ.get(CONFIG_ENV)
    return create_app(load_settings(Path(config) if config else None))


async def _janitor(services: Services) -> None:
    """Expire idle sources, segments and packages (``cache.expiry``)."""
    expiry = services.settings.cache.expiry
    while True:
        await asyncio.sleep(min(60.0, max(1.0, expiry / 4)))
        try:
            gone = sum(cache.expire(expiry) for cache in (
                services.segments, services.sources, services.subtitles))
            gone += services.packager.expire(expiry) + services.library_packager.expire(expiry)
            gone += services.uploads.sweep()
            if gone:
                log.info("expired %d idle cache entries", gone)
        except OSError:
            log.exception("cache expiry failed")


async def _sweep_streams(services: Services) -> None:
    """End live streams whose publisher went quiet (ENDLIST), drop long-ended ones and
    what was pushed for them, and stop their automatic recordings."""
    while True:
        await asyncio.sleep(1.0)
        services.hub.sweep()
        services.push.sweep()
        services.auto_recorder.sweep()
        services.relays.sweep()
        services.feeds.sweep()


async def _resume_channel_recordings(recorder: Recorder, hub: StreamHub,
                                     feeds: ChannelFeeds) -> None:
    """A recording of a channel carries on after a restart: the channel is fed into the
    hub again (it is fed only while something reads it)."""
    for stream in recorder.streams():
        if hub.get(stream) is None:
            await feeds.find(stream)


def _clean_temp(temp_dir: Path) -> None:
    """Downloads cut off by a crash are debris: nothing leaks in the temp dir."""
    for pattern in ("fetch-*.part", EXPORT_TEMP_PATTERN):
        for debris in temp_dir.glob(pattern):
            debris.unlink(missing_ok=True)
