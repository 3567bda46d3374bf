"""`WebsocketPublisher`: pushes MPEG-TS fragments to an hlsd (or hls-websocket-cdn) node
over the websocket protocol.

Fragments handed to `send` go through a bounded queue: while the connection is down
they wait (the oldest are dropped past `max_queue`, and counted), and the publisher
reconnects with backoff and carries on. `close` sends ``CLOSE`` once the queue is out.

An ``E`` answer (a wrong secret: ``AUTH_ERROR``; a stream another connection pushes:
``PUSH_ERROR``) ends the publisher for good, whenever it comes, even while a fragment
is on its way: `error` holds it and `refused` is set, and retrying would not help.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from hlsd.auth import jwt as cdn_jwt
from hlsd.infra.retry import Backoff, Failures
from hlsd.wscdn import protocol

log = logging.getLogger(__name__)

_BACKOFF = Backoff(first=0.5, cap=10.0)
_LAST_WORDS = 1.0
"""Seconds to read what a node sent before it closed (an ``E`` saying why)."""


AUTH_ERROR = "AUTH_ERROR"
"""The ``E`` code of a push whose JWT the node refused (no secret, or the wrong one)."""


class PublishRefused(Exception):
    """The node answered ``E`` (a wrong secret, a stream taken): retrying will not help."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @classmethod
    def of(cls, params: dict[str, str]) -> PublishRefused:
        return cls(params.get("code") or "ERROR", params.get("message") or "")


@dataclass
class PublisherStats:
    sent: int = 0
    bytes: int = 0
    dropped: int = 0
    reconnects: int = 0
    connected: bool = False


class WebsocketPublisher:
    def __init__(self, url: str, stream: str, *, secret: str | None = None,
                 max_queue: int = 10, heartbeat: float = 30.0,
                 connect_timeout: float = 10.0) -> None:
        self.url = url
        self.stream = stream
        self.stats = PublisherStats()
        self._secret = secret
        self._max_queue = max_queue
        self._heartbeat = heartbeat
        self._connect_timeout = connect_timeout
        self._queue: deque[tuple[float, bytes]] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.error: PublishRefused | None = None
        self.refused = asyncio.Event()
        """Set once the node refused the push (`error` says why)."""

    async def __aenter__(self) -> WebsocketPublisher:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"publish-{self.stream}")

    def send(self, duration: float, data: bytes) -> None:
        """Queue one fragment (never blocks; the oldest queued one goes past the bound)."""
        if not data:
            return
        if len(self._queue) >= self._max_queue:
            self._queue.popleft()
            self.stats.dropped += 1
        self._queue.append((duration, data))
        self._wake.set()

    async def close(self, timeout: float = 10.0) -> None:
        """Send what is queued, then ``CLOSE``."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout)
            if not self._task.done():
                self._task.cancel()

    async def _run(self) -> None:
        failures = Failures(_BACKOFF)
        while True:
            try:
                await self._session()
                return
            except PublishRefused as exc:
                self.error = exc
                self.stats.connected = False
                self.refused.set()
                log.info("publishing %r to %s refused: %s", self.stream, self.url, exc)
                return
            except (OSError, TimeoutError, WebSocketException) as exc:
                if self.stats.connected:
                    failures.reset()  # it worked for a while: back off from the start
                self.stats.connected = False
                if self._closing and not self._queue:
                    return
                self.stats.reconnects += 1
                delay = failures.failed()
                log.warning("publishing %r: connection lost (%s); again in %.1fs", self.stream,
                            exc or type(exc).__name__, delay)
                await asyncio.sleep(delay)

    async def _session(self) -> None:
        async with connect(self.url, open_timeout=self._connect_timeout, max_size=1 << 16,
                           ping_interval=None, close_timeout=2) as ws:
            token = cdn_jwt.sign(self._secret, protocol.PUSH, self.stream) \
                if self._secret else ""
            await ws.send(f"{protocol.PUSH}:{urlencode({'stream': self.stream, 'auth': token})}")
            await self._await_ok(ws)
            self.stats.connected = True
            listener = asyncio.create_task(self._listen(ws))
            heartbeat = asyncio.create_task(self._beat(ws))
            try:
                await self._send_queued(ws, listener)
            except (OSError, WebSocketException):
                # A node that refuses sends E, then closes: a send under way meets the
                # close first, but the refusal (still to be read) is what ended it.
                await asyncio.wait({listener}, timeout=_LAST_WORDS)
                if listener.done() and not listener.cancelled() \
                        and isinstance(listener.exception(), PublishRefused):
                    listener.result()
                raise
            finally:
                heartbeat.cancel()
                listener.cancel()

    async def _await_ok(self, ws: ClientConnection) -> None:
        while True:
            message = protocol.parse(str(await asyncio.wait_for(ws.recv(), 30)))
            if message.type == protocol.OK:
                return
            if message.type == protocol.ERROR:
                raise PublishRefused.of(message.params)

    async def _send_queued(self, ws: ClientConnection, listener: asyncio.Task[None]) -> None:
        while True:
            while self._queue:
                if listener.done():
                    listener.result()  # the node closed us: raise why
                duration, data = self._queue[0]
                await ws.send(protocol.fragment(duration).encode())
                await ws.send(data)
                self._queue.popleft()  # only once sent: a lost connection resends it
                self.stats.sent += 1
                self.stats.bytes += len(data)
            if self._closing:
                await ws.send(protocol.CLOSE)
                return
            self._wake.clear()
            waiter = asyncio.create_task(self._wake.wait())
            await asyncio.wait({waiter, listener}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if listener.done():
                listener.result()

    async def _listen(self, ws: ClientConnection) -> None:
        async for raw in ws:
            message = protocol.parse(str(raw))
            if message.type == protocol.ERROR:
                raise PublishRefused.of(message.params)
        raise ConnectionResetError("the node closed the connection")

    async def _beat(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self._heartbeat)
            await ws.send(protocol.HEARTBEAT)
