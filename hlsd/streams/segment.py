"""The value types a live rendition holds."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

SEGMENT_MEDIA_TYPES = {".ts": "video/mp2t", ".m4s": "video/iso.segment", ".mp4": "video/mp4",
                       ".aac": "audio/aac"}
"""The media type of a segment (or init section) by its name's extension."""


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

    def read(self) -> bytes:
        """The bytes, from memory or from the spill file (blocking: use a thread)."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()
