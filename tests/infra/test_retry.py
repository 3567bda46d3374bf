"""The backoff rule and the bounded retries, with a fake sleep: no real time passes."""

from __future__ import annotations

import pytest

from hlsd.infra.retry import Backoff, Failures, retry, retry_sync
from tests._support.clock import FakeClock


class Flaky:
    """Fails `failures` times with `error`, then answers."""

    def __init__(self, failures: int, error: type[Exception] = OSError) -> None:
        self.left = failures
        self.calls = 0
        self.error = error

    def __call__(self) -> str:
        self.calls += 1
        if self.left:
            self.left -= 1
            raise self.error(f"failure {self.calls}")
        return "done"


def test_the_delay_doubles_to_its_cap() -> None:
    backoff = Backoff(first=0.5, cap=10.0)
    assert [backoff.delay(n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 10, 10]
    assert backoff.delay(10_000) == 10.0  # no overflow however long it failed


def test_jitter_spreads_the_delay_within_its_fraction() -> None:
    low = Backoff(first=1.0, cap=30.0, jitter=0.2, rng=lambda: 0.0)
    high = Backoff(first=1.0, cap=30.0, jitter=0.2, rng=lambda: 0.999999)
    assert low.delay(3) == pytest.approx(3.2) and high.delay(3) == pytest.approx(4.8)
    assert low.delay(99) == pytest.approx(24.0)  # the cap, jittered
    with pytest.raises(ValueError):
        Backoff(first=2.0, cap=1.0)


async def test_retry_waits_between_attempts_on_an_injected_clock() -> None:
    clock = FakeClock(0.0)
    told: list[tuple[str, int, float]] = []

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    flaky = Flaky(2)

    async def call() -> str:
        return flaky()

    answer = await retry(call, on=OSError, attempts=3, backoff=Backoff(first=0.5, cap=10.0),
                         sleep=sleep, on_retry=lambda e, n, d: told.append((str(e), n, d)))
    assert answer == "done" and flaky.calls == 3 and clock() == 1.5
    assert told == [("failure 1", 1, 0.5), ("failure 2", 2, 1.0)]


async def test_retry_gives_up_with_the_last_error_and_never_retries_others() -> None:
    async def no_sleep(_seconds: float) -> None:
        return None

    flaky = Flaky(5)

    async def call() -> str:
        return flaky()

    with pytest.raises(OSError, match="failure 3"):
        await retry(call, on=OSError, attempts=3, backoff=Backoff(first=1, cap=1),
                    sleep=no_sleep)
    other = Flaky(1, ValueError)

    async def wrong() -> str:
        return other()

    with pytest.raises(ValueError):
        await retry(wrong, on=OSError, attempts=3, backoff=Backoff(first=1, cap=1),
                    sleep=no_sleep)
    assert other.calls == 1


def test_retry_sync_sleeps_the_backoff() -> None:
    slept: list[float] = []
    flaky = Flaky(3)
    assert retry_sync(flaky, on=OSError, attempts=4, backoff=Backoff(first=0.25, cap=0.5),
                      sleep=slept.append) == "done"
    assert slept == [0.25, 0.5, 0.5]


def test_failures_grow_the_wait_and_start_over_after_a_success() -> None:
    failures = Failures(Backoff(first=1.0, cap=4.0))
    assert [failures.failed() for _ in range(4)] == [1, 2, 4, 4]
    failures.reset()
    assert failures.failed() == 1 and failures.count == 1
