"""Waiting for something to become true: a condition polled until a deadline, never a
sleep that stands for synchronisation."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


async def eventually(condition: Callable[[], Any], timeout: float = 10.0,
                     what: str = "") -> Any:
    """Return `condition()`'s first true value (awaited, if it returns an awaitable); fail
    after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"never true within {timeout}s: {what or condition}")
        await asyncio.sleep(0.01)


def wait_until(condition: Callable[[], T], timeout: float = 30.0, what: str = "") -> T:
    """`eventually` for synchronous tests: the condition's first true value."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"never true within {timeout}s: {what or condition}")
        time.sleep(0.05)
    return value


def wait_segments(c: httpx.Client, url: str, count: int = 1, timeout: float = 30) -> str:
    """The playlist at `url` once it lists at least `count` segments."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = c.get(url)
        if r.status_code == 200 and r.text.count("#EXTINF") >= count:
            return r.text
        time.sleep(0.2)
    raise AssertionError(f"{url} never had {count} segments: {r.status_code} {r.text}")
