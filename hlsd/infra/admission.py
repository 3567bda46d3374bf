"""Admission of HTTP requests: at most so many in progress per client address, and a
request body that stops arriving is ended.

The engines bound the rest of a connection's life (the header-read and keep-alive
timeouts, `hlsd.engines`); what they cannot see is a request that has begun: a body that
trickles forever, or one address holding hundreds of requests open. The address is the
client `infra.client_address` decided on, so behind a trusted proxy each client counts
for itself, not the proxy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hlsd.infra.asgi import respond_error
from hlsd.infra.cache import Cache, Caches
from hlsd.infra.client_address import client_of
from hlsd.infra.limits import ConnectionLimits
from hlsd.infra.logs import clip

log = logging.getLogger(__name__)

_LOG_EVERY = 60.0
"""Seconds between two log lines about refusals of the same address."""
_LOGGED = 10_000
"""Addresses whose last refusal line is remembered."""
_DRAIN_BYTES = 8 << 20
"""Bytes of a request body the app left unread that are read and dropped before its
answer (a 413, a 401) goes out. Most clients send the whole body before they read the
answer, and a server that closes a connection with unread bytes resets it, which loses
the answer; past this bound the answer goes out as it is (nginx's lingering close plays
the same part)."""
_DRAIN_SECONDS = 5.0
"""At most this long draining, whatever the body timeout."""
ANSWER_AT_ONCE = "hlsd.answer_at_once"
"""Set in a request's scope (`answer_at_once`) by a route whose early answer must not wait."""


def answer_at_once(scope: Scope) -> None:
    """Marks a request whose early answer goes out without draining its body: a live
    upload that does not end (continuous ingest), whose publisher must hear a refusal at
    once (its connection is then closed)."""
    scope[ANSWER_AT_ONCE] = True


class Admission:
    """ASGI middleware for ``http`` scopes (websockets have `wscdn`'s own limits)."""

    def __init__(self, app: ASGIApp, *, limits: ConnectionLimits, body_timeout: float,
                 setting: str, caches: Caches,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self._limits = limits
        self._body_timeout = body_timeout
        self._setting = setting
        # An address stays here for _LOG_EVERY after the line about it: no other line then.
        self._logged: Cache[str, bool] = caches.new("refusals-logged", max_entries=_LOGGED,
                                                    ttl=_LOG_EVERY, clock=clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        address = client_of(scope).host
        refusal = self._limits.admit(address)
        if refusal is not None:
            self._log_refusal(address, refusal)
            await respond_error(send, 429, f"{refusal} ({self._setting})",
                                [(b"retry-after", b"1")])
            return
        try:
            if _has_body(scope):
                await _Request(self.app, self._body_timeout).run(scope, receive, send)
            else:  # most requests (GET, HEAD): nothing to time, nothing to wrap
                await self.app(scope, receive, send)
        finally:
            self._limits.release(address)

    def _log_refusal(self, address: str, refusal: str) -> None:
        if address in self._logged:
            return
        self._logged.put(address, True)
        log.warning("requests from %s refused: %s", clip(address), refusal)


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


class _Request:
    """One request: its body reads have a deadline until the body is whole; when one
    passes, the client gets 408 (if nothing was sent yet) and the app a disconnect. An
    answer that comes before the body is whole waits until the rest is drained (bounded:
    `_DRAIN_BYTES`, `_DRAIN_SECONDS`)."""

    def __init__(self, app: ASGIApp, body_timeout: float) -> None:
        self._app = app
        self._timeout = body_timeout
        self._body_done = False
        self._started = False
        self._timed_out = False

    async def run(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._scope = scope
        self._receive_from = receive
        self._send_to = send
        try:
            await self._app(scope, self._receive, self._send)
        except Exception:
            if not self._timed_out:
                raise
            # The app failed on the disconnect it was handed: the client is answered.

    async def _receive(self) -> Message:
        if self._body_done or self._timed_out:
            return await self._receive_from()
        try:
            async with asyncio.timeout(self._timeout):
                message = await self._receive_from()
        except TimeoutError:
            self._timed_out = True
            if not self._started:
                self._started = True
                await respond_error(self._send_to, 408, f"no request body bytes for "
                                    f"{self._timeout:g}s (http.body_timeout)",
                                    [(b"connection", b"close")])
            return {"type": "http.disconnect"}
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._body_done = True
        return message

    async def _send(self, message: Message) -> None:
        if self._timed_out:
            return  # the client was answered (or cut off) already
        if message["type"] == "http.response.start":
            self._started = True
            if not self._body_done and not self._scope.get(ANSWER_AT_ONCE):
                await self._drain()
            if not self._body_done:  # past the bound: this connection cannot be reused
                message = {**message, "headers": [*message.get("headers", ()),
                                                  (b"connection", b"close")]}
        await self._send_to(message)

    async def _drain(self) -> None:
        left = _DRAIN_BYTES
        try:
            async with asyncio.timeout(min(self._timeout, _DRAIN_SECONDS)):
                while left > 0:
                    message = await self._receive_from()
                    left -= len(message.get("body", b""))
                    if message["type"] != "http.request" or not message.get("more_body"):
                        self._body_done = True
                        return
        except TimeoutError:
            pass  # the answer goes out now; the client may see a reset
