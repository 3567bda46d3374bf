"""Value types for HLS playlists (RFC 8216, draft-pantos-hls-rfc8216bis).

Every type is a frozen, keyword-only dataclass holding plain values, so playlists can be
built once, compared, hashed and cached. The types do not validate themselves: the
renderer does, because only a rendered playlist can be illegal (see `hlsd.hls.render`).

The Low-Latency HLS tags (rfc8216bis §4.4.3.7-8, §4.4.4.9, §4.4.5.2-4) have one type
each: `PartInf`, `ServerControl`, `PartialSegment`, `Skip`, `PreloadHint`,
`RenditionReport`; a `MediaSegment` carries its parts, and a `MediaPlaylist` the parts of
the segment still being produced (`PendingSegment`), its hints and its reports.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "ByteRange",
    "ClosedCaptions",
    "InitSection",
    "MasterPlaylist",
    "MediaPlaylist",
    "MediaSegment",
    "MediaType",
    "PartInf",
    "PartialSegment",
    "PendingSegment",
    "PlaylistType",
    "PreloadHint",
    "PreloadHintType",
    "Rendition",
    "RenditionReport",
    "ServerControl",
    "Skip",
    "VariantStream",
]


class PlaylistType(enum.Enum):
    """Value of EXT-X-PLAYLIST-TYPE (RFC 8216 §4.3.3.5)."""

    VOD = "VOD"
    EVENT = "EVENT"


class MediaType(enum.Enum):
    """Value of the TYPE attribute of EXT-X-MEDIA (RFC 8216 §4.3.4.1)."""

    AUDIO = "AUDIO"
    VIDEO = "VIDEO"
    SUBTITLES = "SUBTITLES"
    CLOSED_CAPTIONS = "CLOSED-CAPTIONS"


class ClosedCaptions(enum.Enum):
    """The enumerated-string NONE of the CLOSED-CAPTIONS attribute (RFC 8216 §4.3.4.2).

    `VariantStream(closed_captions=ClosedCaptions.NONE)` says the variant carries no
    closed captions, which is not the same as leaving the attribute out (`None`): with
    NONE a client will not look for captions embedded in the video.
    """

    NONE = "NONE"


@dataclass(frozen=True, kw_only=True, slots=True)
class ByteRange:
    """A sub-range of a resource: EXT-X-BYTERANGE `<n>[@<o>]` (RFC 8216 §4.3.2.2).

    Without an offset the range starts right after the previous segment's range, which
    must be a sub-range of the same resource.
    """

    length: int
    offset: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class InitSection:
    """EXT-X-MAP: where to get the Media Initialization Section (RFC 8216 §4.3.2.5)."""

    uri: str
    byterange: ByteRange | None = None


class PreloadHintType(enum.Enum):
    """Value of the TYPE attribute of EXT-X-PRELOAD-HINT (rfc8216bis §4.4.5.3)."""

    PART = "PART"
    MAP = "MAP"


@dataclass(frozen=True, kw_only=True, slots=True)
class PartInf:
    """EXT-X-PART-INF: the Part Target Duration, in seconds (rfc8216bis §4.4.3.7).
    Required once a playlist holds an EXT-X-PART."""

    part_target: float


@dataclass(frozen=True, kw_only=True, slots=True)
class ServerControl:
    """EXT-X-SERVER-CONTROL: the delivery directives the server supports (rfc8216bis
    §4.4.3.8). `can_skip_until` (the Skip Boundary) is at least six target durations,
    `hold_back` at least three, `part_hold_back` (required with EXT-X-PART-INF) at least
    twice the part target; `can_skip_dateranges` only with `can_skip_until`."""

    can_block_reload: bool = False
    can_skip_until: float | None = None
    can_skip_dateranges: bool = False
    hold_back: float | None = None
    part_hold_back: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PartialSegment:
    """EXT-X-PART: one Partial Segment of a Parent Segment (rfc8216bis §4.4.4.9).

    Its duration is at most the part target, and at least 85 % of it unless it is
    `independent`, a `gap`, followed by a gap, or the last part of its parent. Without
    an offset, `byterange` continues the previous part's range of the same URI."""

    uri: str
    duration: float
    independent: bool = False
    byterange: ByteRange | None = None
    gap: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class PendingSegment:
    """The segment being produced at the end of a playlist: its parts so far, with the
    tags that apply to it (and so to its first part: rfc8216bis §4.4.4.9), and no
    EXTINF or URI yet."""

    parts: tuple[PartialSegment, ...]
    discontinuity: bool = False
    program_date_time: datetime | None = None
    init: InitSection | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Skip:
    """EXT-X-SKIP: how many of the oldest segments a Playlist Delta Update leaves out
    (rfc8216bis §4.4.5.2, §6.2.5.1). `recently_removed_dateranges` (the IDs of
    EXT-X-DATERANGE tags removed within the Skip Boundary) is the ``_HLS_skip=v2`` form:
    None leaves the attribute out; an empty tuple writes it empty."""

    skipped_segments: int
    recently_removed_dateranges: tuple[str, ...] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PreloadHint:
    """EXT-X-PRELOAD-HINT: a resource the server will produce next (rfc8216bis
    §4.4.5.3); never in a playlist with EXT-X-ENDLIST, at most one per TYPE."""

    uri: str
    type: PreloadHintType = PreloadHintType.PART
    byterange_start: int | None = None
    byterange_length: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RenditionReport:
    """EXT-X-RENDITION-REPORT: where another rendition of the presentation is
    (rfc8216bis §4.4.5.4). `uri` is relative to the playlist that holds the report;
    `last_part` is required when that rendition has parts."""

    uri: str
    last_msn: int
    last_part: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class MediaSegment:
    """One media segment: EXTINF plus its URI line and the tags that apply to it.

    RFC 8216 §4.3.2: EXTINF (§4.3.2.1), EXT-X-BYTERANGE (§4.3.2.2), EXT-X-DISCONTINUITY
    (§4.3.2.3), EXT-X-PROGRAM-DATE-TIME (§4.3.2.6); EXT-X-GAP (rfc8216bis §4.4.4.7);
    its EXT-X-PART tags (rfc8216bis §4.4.4.9), written before its EXTINF.

    `init` is an EXT-X-MAP that starts applying at this segment and stays in force for
    the segments after it, until the next one. `program_date_time` must be timezone-aware.
    """

    uri: str
    duration: float
    title: str = ""
    discontinuity: bool = False
    program_date_time: datetime | None = None
    byterange: ByteRange | None = None
    init: InitSection | None = None
    gap: bool = False
    parts: tuple[PartialSegment, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class MediaPlaylist:
    """A Media Playlist (RFC 8216 §4.3.3).

    `init` is the EXT-X-MAP for the first segment (and every later one, until a segment
    carries its own `init`); a first segment with its own `init` overrides it. Parsing
    always puts the first segment's map here. `version` None means "the lowest
    EXT-X-VERSION the features need" (RFC 8216 §7), computed when rendering.

    Low-Latency HLS: `part_inf` and `server_control` describe the playlist; `skip`
    stands for the oldest segments of a delta update (the segments given are those
    after them); `pending` is the segment being produced, after the last whole one;
    then the `preload_hints` and the `rendition_reports`.
    """

    target_duration: int
    segments: tuple[MediaSegment, ...]
    media_sequence: int = 0
    discontinuity_sequence: int = 0
    playlist_type: PlaylistType | None = None
    endlist: bool = False
    independent_segments: bool = False
    i_frames_only: bool = False
    init: InitSection | None = None
    version: int | None = None
    part_inf: PartInf | None = None
    server_control: ServerControl | None = None
    skip: Skip | None = None
    pending: PendingSegment | None = None
    preload_hints: tuple[PreloadHint, ...] = ()
    rendition_reports: tuple[RenditionReport, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Rendition:
    """EXT-X-MEDIA: one rendition in a group of renditions (RFC 8216 §4.3.4.1).

    `instream_id` (INSTREAM-ID, e.g. "CC1" or "SERVICE1") is required for
    CLOSED_CAPTIONS, which in turn must not have a `uri`.
    """

    type: MediaType
    group_id: str
    name: str
    uri: str | None = None
    language: str | None = None
    default: bool = False
    autoselect: bool = False
    forced: bool = False
    channels: str | None = None
    instream_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class VariantStream:
    """EXT-X-STREAM-INF plus its URI line (RFC 8216 §4.3.4.2).

    `audio`, `video`, `subtitles` and `closed_captions` name GROUP-IDs of renditions;
    `closed_captions` may also be `ClosedCaptions.NONE`.
    """

    uri: str
    bandwidth: int
    average_bandwidth: int | None = None
    codecs: str | None = None
    resolution: tuple[int, int] | None = None
    frame_rate: float | None = None
    audio: str | None = None
    video: str | None = None
    subtitles: str | None = None
    closed_captions: str | ClosedCaptions | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class MasterPlaylist:
    """A Master (Multivariant) Playlist (RFC 8216 §4.3.4).

    `version` None means "the lowest EXT-X-VERSION the features need" (RFC 8216 §7).
    """

    variants: tuple[VariantStream, ...]
    renditions: tuple[Rendition, ...] = ()
    independent_segments: bool = False
    version: int | None = None
