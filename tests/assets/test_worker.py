"""The Redis job queue with real processes: an hlsd node that only enqueues, a real Redis,
and two ``hlsd worker`` processes sharing the node's config file, database and object
store.

A worker killed mid-job (SIGKILL, with its ffmpeg) has its job retried by the other,
which publishes a clean ladder from one attempt; a worker stopped with SIGTERM puts its
job back at once; a cancel reaches the worker running the job; a failed job leaves the
workers working; an asset whose every attempt died fails, and can be retried. The
heartbeat is 2 s here, so a dead worker's job is retried within about 2 + 1 + 3 s.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import psutil
import pytest

from tests._support import media as fx
from tests._support.hlsd_server import HlsdServer
from tests._support.polling import wait_until
from tests._support.redis_server import redis_url
from tests.api.test_assets import ADMIN, LADDER, new_upload, wait_state


class WorkerProcess:
    """``hlsd worker --config <the node's hls.yaml>``, in the node's
    directory (so the same data dir), in a session of its own (with its ffmpeg)."""

    def __init__(self, server: HlsdServer, name: str) -> None:
        self.server = server
        self.log_path = server.dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> WorkerProcess:
        self._log = self.log_path.open("ab")
        begin = self._log.tell()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hlsd", "worker", "--config", str(self.server.config_path)],
            cwd=self.server.dir, env=self.server.environment(), stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: "hlsd worker:" in self.log_text(begin), 20, f"{self.log_path} up")
        return self

    def ffmpeg(self) -> list[psutil.Process]:
        """The ffmpeg processes this worker runs."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
            return [p for p in children if "ffmpeg" in p.name()]
        except psutil.NoSuchProcess:
            return []

    def kill(self) -> None:
        """SIGKILL to the worker and its ffmpeg, as a lost machine would: nothing runs."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._close_log()

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM (a deploy, a scale-in); its exit code."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self._close_log()
        return proc.returncode

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_text(self, start: int = 0) -> str:
        """The log from byte `start` (where a start began, say)."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as f:
            f.seek(start)
            return f.read().decode(errors="replace")


@dataclass
class Cluster:
    server: HlsdServer
    workers: list[WorkerProcess]

    def busy(self, timeout: float = 30) -> WorkerProcess:
        """The worker whose ffmpeg is running (only one job runs at a time here)."""
        found: list[WorkerProcess] = []

        def one() -> bool:
            found[:] = [w for w in self.workers if w.ffmpeg()]
            return len(found) == 1

        wait_until(one, timeout, "one worker transcoding")
        return found[0]

    def objects(self, asset_id: str) -> list[str]:
        """What the object store holds for the asset: attempt prefixes, `source`."""
        folder = self.server.data_dir / "objects" / "assets" / asset_id
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.h264_aac_mp4(tmp_path_factory.mktemp("clip") / "long.mp4", seconds=30,
                           size="640x360", gop=50)


@contextmanager
def running_cluster(folder: Path, **assets: object) -> Iterator[Cluster]:
    """A Redis, an hlsd node that only enqueues, and two workers (one job at a time)."""
    with redis_url() as url:
        config = {"admin_key": "adm", "assets": {
            "queue": "redis", "redis_url": url, "queue_name": f"test-{secrets.token_hex(4)}",
            "ladder": LADDER, "segment_duration": 2, "heartbeat": "2s", **assets}}
        with HlsdServer(config, tmp_dir=folder) as server:
            workers = [WorkerProcess(server, f"worker-{n}") for n in range(2)]
            try:
                for worker in workers:
                    worker.start()
                yield Cluster(server, workers)
            finally:
                for worker in workers:
                    worker.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("node")) as running:
        yield running


def upload(c: httpx.Client, path: Path, title: str) -> str:
    asset = new_upload(c, path.stat().st_size, title)
    put = c.put(f"/api/assets/{asset['id']}/content", content=path.read_bytes())
    assert put.status_code == 200, put.text
    return str(asset["id"])


def test_a_worker_killed_mid_job_leaves_the_job_to_the_other(cluster: Cluster,
                                                             long_clip: Path) -> None:
    with httpx.Client(base_url=cluster.server.url, headers=ADMIN, timeout=30) as c:
        asset_id = upload(c, long_clip, "killed")
        wait_state(c, asset_id, {"processing"}, timeout=30)
        victim = cluster.busy()
        survivor = next(w for w in cluster.workers if w is not victim)
        wait_until(lambda: c.get(f"/api/assets/{asset_id}").json()["progress"] >= 10, 30,
                   "progress past 10 %")
        victim.kill()
        # As if it died while storing: part of its outputs, which the next run removes.
        partial = cluster.server.data_dir / "objects" / "assets" / asset_id / "1"
        partial.mkdir(parents=True)
        (partial / "chunk-0-00001.m4s").write_bytes(b"\0" * 1000)
        ready = wait_state(c, asset_id, {"ready", "failed"}, timeout=90)
        assert ready["state"] == "ready", ready
        assert f"asset {asset_id}: run 2 started" in survivor.log_text()
        assert fx.decode_errors(cluster.server.url + ready["playback"]["hls"],  # type: ignore[index]
                                every_stream=True) == ""
        # The dead run's partial outputs and the staged source are gone: one attempt.
        assert cluster.objects(asset_id) == ["2"]
        assert "started" not in cluster.server.log_text()  # the node runs no job itself
    victim.start()


def test_a_worker_stopped_mid_job_puts_it_back_at_once(cluster: Cluster,
                                                       long_clip: Path) -> None:
    with httpx.Client(base_url=cluster.server.url, headers=ADMIN, timeout=30) as c:
        asset_id = upload(c, long_clip, "stopped")
        wait_state(c, asset_id, {"processing"}, timeout=30)
        stopping = cluster.busy()
        started = time.monotonic()
        assert stopping.stop() == 0
        assert time.monotonic() - started < 10  # its ffmpeg stopped, its job handed back
        ready = wait_state(c, asset_id, {"ready", "failed"}, timeout=90)
        assert ready["state"] == "ready", ready
        assert cluster.objects(asset_id) == ["2"]
    stopping.start()


def test_cancel_stops_the_worker_running_the_job(cluster: Cluster, long_clip: Path) -> None:
    with httpx.Client(base_url=cluster.server.url, headers=ADMIN, timeout=30) as c:
        asset_id = upload(c, long_clip, "cancelled")
        wait_state(c, asset_id, {"processing"}, timeout=30)
        busy = cluster.busy()
        cancelled = c.post(f"/api/assets/{asset_id}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        wait_until(lambda: not busy.ffmpeg(), 5, "ffmpeg stopped")
        time.sleep(1.0)
        assert c.get(f"/api/assets/{asset_id}").json()["state"] == "cancelled"
        assert cluster.objects(asset_id) == ["source"]  # no output; the source until delete
        assert c.delete(f"/api/assets/{asset_id}").status_code == 204
        assert cluster.objects(asset_id) == []


def test_a_failed_job_leaves_the_workers_working(cluster: Cluster, tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_bytes(b"this is not a video at all\n" * 100)
    clip = fx.h264_aac_mp4(tmp_path / "clip.mp4", seconds=4, size="640x360", gop=50)
    with httpx.Client(base_url=cluster.server.url, headers=ADMIN, timeout=30) as c:
        bad = upload(c, text, "bad")
        failed = wait_state(c, bad, {"ready", "failed"}, timeout=30)
        assert failed["state"] == "failed" and "not a media file" in str(failed["reason"])
        retried = c.post(f"/api/assets/{bad}/retry")  # the staged source is still there
        assert retried.status_code == 200 and retried.json()["state"] == "queued"
        assert wait_state(c, bad, {"ready", "failed"}, timeout=30)["state"] == "failed"
        good = [upload(c, clip, f"good {n}") for n in range(2)]
        for asset_id in good:
            ready = wait_state(c, asset_id, {"ready", "failed"}, timeout=60)
            assert ready["state"] == "ready", ready
        assert all(w.proc is not None and w.proc.poll() is None for w in cluster.workers)


def test_an_asset_whose_every_attempt_died_fails_and_can_be_retried(tmp_path: Path,
                                                                    long_clip: Path) -> None:
    with running_cluster(tmp_path, attempts=1) as cluster, \
            httpx.Client(base_url=cluster.server.url, headers=ADMIN, timeout=30) as c:
        asset_id = upload(c, long_clip, "doomed")
        wait_state(c, asset_id, {"processing"}, timeout=30)
        cluster.busy().kill()
        failed = wait_state(c, asset_id, {"ready", "failed"}, timeout=30)
        assert failed["state"] == "failed", failed
        assert "died or stopped responding" in str(failed["reason"]), failed
        assert cluster.objects(asset_id) == ["source"]  # kept for a retry
        # At once: saq still holds the given-up job's key for a few seconds.
        retried = c.post(f"/api/assets/{asset_id}/retry")
        assert retried.status_code == 200 and retried.json()["state"] == "queued", retried.text
        ready = wait_state(c, asset_id, {"ready", "failed"}, timeout=60)
        assert ready["state"] == "ready", ready
        assert cluster.objects(asset_id) == ["2"]
