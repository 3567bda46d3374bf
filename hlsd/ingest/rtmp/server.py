"""`RtmpServer`: the RTMP listener. Each accepted connection is served by its own task
(`_connection.Connection`), so publishers are independent of one another; past
`max_connections`, a new connection is closed at once (logged at most once a minute)."""

from __future__ import annotations

import asyncio
import logging
import time

from hlsd.ingest.continuous import Publishers
from hlsd.ingest.rtmp._connection import Connection, Limits

__all__ = ["RtmpServer"]

logger = logging.getLogger(__name__)

_REFUSAL_LOG_INTERVAL = 60.0


class RtmpServer:
    """An RTMP publish server: ``rtmp://HOST:PORT/<app>/<stream>[?key=K]`` feeds
    `Publishers.open`'s session with the publisher's media as FLV."""

    def __init__(self, publishers: Publishers, *, idle_timeout: float,
                 handshake_timeout: float = 10.0, max_connections: int = 256,
                 max_message_bytes: int = 16 * 1024 * 1024) -> None:
        if idle_timeout <= 0 or handshake_timeout <= 0:
            raise ValueError("the RTMP timeouts must be positive")
        if max_connections < 1 or max_message_bytes < 1:
            raise ValueError("the RTMP limits must be positive")
        self._publishers = publishers
        self._limits = Limits(idle_timeout=idle_timeout, handshake_timeout=handshake_timeout,
                              max_message_bytes=max_message_bytes)
        self._max_connections = max_connections
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._closing = False
        self._refused = 0
        self._refusal_logged = float("-inf")

    async def start(self, host: str, port: int) -> None:
        """Listen on `host`:`port`; `OSError` when that address cannot be bound."""
        if self._server is not None:
            raise RuntimeError("the RTMP server is already started")
        self._server = await asyncio.start_server(self._accept, host, port)
        logger.debug("rtmp: listening on %s:%d", host, self.port)  # the caller says it

    @property
    def port(self) -> int:
        """The port bound (the first socket's, when the host has several addresses)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the RTMP server is not listening")
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and end every connection (their sessions closed with an
        error). Idempotent."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        connections = list(self._connections)
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A task of our own per connection, not the one asyncio runs a coroutine callback
        # in: cancelling that one makes asyncio log a traceback (Python 3.11).
        if self._closing or len(self._connections) >= self._max_connections:
            self._refuse()
            writer.transport.abort()
            return
        connection = Connection(reader, writer, self._publishers, self._limits)
        task = asyncio.get_running_loop().create_task(connection.run())
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    def _refuse(self) -> None:
        self._refused += 1
        now = time.monotonic()
        if now - self._refusal_logged >= _REFUSAL_LOG_INTERVAL and not self._closing:
            logger.warning("rtmp: %d connection(s) refused: %d open, the most allowed",
                           self._refused, self._max_connections)
            self._refused, self._refusal_logged = 0, now
