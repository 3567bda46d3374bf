"""What the live segmenter hands its output, and its one error (public through
`hlsd.media.live_segmenter`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hlsd import errors


@dataclass(frozen=True, kw_only=True, slots=True)
class TrackInfo:
    """What a multivariant playlist says of the stream (EXT-X-STREAM-INF)."""

    codecs: str
    """The RFC 6381 CODECS value, video first: ``avc1.64001f,mp4a.40.2``."""
    resolution: tuple[int, int] | None
    frame_rate: float | None
    bandwidth: int | None
    """An estimate in bits/s: the highest rate of a GOP or segment seen so far (the
    first init has the first GOP's); None when nothing was measured yet (audio only)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class CmafInit:
    data: bytes
    """ftyp + moov, every track of the stream (EXT-X-MAP)."""
    info: TrackInfo
    target_duration: int
    """EXT-X-TARGETDURATION: no segment made with this init lasts longer."""
    part_target: float
    """EXT-X-PART-INF:PART-TARGET: no part lasts longer (unless one frame alone does)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class CmafPart:
    data: bytes
    """moof + mdat: one moof with a traf per track that has samples in the part."""
    duration: float
    """Seconds of media the part covers, on the video's timeline (audio only: audio's)."""
    independent: bool
    """It starts with a video keyframe (always, for audio only)."""
    starts_segment: bool
    arrived: datetime
    """UTC wall clock when the first of the part's frames was read from the input."""


class SegmenterOutput(Protocol):
    """Told of inits and parts from the segmenter's thread, in order."""

    def init(self, init: CmafInit) -> None:
        """First, and again when codec parameters change: the next part then starts a
        segment."""
        ...

    def part(self, part: CmafPart) -> None: ...


class MediaRefused(errors.Invalid):
    """The input cannot be segmented: it does not demux as the container it was said to
    be, it has no audio or video, or a codec hlsd does not carry in CMAF (the message
    names it, for the publisher)."""
