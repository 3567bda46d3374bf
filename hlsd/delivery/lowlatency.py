"""Low-Latency HLS on ``/live/…``: the delivery directives of a media playlist request
(rfc8216bis §6.2.5) and parts by URI, hinted ones included (§6.2.6).

- ``_HLS_msn=M`` (with ``_HLS_part=N``) holds the request until the playlist holds
  segment M whole (part N of segment M, or a later part), then answers that playlist;
  400 when M is more than two segments past the newest, N more than the Advance Part
  Limit past the newest part, ``_HLS_part`` comes alone or a number is not one; 503
  when it held for three target durations, or when the stream already has
  `max_waiters` requests parked. Once the stream ends, the ended playlist answers.
- ``_HLS_skip=YES|v2``: a delta update (`hlsd.streams.Skipping`), alone or with the
  above.
- A part is served by its URI while its segment is available; the part the playlist
  hints (EXT-X-PRELOAD-HINT) is held until it exists (at most three target durations,
  then 404).
Every held request parks on its rendition's one `ChangeSignal`, released together with
all the others by the change they wait for; none polls.

An answer to a blocking request is one version of the playlist named by its URL, so
shared caches may keep it six target durations (rfc8216bis Appendix B.1); a gate makes
it private, as every gated answer.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote_plus

from hlsd.delivery.request import Request
from hlsd.delivery.resource import (
    IMMUTABLE,
    LIVE_PLAYLIST,
    Caching,
    Refused,
    Resource,
    content_type,
    playlist_of,
)
from hlsd.hls.values import is_decimal_integer
from hlsd.streams import LiveRendition, Part, Segment, Skipping, Stream
from hlsd.streams.segment import SEGMENT_MEDIA_TYPES

__all__ = ["BLOCKED_TARGETS", "HOLD_TARGETS", "MAX_WAITERS", "Answer", "Directives",
           "LowLatency", "advance_part_limit", "directives"]

Answer = Resource | Coroutine[Any, Any, Resource]
"""A resource now, or one to await (a request held until what it asks for exists)."""

HOLD_TARGETS = 3
"""A request is held at most this many target durations (rfc8216bis §6.2.5.2)."""
BLOCKED_TARGETS = 6
"""Target durations a shared cache may keep the answer to a blocking request."""
MAX_WAITERS = 4096
"""Requests one stream may have parked at once (then 503)."""
_MAX_DIGITS = 20
_SKIPPING = {"YES": Skipping.YES, "v2": Skipping.V2}
_TYPES = {ext: content_type(kind) for ext, kind in SEGMENT_MEDIA_TYPES.items()}
_OCTETS = content_type("application/octet-stream")
_RETRY = ((b"retry-after", b"1"),)


class Directives(NamedTuple):
    msn: int | None
    part: int | None
    skip: Skipping


def directives(request: Request) -> Directives:
    """The delivery directives of a playlist request; `Refused` (400) when they are
    not numbers, or ``_HLS_part`` comes without ``_HLS_msn``."""
    query: bytes = request.scope["query_string"]
    values = _directive_values(query) if b"_HLS_" in query else {}
    msn = _number(values, "_HLS_msn")
    part = _number(values, "_HLS_part")
    if part is not None and msn is None:
        raise Refused(400, "_HLS_part needs _HLS_msn")
    skip = _SKIPPING.get(values.get("_HLS_skip", ""), Skipping.NONE)
    return Directives(msn, part, skip)


def _directive_values(query: bytes) -> dict[str, str]:
    """The ``_HLS_`` parameters of a query string, the first of each name (what
    `parse_qs` gives, at a fraction of its cost: every parked player asks with them)."""
    values: dict[str, str] = {}
    for pair in query.decode("latin-1").split("&"):
        if pair.startswith("_HLS_"):
            name, _, value = pair.partition("=")
            values.setdefault(name, unquote_plus(value) if "%" in value or "+" in value
                              else value)
    return values


def _number(values: dict[str, str], name: str) -> int | None:
    text = values.get(name)
    if text is None:
        return None
    if not is_decimal_integer(text) or len(text) > _MAX_DIGITS:
        raise Refused(400, f"{name} must be a decimal integer")
    return int(text)


def advance_part_limit(part_target: float) -> int:
    """How many parts past the newest a client may ask for (rfc8216bis §6.2.5.2)."""
    return int(3 / part_target) if part_target < 1 else 3


class LowLatency:
    def __init__(self, *, max_waiters: int = MAX_WAITERS,
                 max_hold: float | None = None) -> None:
        """`max_hold`: seconds a request may be held at most, if less than three target
        durations (for tests)."""
        self._max_waiters = max_waiters
        self._max_hold = max_hold
        self._blocked: dict[int, Caching] = {}

    def playlist(self, stream: Stream, variant: str, request: Request) -> Answer:
        """The playlist of `variant` (which has parts) under the request's directives."""
        rendition = stream.renditions[variant]
        wanted = directives(request)
        if wanted.msn is None or rendition.ended:
            return self._answer(stream, variant, wanted)
        newest = rendition.last_part()
        if newest is not None:
            self._check_ahead(rendition, newest, wanted.msn, wanted.part)
        if rendition.has(wanted.msn, wanted.part):
            return self._answer(stream, variant, wanted)
        self._admit(stream)
        return self._held_playlist(stream, variant, wanted)

    def _check_ahead(self, rendition: LiveRendition, newest: tuple[int, int], msn: int,
                     part: int | None) -> None:
        last_msn, last_part = newest
        if msn > last_msn + 2:
            raise Refused(400, "_HLS_msn is more than two segments past the newest")
        if part is None:
            return
        assert rendition.part_target is not None
        limit = advance_part_limit(rendition.part_target)
        ahead = part - last_part if msn == last_msn else part + 1 if msn > last_msn else 0
        if ahead > limit:
            raise Refused(400, "_HLS_part is past the Advance Part Limit")

    def _admit(self, stream: Stream) -> None:
        if stream.waiting >= self._max_waiters:
            raise Refused(503, "too many requests are waiting on this stream", _RETRY)

    def _hold_for(self, rendition: LiveRendition) -> float:
        hold = HOLD_TARGETS * (rendition.target_duration or 1)
        return hold if self._max_hold is None else min(hold, self._max_hold)

    async def _held_playlist(self, stream: Stream, variant: str,
                             wanted: Directives) -> Resource:
        rendition = stream.renditions[variant]
        assert wanted.msn is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._hold_for(rendition)
        while not (rendition.ended or rendition.has(wanted.msn, wanted.part)):
            left = deadline - loop.time()
            if left <= 0:
                raise Refused(503, "the playlist did not reach the segment or part asked "
                                   "for in three target durations", _RETRY)
            await rendition.changes.wait(left)
        return self._answer(stream, variant, wanted)

    def _answer(self, stream: Stream, variant: str, wanted: Directives) -> Resource:
        rendered = stream.media_playlist(variant, wanted.skip)
        if rendered is None:
            raise Refused(404, "the stream has no segments yet")
        if wanted.msn is None:
            return playlist_of(rendered, LIVE_PLAYLIST)
        target = stream.renditions[variant].target_duration or 1
        caching = self._blocked.get(target)
        if caching is None:  # one per target duration (at most 3600 of them)
            caching = self._blocked[target] = Caching(max_age=BLOCKED_TARGETS * target)
        return playlist_of(rendered, caching)

    def part(self, stream: Stream, rendition: LiveRendition, name: str) -> Answer:
        """A part by its URI; the hinted next one once it exists; else 404."""
        found = rendition.get_part(name)
        if found is not None:
            return _part_resource(*found, name)
        if rendition.ended or name != rendition.next_part_name:
            raise Refused(404, "no such segment or part (or no longer available)")
        self._admit(stream)
        return self._held_part(rendition, name)

    async def _held_part(self, rendition: LiveRendition, name: str) -> Resource:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._hold_for(rendition)
        while (found := rendition.get_part(name)) is None:
            left = deadline - loop.time()
            if left <= 0 or rendition.ended or name != rendition.next_part_name:
                # Not in time, or never (the stream ended, another session took over).
                raise Refused(404, "the hinted part was not produced")
            await rendition.changes.wait(left)
        answer = _part_resource(*found, name)
        return answer if isinstance(answer, Resource) else await answer


def _part_resource(part: Part, segment: Segment | None, name: str) -> Answer:
    kind = _TYPES.get(posixpath.splitext(name)[1], _OCTETS)
    data = part.data
    if data is not None:
        # A closed segment's part is a view into its bytes: only the part is copied.
        return Resource(data if isinstance(data, bytes) else bytes(data), kind, IMMUTABLE)
    assert segment is not None and segment.path is not None  # spilled: from its file
    return _spilled_part(segment.path, part.offset, part.size, kind)


async def _spilled_part(path: Path, offset: int, size: int,
                        kind: tuple[bytes, bytes]) -> Resource:
    try:
        data = await asyncio.to_thread(_read, path, offset, size)
    except FileNotFoundError:
        raise Refused(404, "part no longer available") from None
    return Resource(data, kind, IMMUTABLE)


def _read(path: Path, offset: int, size: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, size, offset)
    finally:
        os.close(fd)
