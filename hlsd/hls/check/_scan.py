"""A media playlist as the rules (and a fetching checker) see it: its segments, and its
Low-Latency HLS parts and tags. Data only: `_media.scan_media` fills it in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from hlsd.hls.check._lowlatency import LowLatency, Position, ScannedPart
from hlsd.hls.check._violation import Violation

__all__ = ["InitRef", "MediaScan", "ScannedSegment"]

# How far from the true duration a decimal EXTINF may be written: its rounding.
DECIMAL_PRECISION = 0.001


@dataclass(frozen=True, slots=True)
class InitRef:
    """The EXT-X-MAP a segment needs: its URI and byte range, as written."""

    uri: str
    byterange: str | None


@dataclass(frozen=True, slots=True)
class ScannedSegment:
    """What the rules (and a fetching checker) need of one segment; `line` is the line
    of its URI. `encrypted`: an EXT-X-KEY with a METHOD other than NONE applies.
    `precision`: how far its EXTINF may be from the true duration as written (half a
    second for an integer, which rounds: RFC 8216 §4.3.2.1)."""

    uri: str
    line: int
    duration: float | None
    discontinuity: bool
    program_date_time: datetime | None
    byterange: str | None
    init: InitRef | None = None
    encrypted: bool = False
    precision: float = DECIMAL_PRECISION


@dataclass
class MediaScan(LowLatency):
    """A media playlist as the rules see it. Values that are missing or unreadable are
    None (and reported in `violations`).

    Low-Latency HLS (the fields of `LowLatency`, which fills them): `parts` in playlist
    order (those after the last segment belong to the segment being made, MSN
    `next_msn`), `part_target` (EXT-X-PART-INF), `server_control`, `preload_hints`,
    `rendition_reports`, and `skip` in a delta update."""

    segments: list[ScannedSegment] = field(default_factory=list)
    target_duration: int | None = None
    media_sequence: int = 0
    skipped: int = 0
    discontinuity_sequence: int = 0
    playlist_type: str | None = None
    endlist: bool = False
    i_frames_only: bool = False

    @property
    def first_msn(self) -> int:
        """MSN of `segments[0]`: a delta update (EXT-X-SKIP) leaves out the first ones."""
        return self.media_sequence + self.skipped

    @property
    def next_msn(self) -> int:
        """MSN of the segment after the last one listed: the one its open parts build."""
        return self.first_msn + len(self.segments)

    @property
    def can_block_reload(self) -> bool:
        return self.server_control is not None and self.server_control.can_block_reload

    @property
    def last_position(self) -> Position | None:
        """The newest media listed: the last part, or the last whole segment if later."""
        candidates = []
        if self.parts:
            candidates.append(self.parts[-1].position)
        if self.segments:
            candidates.append(Position(self.next_msn - 1))
        return max(candidates, key=lambda position: position.key, default=None)

    @property
    def next_position(self) -> Position:
        """What a blocking reload asks for next (rfc8216bis §6.3.8): the part after the
        last one, the first part of the next segment when the last one is whole, or the
        next segment of a playlist without parts."""
        if not self.parts:
            return Position(self.next_msn)
        last = self.parts[-1]
        if last.msn == self.next_msn:
            return Position(last.msn, last.index + 1)
        return Position(self.next_msn, 0)

    def parts_of(self, msn: int) -> list[ScannedPart]:
        return [part for part in self.parts if part.msn == msn]

    def add(self, rule: str, message: str, line: int | None = None) -> None:
        self.violations.append(Violation(rule, message, line))
