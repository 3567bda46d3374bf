"""What the tests of several workers share: a node of N workers and the worker that
answers each fresh connection (``/api/health``'s ``node`` part, asked first on the same
keep-alive connection: a connection stays with the worker that took it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest

from tests._support.hlsd_server import HlsdServer, free_port
from tests._support.polling import wait_until

KEY = "publish-key-1"
AUTH = {"Authorization": f"Bearer {KEY}"}
SOURCE = ["-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
           "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30",
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k"]


def config(rtmp: int | None = None, files: Path | None = None,
           idle_timeout: float = 6) -> dict[str, object]:
    return {"live": {"publish_keys": [KEY], "segment_duration": 1.0, "part_duration": 0.2,
                     "idle_timeout": idle_timeout},
            "livemix": {"file_roots": [str(files)] if files else []},
            "rtmp": {"listen": f"127.0.0.1:{rtmp}" if rtmp else None},
            "srt": {"listen": None}, "websocket": {"listen": None}}


class Node:
    """A server of several workers, and what the tests ask of it."""

    def __init__(self, server: HlsdServer, workers: int, rtmp: int | None = None) -> None:
        self.server = server
        self.workers = workers
        self.rtmp = rtmp
        self.url = server.url
        run_dir = wait_until(self._run_dir, timeout=20, what="the node's run folder")
        assert run_dir is not None
        self.run_dir: Path = run_dir
        self.wait_whole()

    def _run_dir(self) -> Path | None:
        """`hlsd serve` makes it in the temp dir, which `server` points at the test's."""
        found = list(self.server.dir.glob("hlsd-node-*"))
        return found[0] if found else None

    def worker_pids(self) -> set[int]:
        return {int(p.name[2:-5]) for p in self.run_dir.glob("w-*.sock")}

    def leader(self) -> int:
        return int((self.run_dir / "leader.lock").read_text())

    def wait_whole(self) -> None:
        """Until every worker listens and follows all the others."""
        def whole() -> bool:
            pids = self.worker_pids()
            if len(pids) != self.workers or not all(psutil.pid_exists(p) for p in pids):
                return False
            seen = {}
            for _ in range(8 * self.workers):
                node = httpx.get(self.url + "/api/health", timeout=5).json()["node"]
                seen[int(node["worker"])] = node["following"]
            return set(seen) == pids and all(n == self.workers - 1 for n in seen.values())
        wait_until(whole, timeout=60, what=f"{self.workers} workers following each other")

    @contextmanager
    def on_some_worker(self) -> Iterator[tuple[httpx.Client, int]]:
        """A fresh connection and the worker that took it."""
        with httpx.Client(base_url=self.url, timeout=15) as client:
            yield client, int(client.get("/api/health").json()["node"]["worker"])


def serving(tmp_path_factory: pytest.TempPathFactory, engine: str,
            workers: int) -> Iterator[Node]:
    """A module fixture's node: `workers` of `engine`, with RTMP on a free port."""
    rtmp = free_port()
    with server(tmp_path_factory.mktemp(engine), engine, workers, rtmp) as hlsd:
        yield Node(hlsd, workers, rtmp)


def server(tmp_dir: Path, engine: str, workers: int, rtmp: int | None = None,
           idle_timeout: float = 6) -> HlsdServer:
    # Several workers import the app at once: slow to start on a busy machine.
    return HlsdServer(config(rtmp, tmp_dir / "livemix", idle_timeout), tmp_dir=tmp_dir,
                      env={"TMPDIR": str(tmp_dir)}, startup_timeout=90,
                      extra_args=["--workers", str(workers), "--server", engine])


Check = Callable[[httpx.Client], None]


def until_every_worker(node: Node, check: Check, attempts: int = 400,
                        at_least: int = 0) -> dict[int, int]:
    """`check(client)` on fresh connections until each worker has passed it at least
    twice, and `at_least` checks passed in all; how many times each did."""
    passed: dict[int, int] = {}
    for _ in range(max(attempts, at_least)):
        with node.on_some_worker() as (client, worker):
            check(client)
        passed[worker] = passed.get(worker, 0) + 1
        if len(passed) == node.workers and min(passed.values()) >= 2 \
                and sum(passed.values()) >= at_least:
            return passed
    raise AssertionError(f"not every worker was reached: {passed}")


def passes(node: Node, check: Check) -> bool:
    with node.on_some_worker() as (client, _):
        try:
            check(client)
        except AssertionError:
            return False
    return True
