"""`Publishers.open` asked from a thread other than the loop's (libsrt's, in the listen
callback), with a deadline, its refusals turned into the codes SRT callers are shown."""

from __future__ import annotations

import asyncio

import pytest

from hlsd.ingest.continuous import (
    Container,
    PublishRefused,
    PublishRequest,
    RefusalReason,
)
from hlsd.ingest.srt import RejectCode
from hlsd.ingest.srt._opening import Refusal, open_from_thread
from hlsd.streams import PublisherKind

REQUEST = PublishRequest(stream="cam1", key="K", host="127.0.0.1", port=5000,
                         kind=PublisherKind.SRT, container=Container.MPEGTS)


class Session:
    async def write(self, data: bytes) -> None:
        pass

    async def close(self, error: str | None = None) -> None:
        pass


class Answering:
    """Publishers whose `open` waits for `release`, then does what it was told."""

    def __init__(self, outcome: Session | Exception) -> None:
        self.outcome = outcome
        self.release = asyncio.Event()
        self.release.set()

    async def open(self, request: PublishRequest) -> Session:
        await self.release.wait()
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


async def ask(publishers: Answering, late: list[object] | None = None) -> object:
    loop = asyncio.get_running_loop()
    return await asyncio.to_thread(open_from_thread, publishers, REQUEST, loop,
                                   late=(late if late is not None else []).append)


async def test_a_session_is_handed_back() -> None:
    session = Session()
    assert await ask(Answering(session)) is session


@pytest.mark.parametrize(("reason", "code"), [
    (RefusalReason.UNAUTHORIZED, RejectCode.UNAUTHORIZED),
    (RefusalReason.BAD_NAME, RejectCode.BAD_REQUEST),
    (RefusalReason.BUSY, RejectCode.CONFLICT),
    (RefusalReason.FULL, RejectCode.OVERLOAD),
])
async def test_each_refusal_has_its_code(reason: RefusalReason, code: RejectCode) -> None:
    refused = PublishRefused("no", reason=reason)
    assert await ask(Answering(refused)) == Refusal("no", code)


async def test_a_failing_open_is_a_server_error() -> None:
    answer = await ask(Answering(RuntimeError("boom")))
    assert answer == Refusal("the server failed: RuntimeError: boom", RejectCode.ISE)


async def test_an_open_past_the_deadline_is_cancelled(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hlsd.ingest.srt._opening.OPEN_WAIT", 0.05)
    cancelled = asyncio.Event()

    class Slow:
        async def open(self, request: PublishRequest) -> Session:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return Session()

    late: list[object] = []
    answer = await asyncio.to_thread(open_from_thread, Slow(), REQUEST,
                                     asyncio.get_running_loop(), late=late.append)
    assert answer == Refusal("the server did not answer within 0.05 s", RejectCode.ISE)
    await asyncio.wait_for(cancelled.wait(), 5)
    assert late == []
