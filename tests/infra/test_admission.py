"""Refusals are logged once per address a minute (the `refusals-logged` cache's TTL)."""

import logging

import pytest
from starlette.types import Message

from hlsd.infra.admission import Admission, answer_at_once
from hlsd.infra.cache import Caches
from hlsd.infra.limits import ConnectionLimits
from tests._support.clock import FakeClock


async def _app(scope: object, receive: object, send: object) -> None:
    raise AssertionError("a refused request never reaches the app")


async def _request(admission: Admission, host: str) -> int:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await admission({"type": "http", "method": "GET", "path": "/", "headers": [],
                     "client": (host, 1234)}, receive, send)
    return int(sent[0]["status"])


async def test_one_line_per_address_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    caches = Caches()
    limits = ConnectionLimits(max_open=1, per_second=0, burst=0, exempt=())
    for host in ("192.0.2.1", "192.0.2.2"):
        assert limits.admit(host) is None  # each holds its one request: more are refused
    admission = Admission(_app, limits=limits,
                          body_timeout=5, setting="http.max_requests_per_ip", caches=caches,
                          clock=clock)
    caplog.set_level(logging.WARNING, logger="hlsd.infra.admission")

    def lines() -> int:
        return sum("refused" in r.getMessage() for r in caplog.records)

    assert await _request(admission, "192.0.2.1") == 429
    assert await _request(admission, "192.0.2.1") == 429
    assert lines() == 1
    assert await _request(admission, "192.0.2.2") == 429
    assert lines() == 2  # another address has its own line
    clock.advance(59)
    await _request(admission, "192.0.2.1")
    assert lines() == 2
    clock.advance(2)
    await _request(admission, "192.0.2.1")
    assert lines() == 3
    assert [c.name for c in caches] == ["refusals-logged"]


async def _early_answer(chunks: int, *, at_once: bool = False
                        ) -> tuple[int, list[Message]]:
    """A body of `chunks` 1 MiB chunks to an app that answers 413 without reading it:
    how many chunks were read before the answer went out, and what was sent."""
    read = 0
    events: list[Message] = []

    async def receive() -> Message:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": b" " * (1 << 20), "more_body": read < chunks}

    async def send(message: Message) -> None:
        events.append({**message, "read": read})

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        if at_once:
            answer_at_once(scope)
        await send({"type": "http.response.start", "status": 413,  # type: ignore[operator]
                    "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})  # type: ignore[operator]

    admission = Admission(app, limits=ConnectionLimits(max_open=10, per_second=0, burst=0,
                                                       exempt=()),
                          body_timeout=5, setting="s", caches=Caches())
    await admission({"type": "http", "method": "POST", "path": "/", "client": ("h", 1),
                     "headers": [(b"transfer-encoding", b"chunked")]}, receive, send)
    return read, events


async def test_an_early_answer_waits_for_the_rest_of_the_body_within_a_bound() -> None:
    # Clients send the whole body before they read: the answer must not be lost to a
    # reset, nor the connection left with unread bytes.
    read, events = await _early_answer(4)
    assert read == 4 and events[0]["read"] == 4
    assert (b"connection", b"close") not in events[0]["headers"]
    read, events = await _early_answer(100)  # past the bound: answered, and closed
    assert read < 100 and (b"connection", b"close") in events[0]["headers"]


async def test_a_live_upload_is_answered_at_once_and_closed() -> None:
    # Continuous ingest: a refused publisher must hear it now, not after its stream.
    read, events = await _early_answer(4, at_once=True)
    assert read == 0 and (b"connection", b"close") in events[0]["headers"]
