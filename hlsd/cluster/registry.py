"""The publish registry: which node publishes which stream.

`RedisRegistry` speaks hls-websocket-cdn's scheme: key = the stream id (after an
optional prefix), value = the publishing node's external websocket URL, TTL = twice the
refresh interval, refreshed on a timer. Over the original it withdraws a stream's entry
when the stream ends, and forgets an entry that names a node which cannot be reached
(only if it still names that node), so spectators are not sent to a dead node until
the TTL runs out. Without Redis, `NoRegistry` finds nothing: a node alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from hlsd.infra.logs import clip
from hlsd.streams import (
    ConsumerKind,
    HubEvent,
    HubEventKind,
    PublisherKind,
    Reader,
    Stream,
    StreamHub,
    StreamState,
)

log = logging.getLogger(__name__)

# Delete the key only while it still holds the value we saw (another node may have
# taken the stream over meanwhile).
_DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Registry(Protocol):
    async def announce(self, stream: str, url: str) -> None: ...
    async def withdraw(self, stream: str, url: str) -> None: ...
    async def lookup(self, stream: str) -> str | None: ...
    async def close(self) -> None: ...


class NoRegistry:
    """A node on its own: nothing is announced, nothing is found."""

    async def announce(self, stream: str, url: str) -> None:
        return None

    async def withdraw(self, stream: str, url: str) -> None:
        return None

    async def lookup(self, stream: str) -> str | None:
        return None

    async def close(self) -> None:
        return None


class RedisRegistry:
    def __init__(self, url: str, *, prefix: str, ttl: float) -> None:
        self._redis: Redis = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5,
                                            decode_responses=True)
        self._prefix = prefix
        self._ttl = max(1, round(ttl))

    async def announce(self, stream: str, url: str) -> None:
        await self._redis.set(self._prefix + stream, url, ex=self._ttl)

    async def withdraw(self, stream: str, url: str) -> None:
        await self._redis.eval(_DELETE_IF, 1, self._prefix + stream, url)

    async def lookup(self, stream: str) -> str | None:
        value = await self._redis.get(self._prefix + stream)
        return str(value) if value else None

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()


class Announcer:
    """Keeps the registry true to the streams this node publishes (not the ones it
    relays): announced at their first segment, refreshed every interval, withdrawn
    when they end. It hears of segments through a hub reader (`StreamHub.watch`), and
    after losing some events looks at every stream of the hub instead."""

    def __init__(self, *, hub: StreamHub, registry: Registry, url: Callable[[], str],
                 refresh: float) -> None:
        """`url`: this node's websocket URL, asked at each call (it is known once the
        node's listeners started)."""
        self._hub = hub
        self._registry = registry
        self._url = url
        self._refresh = refresh
        self._announced: set[str] = set()
        self._pending: set[asyncio.Task[None]] = set()
        self._last_refresh = 0.0

    def _offer(self, stream: Stream) -> None:
        """`stream` has a segment: announce it, unless it is already, relayed, or no
        longer the live stream of that name."""
        if stream.name in self._announced or stream.kind is PublisherKind.RELAY \
                or stream.state is not StreamState.LIVE or self._hub.get(stream.name) is not stream:
            return
        self._announced.add(stream.name)
        task = asyncio.create_task(self._call(self._registry.announce, stream.name))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _offer_all(self) -> None:
        """Every stream on air (at the start, and after events were lost)."""
        for stream in self._hub:
            if any(r.segments for r in stream.renditions.values()):
                self._offer(stream)

    async def _follow(self, events: Reader[HubEvent]) -> None:
        while True:
            event, lost = await events.next_with_loss()
            if lost:
                self._offer_all()
            self._offer(event.stream)

    async def _call(self, action: Callable[[str, str], Awaitable[None]], stream: str) -> None:
        try:
            await action(stream, self._url())
        except (RedisError, OSError) as exc:
            log.warning("publish registry: %s of %r failed: %s", action.__name__, clip(stream),
                        exc)

    async def run(self) -> None:
        """Announce streams as they get segments, refresh what is published, withdraw
        what ended. Runs until cancelled."""
        events = self._hub.watch(ConsumerKind.ANNOUNCER, events=(HubEventKind.COMMITTED,))
        follow = asyncio.create_task(self._follow(events), name="hlsd-registry-follow")
        try:
            self._offer_all()
            while True:
                await asyncio.sleep(min(self._refresh, 1.0))
                await self.sweep()
                if self._due():
                    for name in list(self._announced):
                        await self._call(self._registry.announce, name)
        finally:
            follow.cancel()
            self._hub.unwatch(events)

    def _due(self) -> bool:
        now = asyncio.get_running_loop().time()
        if now - self._last_refresh >= self._refresh:
            self._last_refresh = now
            return True
        return False

    async def sweep(self) -> None:
        for name in list(self._announced):
            stream = self._hub.get(name)
            if stream is None or stream.state is not StreamState.LIVE \
                    or stream.kind is PublisherKind.RELAY:
                self._announced.discard(name)
                await self._call(self._registry.withdraw, name)

    async def close(self) -> None:
        """Withdraw everything (a clean shutdown leaves no stale entry)."""
        for task in list(self._pending):
            with contextlib.suppress(Exception):
                await task
        for name in list(self._announced):
            await self._call(self._registry.withdraw, name)
        self._announced.clear()

