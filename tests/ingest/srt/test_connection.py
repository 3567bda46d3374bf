"""The bounded hand-over from an SRT reader thread to the event loop, and loading
libsrt."""

from __future__ import annotations

import asyncio
import threading

import pytest

from hlsd.ingest.srt import SrtUnavailable, _libsrt
from hlsd.ingest.srt._connection import Inbox
from tests._support.polling import eventually


async def test_the_inbox_holds_a_bounded_amount_and_batches() -> None:
    inbox = Inbox(asyncio.get_running_loop(), limit=1000)
    put: list[bool] = []

    def reader() -> None:
        for _ in range(5):
            put.append(inbox.put(b"x" * 400))
        inbox.end("gone")

    thread = threading.Thread(target=reader)
    thread.start()
    # 400 + 400 + 400 reach the bound: the reader waits with the fourth in hand.
    await eventually(lambda: len(put) == 3, what="three puts")
    assert thread.is_alive() and len(put) == 3
    first = await inbox.take()
    assert (len(first.data), first.ended) == (1200, False)
    taken = len(first.data)
    while True:
        batch = await inbox.take()
        taken += len(batch.data)
        if batch.ended:
            break
    thread.join()
    assert (taken, batch.error, put) == (2000, "gone", [True] * 5)


async def test_a_stopped_inbox_releases_a_waiting_reader() -> None:
    inbox = Inbox(asyncio.get_running_loop(), limit=10)
    assert inbox.put(b"x" * 10)
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(inbox.put(b"more")))
    thread.start()
    inbox.stop()
    await asyncio.to_thread(thread.join)
    assert result == [False]


def test_without_libsrt_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_libsrt, "_NAMES", ("libsrt-not-here.so.9",))
    monkeypatch.setattr(_libsrt.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(SrtUnavailable, match=r"apt-get install libsrt1\.5-openssl"):
        _libsrt.load()
