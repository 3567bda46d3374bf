"""The console's overview: one snapshot of this node (its live streams, its health, its
recent errors), and the followers it is pushed to as it changes.

The snapshot is built at most once per `interval` while anyone follows, encoded once,
and the same bytes go to every follower: a hundred open overview pages cost what one
does, and nothing polls per stream. A follower is told only of changes (a new segment
changes a stream's figures, so a live node changes about once a segment); it waits on
one shared event, never on a timer of its own but its keep-alive.

Followers are bounded (`max_followers`): one more is `TooManyFollowers` (503). A
follower whose page went away is let go when its connection is (`Follower.close`), or
at the latest when it is garbage (it is tracked weakly), so a slot cannot leak.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from hlsd.errors import Unavailable
from hlsd.infra.recent_log import RecentLog
from hlsd.streams import Stream, StreamHub, StreamState

__all__ = ["BITRATE_SEGMENTS", "MAX_FOLLOWERS", "Follower", "Overview", "TooManyFollowers"]

log = logging.getLogger(__name__)

MAX_FOLLOWERS = 64
"""Overview pages following at once on this node."""
BITRATE_SEGMENTS = 3
"""A variant's current bitrate is measured over its newest segments, this many."""


class TooManyFollowers(Unavailable):
    """Every overview slot is taken."""


class Overview:
    def __init__(self, *, hub: StreamHub, describe: Callable[[Stream], dict[str, Any]],
                 health: Callable[[], Mapping[str, Any]], recent: RecentLog,
                 publish_key_required: bool, max_followers: int = MAX_FOLLOWERS,
                 interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        """`describe`: a stream as ``GET /api/streams`` lists it; `health`: what
        ``GET /api/health`` answers."""
        self._hub = hub
        self._describe = describe
        self._health = health
        self._recent = recent
        self._publish_key_required = publish_key_required
        self.max_followers = max_followers
        self.interval = interval
        self._clock = clock
        self._followers: weakref.WeakSet[Follower] = weakref.WeakSet()
        self._current = b""
        self._built = -float("inf")
        self.version = 0
        """One more at every change of the snapshot."""
        self.builds = 0
        """Snapshots built so far (the tests check they are shared)."""
        self._changed = asyncio.Event()

    @property
    def followers(self) -> int:
        return len(self._followers)

    @property
    def current(self) -> bytes:
        """The newest snapshot, as JSON."""
        return self._current

    def snapshot(self) -> dict[str, Any]:
        """This node now: ``streams`` (each as ``GET /api/streams`` lists it, plus its
        ``bitrate``, ``viewers`` (websocket spectators; HTTP players hold no connection
        to count: the listing's ``played_recently`` and ``held_requests`` say what is
        known of them) and ``newest`` segment; each variant its ``bitrate`` and
        ``newest``), ``node`` (``GET /api/health``), ``errors``
        (the recent warnings and errors, oldest first) and ``publish`` (what a
        publisher needs to know)."""
        return {
            "streams": [self._stream(s) for s in sorted(self._hub, key=lambda s: s.name)],
            "node": dict(self._health()),
            "errors": [asdict(entry) for entry in self._recent.entries()],
            "publish": {"key_required": self._publish_key_required},
        }

    def _stream(self, stream: Stream) -> dict[str, Any]:
        described = self._describe(stream)
        live = stream.state is StreamState.LIVE
        current = dict(stream.current())
        for variant in described.get("variants", []):
            rendition = stream.renditions.get(variant["name"])
            newest = rendition.segments[-1] if rendition and rendition.segments else None
            variant["bitrate"] = (rendition.recent_bitrate(BITRATE_SEGMENTS)
                                  if rendition and live else 0)
            variant["newest"] = newest.name if newest else None
        first = next(iter(current.values()), None)
        newest = first.segments[-1] if first is not None and first.segments else None
        return {
            **described,
            "bitrate": (sum(r.recent_bitrate(BITRATE_SEGMENTS) for r in current.values())
                        if live else 0),
            "viewers": stream.spectators,
            # What the thumbnail shows: the newest segment of the first variant.
            "newest": newest.name if newest else None,
        }

    def refresh(self) -> bool:
        """Build the snapshot now; whether it changed (then every follower is woken)."""
        self.builds += 1
        self._built = self._clock()
        encoded = json.dumps(self.snapshot(), separators=(",", ":")).encode()
        if encoded == self._current:
            return False
        self._current = encoded
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        return True

    async def run(self) -> None:
        """Refresh every `interval` while anyone follows (the app's task)."""
        while True:
            await asyncio.sleep(self.interval)
            if self._followers:
                try:
                    self.refresh()
                except Exception:  # the next tick tries again; the pages keep the last
                    log.exception("the console overview could not be built")

    def follow(self) -> Follower:
        """A new follower, its first snapshot fresh; `TooManyFollowers` past the bound."""
        if len(self._followers) >= self.max_followers:
            raise TooManyFollowers(
                f"this node serves {self.max_followers} overview pages at once, all taken; "
                "close another overview page or try again later")
        if self._clock() - self._built >= self.interval or not self._current:
            self.refresh()  # nobody followed: what there is may be old
        follower = Follower(self)
        self._followers.add(follower)
        return follower

    def _leave(self, follower: Follower) -> None:
        self._followers.discard(follower)

    async def _wait(self, timeout: float) -> bool:
        """Until the next change (True) or `timeout` seconds (False)."""
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            return False
        return True


class Follower:
    """One overview page's place: `next` gives each snapshot it has not had yet."""

    def __init__(self, overview: Overview) -> None:
        self._overview = overview
        self._seen = -1

    async def next(self, timeout: float) -> bytes | None:
        """The snapshot as soon as it differs from the last one given (at once the first
        time); None after `timeout` seconds without a change."""
        overview = self._overview
        if self._seen == overview.version and not await overview._wait(timeout):
            return None
        self._seen = overview.version
        return overview.current

    def close(self) -> None:
        self._overview._leave(self)
