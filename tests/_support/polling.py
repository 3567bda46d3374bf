"""Waiting on a running hlsd for something to appear."""

from __future__ import annotations

import time

import httpx


def wait_segments(c: httpx.Client, url: str, count: int = 1, timeout: float = 30) -> str:
    """The playlist at `url` once it lists at least `count` segments."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = c.get(url)
        if r.status_code == 200 and r.text.count("#EXTINF") >= count:
            return r.text
        time.sleep(0.2)
    raise AssertionError(f"{url} never had {count} segments: {r.status_code} {r.text}")
