"""Where a stream comes from, asked the same way by every consumer that reads streams:
HTTP players at ``/live``, websocket PULL, and the recorder.

The order is: the local hub (a stream published here, or already relayed or fed) → a
channel fed into the hub (VOD-to-live, for consumers that read segment by segment) → a
relay from the node that publishes it (the publish registry, then
``cluster.relay_from``) → none. So a stream pushed to one node plays at
``/live/<stream>/`` on every node of a cluster, and can be recorded on any of them.

HTTP players never start a channel's feed: `delivery/live.py` serves a channel's computed
playlists before it asks here. A relay started for them is kept while they ask for
playlists (`Stream.played`), and closes as a websocket one does once nobody watches
(`Relays.watched`).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from hlsd.infra.logs import clip
from hlsd.streams import PublisherKind, Stream, StreamHub, StreamState

log = logging.getLogger(__name__)

PLAYER_WAIT = 8.0
"""Seconds an HTTP player's first playlist request waits for a relay's first fragment
(hls.js gives up on a playlist after 10 s)."""
MAX_PLAYER_LOOKUPS = 64
"""Stream names looked up for HTTP players at once: public requests cannot make this
node open more relay connections than that."""
FOLLOW_EVERY = 5.0
"""Seconds between two looks for a stream that is recorded here but not on air."""
_LOG_EVERY = 60.0


class Origin(enum.StrEnum):
    """Where `StreamResolver.resolve` found a stream."""

    LOCAL = "local"
    """The hub had it live (published here, or relayed or fed already)."""
    CHANNEL = "channel"
    """A channel of that name, now fed into the hub."""
    RELAY = "relay"
    """Another node publishes it; now relayed into the hub."""


@dataclass(frozen=True, slots=True)
class Resolved:
    stream: Stream
    origin: Origin


class ChannelSource(Protocol):
    async def find(self, name: str) -> Stream | None: ...


class RelaySource(Protocol):
    async def find(self, stream_id: str, via: tuple[str, ...],
                   wait: float | None = None) -> Stream | None: ...


class StreamResolver:
    def __init__(self, *, hub: StreamHub, feeds: ChannelSource, relays: RelaySource,
                 player_wait: float = PLAYER_WAIT,
                 max_player_lookups: int = MAX_PLAYER_LOOKUPS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._hub = hub
        self._feeds = feeds
        self._relays = relays
        self._player_wait = player_wait
        self._max_player_lookups = max_player_lookups
        self._clock = clock
        self._player_lookups: dict[str, int] = {}
        self._refusal_logged = -math.inf
        self._followed: dict[str, float] = {}
        self._following: dict[str, asyncio.Task[Resolved | None]] = {}

    async def resolve(self, name: str, via: tuple[str, ...] = ()) -> Resolved | None:
        """The live stream `name` and where it came from; None if nothing has it.
        `via`: the nodes a websocket request came through (relay-loop refusal)."""
        live = self._live(name)
        if live is not None:
            return Resolved(live, Origin.LOCAL)
        fed = await self._feeds.find(name)
        if fed is not None:
            return Resolved(fed, Origin.CHANNEL)
        relayed = await self._relays.find(name, via)
        if relayed is not None:
            return Resolved(relayed, Origin.RELAY)
        return None

    async def find(self, name: str, via: tuple[str, ...] = ()) -> Stream | None:
        """`resolve`'s stream alone: the on-demand hook of websocket PULL and the
        recorder."""
        resolved = await self.resolve(name, via)
        return resolved.stream if resolved is not None else None

    async def resolve_for_players(self, name: str) -> Stream | None:
        """For HTTP players, once neither the hub nor a channel has `name` (their
        channels are computed, never fed): the stream relayed from the node that
        publishes it, waiting at most `player_wait` seconds for its first playlist."""
        live = self._live(name)
        if live is not None and live.kind is not PublisherKind.CHANNEL:
            return live
        looking = self._player_lookups.get(name, 0)
        if not looking and len(self._player_lookups) >= self._max_player_lookups:
            if self._clock() - self._refusal_logged > _LOG_EVERY:  # one line a minute
                self._refusal_logged = self._clock()
                log.warning("stream %r: not looked up for an HTTP player: %d other names "
                            "are being looked up", clip(name), self._max_player_lookups)
            return None
        self._player_lookups[name] = looking + 1
        try:
            return await self._relays.find(name, (), self._player_wait)
        finally:
            left = self._player_lookups[name] - 1
            if left:
                self._player_lookups[name] = left
            else:
                del self._player_lookups[name]

    def follow(self, names: Iterable[str]) -> None:
        """Look again, in the background, for each of `names` (the streams recorded
        here) that is not live in the hub, at most every `FOLLOW_EVERY` seconds: a
        relay whose upstream ended and came back, a channel after a restart."""
        now = self._clock()
        wanted = set(names)
        for name in list(self._followed):
            if name not in wanted:
                del self._followed[name]
        for name in wanted:
            if self._live(name) is not None or name in self._following \
                    or now - self._followed.get(name, -math.inf) < FOLLOW_EVERY:
                continue
            self._followed[name] = now
            task = asyncio.create_task(self.resolve(name), name=f"hlsd-follow-{name}")
            self._following[name] = task
            task.add_done_callback(functools.partial(self._followed_up, name))

    def _followed_up(self, name: str, task: asyncio.Task[Resolved | None]) -> None:
        if self._following.get(name) is task:
            del self._following[name]
        if not task.cancelled() and (error := task.exception()) is not None:
            log.warning("stream %r: looking it up for its recording failed: %s",
                        clip(name), clip(error))

    async def close(self) -> None:
        tasks = list(self._following.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._following.clear()

    def _live(self, name: str) -> Stream | None:
        stream = self._hub.get(name)
        return stream if stream is not None and stream.state is StreamState.LIVE else None
