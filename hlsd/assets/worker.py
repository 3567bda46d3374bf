"""``hlsd worker``: takes asset jobs from the Redis queue (``assets.queue: redis``) and
runs them, `concurrency` at once, until SIGTERM or SIGINT.

A worker builds only what a run needs, from the same config as the API nodes: the
database, the object store (each source comes from it, the outputs go to it; see
`staging`) and ffmpeg; no HTTP. On SIGTERM or SIGINT the runs under way are cancelled
(ffmpeg stopped, their debris removed) and their jobs go back to the queue, for this or
another worker; a worker that dies instead has its jobs retried once their heartbeat
lapses (`queue_redis`). Either way the retried run takes the asset over as its next
attempt (`Processor.run` with ``takeover``).

    hlsd worker --config hls.yaml [--concurrency N]
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from pathlib import Path

from redis.exceptions import RedisError
from saq import Job, Worker
from saq.types import Context
from sqlalchemy.exc import SQLAlchemyError

from hlsd.assets import staging
from hlsd.assets.ladder import DEFAULT_LADDER, Rung
from hlsd.assets.processor import Processor, ProcessorConfig
from hlsd.assets.queue_redis import DEQUEUE_WAIT, JOB, AssetQueue, JobSettings
from hlsd.config import Settings
from hlsd.db import init_schema, open_database, session_factory
from hlsd.db.models import AssetRow
from hlsd.storage import ObjectStore, StorageError, make_store

__all__ = ["processor_config", "run_worker"]

log = logging.getLogger(__name__)

_STOP_GRACE = 15.0
"""Seconds a stopping worker gives each run to end (ffmpeg's own grace is 3 s) before it
leaves; a run cut off then is retried as a dead worker's."""


def processor_config(settings: Settings) -> ProcessorConfig:
    """How runs are made (the ladder, segments, scratch space), for a node or a worker."""
    conf = settings.assets
    ladder = DEFAULT_LADDER if conf.ladder is None else tuple(
        Rung(name=r.name, height=r.height, video_bitrate=r.video_bitrate,
             audio_bitrate=r.audio_bitrate) for r in conf.ladder)
    return ProcessorConfig(ladder=ladder, segment_seconds=conf.segment_duration,
                           scratch=settings.data_dir / "transcode")


def run_worker(settings: Settings, *, concurrency: int) -> int:
    """Run jobs until SIGTERM or SIGINT; the exit code (0 after a clean stop, 1 if the
    database or Redis could not be reached at the start, 2 if not configured for it)."""
    if settings.assets.queue != "redis" or settings.assets.redis_url is None:
        log.error("hlsd worker takes jobs from the Redis queue: set assets.queue: redis "
                  "(and assets.redis_url or cluster.redis_url)")
        return 2
    if concurrency < 1:
        log.error("a worker runs at least one job at a time")
        return 2
    try:
        asyncio.run(_work(settings, concurrency))
    except (RedisError, SQLAlchemyError, OSError) as exc:
        log.error("hlsd worker stopped: %s", exc)
        return 1
    return 0


async def _work(settings: Settings, concurrency: int) -> None:
    conf = settings.assets
    assert conf.redis_url is not None
    engine = open_database(settings.data_dir, settings.database_url.get_secret_value()
                           if settings.database_url else None).engine
    store = make_store(settings.storage)
    jobs = JobSettings(heartbeat=math.ceil(conf.heartbeat), attempts=conf.attempts)

    async def fetch_source(asset: AssetRow, folder: Path) -> Path:
        return await staging.fetch(store, asset.id, folder)

    processor = Processor(sessions=session_factory(engine), store=store,
                          config=processor_config(settings), source=fetch_source,
                          on_ready=lambda asset: _drop_source(store, asset))

    async def given_up(asset_id: str) -> None:
        await processor.abandon(asset_id, "the workers running it died or stopped responding "
                                          f"({jobs.attempts} attempts, assets.attempts)")

    queue = AssetQueue.connect_to(conf.redis_url.get_secret_value(), name=conf.queue_name,
                                  on_given_up=given_up)

    async def process(ctx: Context, *, asset_id: str) -> None:
        job = ctx["job"]
        touch = asyncio.create_task(_touch(job, jobs.touch_every))
        try:
            # A job's later attempt follows a run cut off (dead or stopped worker).
            await processor.run(asset_id, takeover=job.attempts > 1)
        except Exception as exc:
            if not job.retryable:  # saq fails the job for good: the asset with it
                await processor.abandon(asset_id, f"processing failed: {exc}")
            raise
        finally:
            touch.cancel()
            await asyncio.gather(touch, return_exceptions=True)

    worker: Worker[Context] = Worker(
        queue, functions=[(JOB, process)], concurrency=concurrency,
        timers={"sweep": jobs.sweep_every, "abort": 1, "schedule": 1, "worker_info": 10},
        dequeue_timeout=DEQUEUE_WAIT, cancellation_hard_deadline_s=_STOP_GRACE)
    try:
        await init_schema(engine)
        await queue.connect()
        log.info("hlsd worker: %d job(s) at a time from %s", concurrency, conf.queue_name)
        await worker.start()  # until SIGTERM or SIGINT (saq's handlers)
    finally:
        with contextlib.suppress(RedisError):
            await queue.disconnect()
        await store.close()
        await engine.dispose()


async def _touch(job: Job, every: float) -> None:
    """The job's heartbeat: while it is touched, no sweep takes it for a dead worker's."""
    while True:
        await asyncio.sleep(every)
        try:
            await job.update()
        except RedisError as exc:  # Redis away for a moment: the next touch may do
            log.warning("job %s: heartbeat not recorded: %s", job.key, exc)


async def _drop_source(store: ObjectStore, asset: AssetRow) -> None:
    """The ladder is published: the staged source has served its purpose."""
    try:
        await staging.discard(store, asset.id)
    except StorageError as exc:
        log.warning("asset %s: its source stays in the store: %s", asset.id, exc)
