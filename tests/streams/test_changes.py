"""`ChangeSignal`: one change releases every parked waiter; a waiter that gives up or
times out touches no one else; nothing gathers while a stream stalls."""

from __future__ import annotations

import asyncio
import threading

from hlsd.streams.changes import TIMER_STEP, ChangeSignal


async def test_one_change_releases_every_waiter_at_once() -> None:
    signal = ChangeSignal()
    waiters = [asyncio.create_task(signal.wait(10)) for _ in range(500)]
    await asyncio.sleep(0)  # let them park
    assert signal.waiting == 500
    signal.changed()
    assert await asyncio.gather(*waiters) == [True] * 500
    assert signal.waiting == 0 and signal.releases == 1 and signal.version == 1


async def test_a_waiter_that_gives_up_leaves_the_others_parked() -> None:
    signal = ChangeSignal()
    quitter = asyncio.create_task(signal.wait(10))
    stayer = asyncio.create_task(signal.wait(10))
    await asyncio.sleep(0)
    quitter.cancel()
    await asyncio.gather(quitter, return_exceptions=True)
    assert not stayer.done()
    signal.changed()
    assert await stayer is True


async def test_waiters_time_out_together_and_leave_nothing_behind() -> None:
    signal = ChangeSignal()
    loop = asyncio.get_running_loop()
    started = loop.time()
    results = await asyncio.gather(*(signal.wait(0.1) for _ in range(50)))
    waited = loop.time() - started
    assert results == [False] * 50
    assert 0.1 <= waited < 0.1 + TIMER_STEP + 0.5
    assert signal.waiting == 0
    assert not signal._waiters and not signal._timers  # a stall gathers nothing
    assert signal.releases == 0


async def test_a_change_from_another_thread_reaches_the_loop() -> None:
    signal = ChangeSignal()
    waiter = asyncio.create_task(signal.wait(10))
    await asyncio.sleep(0)
    thread = threading.Thread(target=signal.changed)
    thread.start()
    thread.join()
    assert await asyncio.wait_for(waiter, 5) is True
