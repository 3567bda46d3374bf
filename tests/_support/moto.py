"""moto's S3 server as a real HTTP process on an ephemeral loopback port."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

_RUNNING = re.compile(rb"Running on (http://127\.0\.0\.1:\d+)")


@contextmanager
def moto_server(log: Path, *, timeout: float = 20.0, port: int = 0) -> Iterator[str]:
    """Start ``python -m moto.server`` on `port` (default: any free one); yield its URL
    once it answers. Its buckets live as long as the process."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    start = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    try:
        deadline = time.monotonic() + timeout
        url = None
        while url is None:
            if proc.poll() is not None:
                raise RuntimeError(f"moto server exited: {log.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto server did not start: {log.read_text()}")
            match = _RUNNING.search(log.read_bytes()[start:])
            if match:
                url = match.group(1).decode()
            else:
                time.sleep(0.05)
        while True:
            try:
                httpx.get(f"{url}/", timeout=1.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
