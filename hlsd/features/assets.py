"""Uploads transcoded to ABR VOD: tus uploads, `/api/assets`, their processing (in this
process, or by `hlsd worker` processes from the Redis queue) and `/vod/…`, `/play/…`."""

from __future__ import annotations

import functools
import math
from pathlib import Path

from hlsd.api import assets as assets_api
from hlsd.api import uploads as uploads_api
from hlsd.api._admin import require_admin
from hlsd.assets.jobs import JobQueue, LocalJobs
from hlsd.assets.playback import ReadyAssets
from hlsd.assets.processor import Processor
from hlsd.assets.queue_redis import JobSettings, RedisJobs
from hlsd.assets.service import AssetService
from hlsd.assets.uploads import UploadStore
from hlsd.assets.worker import processor_config
from hlsd.backends import watch_redis
from hlsd.channels.sources import library_file
from hlsd.db.models import AssetRow
from hlsd.delivery import Mount, TokenGate
from hlsd.delivery import assets as asset_files
from hlsd.features.common import Common
from hlsd.features.feature import Feature, Step
from hlsd.infra.cache import Cache

__all__ = ["build"]


def build(common: Common) -> Feature:
    settings = common.settings
    conf = settings.assets
    jobs: JobQueue
    start: list[Step] = []
    if conf.queue == "redis":
        # `hlsd worker` processes run the jobs; this node only hands them over.
        assert conf.redis_url is not None  # filled in from cluster.redis_url, or refused
        url = conf.redis_url.get_secret_value()
        jobs = redis_jobs = RedisJobs(
            url=url, name=conf.queue_name, max_queued=conf.max_queued,
            jobs=JobSettings(heartbeat=math.ceil(conf.heartbeat), attempts=conf.attempts))
        watch_redis(common.backends, "Redis job queue", url, redis_jobs.ping)
    else:
        jobs = local_jobs = LocalJobs(workers=conf.workers, max_queued=conf.max_queued)
    service = AssetService(
        sessions=common.sessions, store=common.store, jobs=jobs,
        uploads=functools.partial(
            UploadStore, settings.data_dir / "uploads", max_bytes=conf.max_upload,
            max_total_bytes=conf.max_uploads_bytes, max_uploads=conf.max_uploads,
            expire_after=conf.upload_expiry),
        fetcher=common.fetcher.using(common.request_client), policy=common.policy,
        imports=settings.data_dir / "imports", max_bytes=conf.max_upload,
        locate_library=functools.partial(library_file, settings.library_dir),
        remote_jobs=conf.queue == "redis")
    progress: dict[str, float] = {}
    if isinstance(jobs, LocalJobs):
        def report(asset_id: str, fraction: float | None) -> None:
            if fraction is None:
                progress.pop(asset_id, None)
            else:
                progress[asset_id] = fraction

        async def source_here(asset: AssetRow, _folder: Path) -> Path:
            return service.source_path(asset)  # read where it is: no copy

        processor = Processor(sessions=common.sessions, store=common.store,
                              source=source_here, on_progress=report,
                              on_ready=service.ready, config=processor_config(settings))
        start.append(functools.partial(local_jobs.start, processor.run))
    common.metrics.watch_asset_progress(progress)
    # A ready asset's files never change (a new run writes under a new prefix).
    cache: Cache[str, bytes] = common.metrics.caches.for_bytes("assets", conf.playback_cache)
    ready = ReadyAssets(sessions=common.sessions, store=common.store, cache=cache)
    gate = TokenGate(common.signer, caches=common.metrics.caches, name="asset-grants")
    admin_key = common.admin_key
    return Feature(
        name="assets",
        routers=[
            assets_api.router(service=service, admin_key=admin_key,
                              live_progress=progress, signer=common.signer,
                              default_access=conf.access.value),
            uploads_api.router(store=service.uploads,
                               authorize=lambda r: require_admin(r, admin_key))],
        playback=[Mount(asset_files.PREFIX, asset_files.AssetResolver(assets=ready, gate=gate)),
                  Mount(asset_files.PLAY_PREFIX, asset_files.PlayResolver(ready))],
        start=start,
        sweep=[service.uploads.sweep],  # incomplete uploads left idle expire
        recover=[service.uploads.redeliver, service.recover],
        close=[service.close, jobs.close])
