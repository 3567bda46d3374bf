"""The value types a live rendition holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class InitSegment:
    """An fMP4 initialization section (EXT-X-MAP, RFC 8216 §4.3.2.5)."""

    name: str
    data: bytes


@dataclass(frozen=True, kw_only=True, slots=True)
class Segment:
    """One media segment of a live rendition (EXTINF, RFC 8216 §4.3.2.1).

    `data` is the one ``bytes`` object sent to every listener. `name` is the URI it is
    served under; it is unique for the stream's lifetime, so one media sequence number
    keeps one URI and a CDN never mixes two publishing sessions.
    """

    sequence: int
    name: str
    duration: float
    data: bytes
    program_date_time: datetime
    discontinuity: bool = False
    init: InitSegment | None = None

    @property
    def size(self) -> int:
        return len(self.data)
