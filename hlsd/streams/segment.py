"""The value types a live rendition holds.

A segment arrives whole (HTTP push, LiveMix, websocket fragments, relays, channels), or,
for LL-HLS, grows by `Part`s in an `OpenSegment` that becomes a `Segment` when it is
closed: the closed segment's bytes are the one ``bytes`` object served to everyone, and
its parts are views into them (no second copy is kept).
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

SEGMENT_MEDIA_TYPES = {".ts": "video/mp2t", ".m4s": "video/iso.segment", ".mp4": "video/mp4",
                       ".aac": "audio/aac"}
"""The media type of a segment (or init section) by its name's extension."""


MAX_SEGMENT_DURATION = 3600.0
"""Seconds a live segment may last (and a target duration may be): far past any real
segment, and small enough that every time computed from it stays in range."""


def duration_problem(duration: float) -> str | None:
    """Why `duration` (seconds) is no live segment's duration, or None."""
    if not math.isfinite(duration) or duration < 0:
        return "must be a finite number of seconds, not negative"
    if duration > MAX_SEGMENT_DURATION:
        return f"must be at most {MAX_SEGMENT_DURATION:.0f} seconds"
    return None


class SegmentTooLong(ValueError):
    """A segment longer than the rendition's fixed target duration (`LiveRendition.fits`)."""


def media_type(name: str, default: str = "application/octet-stream") -> str:
    return SEGMENT_MEDIA_TYPES.get(posixpath.splitext(name)[1], default)


@dataclass(frozen=True, kw_only=True, slots=True)
class InitSegment:
    """An fMP4 initialization section (EXT-X-MAP, RFC 8216 §4.3.2.5)."""

    name: str
    data: bytes


@dataclass(frozen=True, kw_only=True, slots=True)
class Segment:
    """One media segment of a live rendition (EXTINF, RFC 8216 §4.3.2.1).

    `data` is the one ``bytes`` object sent to every listener, or None once the segment
    has spilled to `path` on disk. `name` is the URI it is served under; it is unique
    for the stream's lifetime, so one media sequence number keeps one URI and a CDN
    never mixes two publishing sessions.
    """

    sequence: int
    name: str
    duration: float
    size: int
    program_date_time: datetime
    data: bytes | None
    path: Path | None = None
    discontinuity: bool = False
    init: InitSegment | None = None

    parts: tuple[Part, ...] = ()
    """The LL-HLS parts it was produced as (EXT-X-PART), views into `data` (their
    places only, once it has spilled); none for a segment that arrived whole."""

    @property
    def bitrate(self) -> float:
        """Its bits per second, as measured (0 for a segment without duration)."""
        return self.size * 8 / self.duration if self.duration > 0 else 0.0

    def read(self) -> bytes:
        """The bytes, from memory or from the spill file (blocking: use a thread)."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()


@dataclass(frozen=True, kw_only=True, slots=True)
class Part:
    """One partial segment (EXT-X-PART, rfc8216bis §4.4.4.9)."""

    number: int
    """Its number in its rendition: parts are counted across segments, so the URI of
    the next one is known before it exists (EXT-X-PRELOAD-HINT), whether or not a
    segment closes first."""
    index: int
    """Its place in its segment, from 0 (the Part Index of ``_HLS_part``)."""
    name: str
    """The URI it is served under (`part_name`), unique for the stream's lifetime."""
    duration: float
    offset: int
    """Where its bytes begin in its segment's."""
    size: int
    data: bytes | memoryview | None
    """Its bytes: its own while its segment is open, a view into the segment's once
    closed, None once the segment has spilled (read from the file at `offset`)."""
    independent: bool = False
    """It begins with an independent frame (a keyframe): INDEPENDENT=YES."""


def part_name(session: str, number: int, extension: str) -> str:
    """The URI of part `number` of a publishing session: never one of a segment's
    (``<session>-<sequence>.<ext>``)."""
    return f"{session}-p{number}.{extension}"


class OpenSegment:
    """The segment a rendition is producing part by part: numbered, timed and placed
    (discontinuity, init section) when its first part arrives; `close` makes it a
    `Segment`."""

    def __init__(self, *, sequence: int, name: str, program_date_time: datetime,
                 discontinuity: bool, init: InitSegment | None) -> None:
        self.sequence = sequence
        self.name = name
        self.program_date_time = program_date_time
        self.discontinuity = discontinuity
        self.init = init
        self.parts: list[Part] = []
        self.duration = 0.0
        self.size = 0

    def add(self, *, number: int, name: str, duration: float, data: bytes,
            independent: bool) -> Part:
        part = Part(number=number, index=len(self.parts), name=name, duration=duration,
                    offset=self.size, size=len(data), data=data, independent=independent)
        self.parts.append(part)
        self.duration += duration
        self.size += len(data)
        return part

    @classmethod
    def carried(cls, *, sequence: int, name: str, program_date_time: datetime,
                discontinuity: bool, init: InitSegment | None,
                parts: Iterable[Part]) -> OpenSegment:
        """The open segment a snapshot carried (`hlsd.streams.snapshot`): its name kept
        as it was, its parts added again in order (so numbered and placed the same)."""
        opened = cls(sequence=sequence, name=name, program_date_time=program_date_time,
                     discontinuity=discontinuity, init=init)
        for part in parts:
            assert part.data is not None  # an open segment's parts hold their bytes
            opened.add(number=part.number, name=part.name, duration=part.duration,
                       data=bytes(part.data), independent=part.independent)
        return opened

    def close(self) -> Segment:
        """The whole segment: its parts' bytes joined once, the parts kept as views."""
        data = b"".join(part.data for part in self.parts if part.data is not None)
        return Segment(sequence=self.sequence, name=self.name, duration=self.duration,
                       size=len(data), program_date_time=self.program_date_time, data=data,
                       discontinuity=self.discontinuity, init=self.init,
                       parts=viewing(data, self.parts))


def viewing(data: bytes, parts: Iterable[Part]) -> tuple[Part, ...]:
    """`parts` as views into `data`, their segment's one bytes object, each at its
    offset (no second copy of the bytes is kept)."""
    view = memoryview(data)
    return tuple(replace(part, data=view[part.offset:part.offset + part.size])
                 for part in parts)
