"""The shared job queue (`assets.queue: redis`): API nodes enqueue asset ids in Redis,
and any number of ``hlsd worker`` processes, on any machine, take them (`worker.py`).

The queue library is saq. What decided it is what happens to the job of a worker that
dies (SIGKILL, OOM, a lost machine) mid-transcode, when transcodes may rightly take hours:

- saq: each job carries its own ``heartbeat``: the worker touches the job while it runs,
  and a sweep (run by whichever worker takes the sweep lock, every `sweep_every`
  seconds) aborts and retries any active job untouched for longer. With the job's
  ``timeout`` off (0), nothing caps a long transcode, yet a dead worker's job is retried
  within about ``heartbeat`` + a sweep + saq's abort wait (`_ABORT_WAIT`): under a
  minute by default (``assets.heartbeat: 30s``). It is asyncio-native and typed, as hlsd
  is; a cancel is an abort the running worker acts on within a second; a worker stopped
  by SIGTERM puts its job back; and its only dependency beyond redis-py is croniter.
- arq: a dead worker's job comes back only when its in-progress key expires, which is the
  job timeout (+10 s). Retrying within a minute would cap every transcode at a minute.
- taskiq-redis: its stream broker redelivers a message idle for ``idle_timeout`` (10 min
  by default), and also a live worker's, once a job outlasts it: the same trade-off.
- dramatiq: workers heartbeat, but a dead one's messages are requeued by a maintenance
  pass that runs by chance (about one command in a thousand); actors are synchronous
  threads; and the broker is a process-wide global, set at import time.

Jobs are keyed by asset id, so an asset has one job at a time (queueing it again while
it waits is a no-op). `RedisJobs` is what an API node uses; `AssetQueue` is the queue
both sides build, with a hook for when saq gives a job up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis import asyncio as aioredis
from redis.exceptions import RedisError
from saq.job import Job, Status
from saq.queue.redis import RedisQueue

from hlsd.assets.jobs import QueueFull, QueueUnavailable

__all__ = ["DEQUEUE_WAIT", "JOB", "SWEPT", "AssetQueue", "JobSettings", "RedisJobs"]

log = logging.getLogger(__name__)

JOB = "hlsd.process_asset"
"""The saq function name a worker registers; its one argument is ``asset_id``."""
SWEPT = "the worker running it stopped responding"
"""saq's error for a job its sweep took from a silent worker."""
_ABORT_WAIT = 3.0
"""Seconds a sweep waits for a silent worker to acknowledge the abort before it retries
the job (a live worker checks for aborts every second)."""
_KEEP_FINISHED = 3600
"""Seconds saq keeps a finished job's record."""
_ENDING = 8.0
"""Seconds `submit` waits for the asset's previous job to end, or to let go of its key
(saq refuses an aborted job's key for 5 s)."""
_REDIS_PAUSE = 1.0
"""Seconds a worker waits before asking an unreachable Redis for a job again."""
_SOCKET_TIMEOUT = 10.0
"""Seconds any Redis reply may take (so a dead connection is noticed)."""
DEQUEUE_WAIT = 2.0
"""Seconds a worker's blocking wait for a job lasts before it asks again: well under
`_SOCKET_TIMEOUT`, which would otherwise cut an idle wait off as an error."""


@dataclass(frozen=True, kw_only=True, slots=True)
class JobSettings:
    heartbeat: int
    """Seconds a running job may go untouched before it counts as its worker's death."""
    attempts: int
    """Runs a job may start in all (each dead or stopped worker costs one)."""

    @property
    def touch_every(self) -> float:
        """How often a worker touches a running job: thrice per heartbeat."""
        return max(0.5, self.heartbeat / 3)

    @property
    def sweep_every(self) -> int:
        """How often stale jobs are swept (by one worker: the sweep takes a lock)."""
        return max(1, round(self.heartbeat / 3))


class AssetQueue(RedisQueue):
    """saq's Redis queue; `on_given_up(asset_id)` runs when a sweep finishes a job for
    good instead of retrying it (its attempts are spent): no run will end it then."""

    def __init__(self, redis: aioredis.Redis, *, name: str,
                 on_given_up: Callable[[str], Awaitable[None]] | None = None) -> None:
        super().__init__(redis, name=name, swept_error_message=SWEPT)
        self._on_given_up = on_given_up

    @classmethod
    def connect_to(cls, url: str, *, name: str,
                   on_given_up: Callable[[str], Awaitable[None]] | None = None) -> AssetQueue:
        return cls(aioredis.from_url(url, socket_timeout=_SOCKET_TIMEOUT,
                                     socket_connect_timeout=_SOCKET_TIMEOUT),
                   name=name, on_given_up=on_given_up)

    async def dequeue(self, timeout: float = 0.0, poll_interval: float = 0.0) -> Job | None:
        # saq asks again at once when a dequeue fails: paced, so an outage is no busy loop.
        try:
            return await super().dequeue(timeout, poll_interval)
        except RedisError as exc:
            log.warning("the job queue (Redis) is unavailable: %s", exc)
            await asyncio.sleep(_REDIS_PAUSE)
            return None

    async def sweep(self, lock: int = 60, abort: float = _ABORT_WAIT) -> list[str]:
        swept = await super().sweep(lock, abort=abort)
        if self._on_given_up is not None:
            for job_id in swept:
                key = self.job_key_from_id(job_id)
                job = await self.job(key)
                if job is not None and job.status is Status.ABORTED and job.error == SWEPT:
                    await self._on_given_up(key)
        return swept


class RedisJobs:
    """The `JobQueue` of an API node with workers elsewhere: it only enqueues (and
    aborts); it runs no job itself."""

    def __init__(self, *, url: str, name: str, max_queued: int, jobs: JobSettings) -> None:
        self._queue = AssetQueue.connect_to(url, name=name)
        self._max_queued = max_queued
        self._jobs = jobs
        self._queued = 0
        self._connected = False

    @property
    def running(self) -> tuple[str, ...]:
        return ()

    @property
    def queued(self) -> int:
        return self._queued

    async def ping(self) -> None:
        await self._queue.redis.ping()

    async def submit(self, asset_id: str) -> None:
        try:
            await self._connect()
            self._queued = await self._queue.count("queued")
            if self._queued >= self._max_queued:
                raise QueueFull(f"{self._queued} assets are already waiting to be processed "
                                "(assets.max_queued)")
            deadline = time.monotonic() + _ENDING
            while not await self._enqueue(asset_id):
                # The asset has a job already: a waiting one runs it as queued; one under
                # way is ending (a retry queued the asset its run just failed), or one just
                # given up holds the key a few seconds. This one goes in after it.
                job = await self._queue.job(asset_id)
                if job is not None and job.status is Status.QUEUED:
                    return
                if time.monotonic() >= deadline:
                    raise QueueUnavailable("the asset's previous job has not ended yet; "
                                           "retry later")
                await asyncio.sleep(0.2)
        except RedisError as exc:
            raise QueueUnavailable(f"the job queue (Redis) is unavailable: {exc}") from exc

    async def cancel(self, asset_id: str) -> bool:
        """Abort the asset's job: dropped if it waits, stopped within a second if it runs
        (its worker also notices the asset's state, should this not reach it)."""
        try:
            await self._connect()
            job = await self._queue.job(asset_id)
            if job is None or job.status not in (Status.QUEUED, Status.ACTIVE):
                return False
            await self._queue.abort(job, "cancelled")
        except RedisError as exc:
            log.warning("asset %s: its job could not be aborted: %s", asset_id, exc)
            return False
        return True

    async def close(self) -> None:
        try:
            await self._queue.disconnect()
        except RedisError as exc:
            log.warning("the job queue did not close cleanly: %s", exc)

    async def _connect(self) -> None:
        if not self._connected:
            await self._queue.connect()
            self._connected = True

    async def _enqueue(self, asset_id: str) -> bool:
        # timeout=0: no cap on a transcode's length; the heartbeat finds dead workers.
        job = await self._queue.enqueue(
            JOB, key=asset_id, asset_id=asset_id, timeout=0,
            heartbeat=self._jobs.heartbeat, retries=self._jobs.attempts, ttl=_KEEP_FINISHED)
        return job is not None
