"""Trying again: one backoff rule, and bounded retries on tenacity.

`Backoff` is the wait after the n-th failure in a row: exponential from `first`, capped
at `cap`, with a multiplicative jitter so that many clients that failed together do not
come back together. Two shapes use it:

- `retry` / `retry_sync`: a call tried up to `attempts` times while it raises one of the
  given errors (tenacity's loop: the sleep is injected, so tests need no real time);
- `Failures`: a loop that runs for as long as its owner lives (a reconnecting client)
  counts its failures in a row and waits `Backoff.delay` of that count, starting over
  after a success.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import tenacity
from tenacity.wait import wait_base

__all__ = ["Backoff", "Failures", "OnRetry", "retry", "retry_sync"]

T = TypeVar("T")

OnRetry = Callable[[BaseException, int, float], None]
"""Told before each wait: ``(the error, failures so far, seconds until the next try)``."""


@dataclass(frozen=True, slots=True)
class Backoff(wait_base):
    """``min(cap, first * factor ** (failures - 1))``, then times a random factor in
    ``[1 - jitter, 1 + jitter]``. Also a tenacity wait strategy."""

    first: float
    cap: float
    factor: float = 2.0
    jitter: float = 0.0
    rng: Callable[[], float] = field(default=random.random, compare=False)
    """In [0, 1); tests fix it."""

    def __post_init__(self) -> None:
        if not (0 < self.first <= self.cap and self.factor >= 1 and 0 <= self.jitter < 1):
            raise ValueError("a backoff needs 0 < first <= cap, factor >= 1, 0 <= jitter < 1")

    def delay(self, failures: int) -> float:
        """Seconds to wait after `failures` failures in a row (1 or more)."""
        exponent = max(0, failures - 1)
        # Past the cap the power only grows: stop computing it (no float overflow).
        base = self.cap if exponent > 64 else min(self.cap, self.first * self.factor ** exponent)
        if self.jitter:
            base *= 1 + self.jitter * (2 * self.rng() - 1)
        return float(base)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        return self.delay(retry_state.attempt_number)


def _notify(on_retry: OnRetry | None) -> Callable[[tenacity.RetryCallState], None]:
    def before_sleep(state: tenacity.RetryCallState) -> None:
        if on_retry is None or state.outcome is None:
            return
        error = state.outcome.exception()
        assert error is not None  # only failures are retried
        on_retry(error, state.attempt_number,
                 state.next_action.sleep if state.next_action is not None else 0.0)
    return before_sleep


async def retry(call: Callable[[], Awaitable[T]], *,
                on: type[BaseException] | tuple[type[BaseException], ...], attempts: int,
                backoff: Backoff, on_retry: OnRetry | None = None,
                sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> T:
    """`await call()`, tried up to `attempts` times while it raises `on`; the last
    error is raised as it is. Any other error ends it at once."""
    retrying = tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(attempts), wait=backoff,
        retry=tenacity.retry_if_exception_type(on), before_sleep=_notify(on_retry),
        sleep=sleep, reraise=True)
    return await retrying(call)


def retry_sync(call: Callable[[], T], *,
               on: type[BaseException] | tuple[type[BaseException], ...], attempts: int,
               backoff: Backoff, on_retry: OnRetry | None = None,
               sleep: Callable[[float], None] = time.sleep) -> T:
    """`retry` for blocking code (a client's thread)."""
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts), wait=backoff,
        retry=tenacity.retry_if_exception_type(on), before_sleep=_notify(on_retry),
        sleep=sleep, reraise=True)
    return retrying(call)


class Failures:
    """Failures in a row of something tried again for as long as it is wanted (a
    connection): `failed` counts one and says how long to wait, `reset` starts over."""

    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff
        self.count = 0

    def failed(self) -> float:
        self.count += 1
        return self.backoff.delay(self.count)

    def reset(self) -> None:
        self.count = 0
