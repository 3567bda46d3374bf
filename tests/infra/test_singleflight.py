import asyncio

import pytest

from hlsd.infra.singleflight import SingleFlight


async def test_concurrent_callers_share_one_call() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    calls = 0

    async def work() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return 42

    results = await asyncio.gather(*(flights.run("k", work) for _ in range(10)))
    assert results == [42] * 10 and calls == 1 and len(flights) == 0
    assert await flights.run("k", work) == 42 and calls == 2  # done calls are not cached


async def test_failures_reach_every_caller_and_are_not_kept() -> None:
    flights: SingleFlight[str, int] = SingleFlight()

    async def boom() -> int:
        await asyncio.sleep(0.01)
        raise RuntimeError("no")

    results = await asyncio.gather(*(flights.run("k", boom) for _ in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results) and "k" not in flights


async def test_one_cancelled_caller_does_not_cancel_the_others() -> None:
    flights: SingleFlight[str, int] = SingleFlight()

    async def work() -> int:
        await asyncio.sleep(0.1)
        return 7

    first = asyncio.ensure_future(flights.run("k", work))
    second = asyncio.ensure_future(flights.run("k", work))
    await asyncio.sleep(0.02)
    first.cancel()
    assert await second == 7
    with pytest.raises(asyncio.CancelledError):
        await first
