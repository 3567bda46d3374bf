"""A VOD source as a channel sees it: its bitrates, and each one's segments.

A `Program` is resolved once, when an item is added to a channel, and stored with the
channel. Playlists are computed from the stored programs and the clock alone, so every
node and every restart computes the same bytes, even if the source later changes or
disappears (its segments then play as slate).
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["ALIGNMENT_TOLERANCE_US", "AudioTrack", "Program", "ProgramVariant", "SourceKind",
           "source_key"]

ALIGNMENT_TOLERANCE_US = 500_000
"""How far a variant's segment may differ in length from the reference variant's, and
still count as the same segment of the timeline."""


class SourceKind(enum.Enum):
    """Where an item's media comes from, and so who serves its segments."""

    URL = "url"
    """An external HLS VOD (a master or media playlist URL); players fetch its segments
    from their origin, at the absolute URLs the playlist gives."""
    LIBRARY = "library"
    """An HLS VOD under the library folder; hlsd serves its files."""
    UPSTREAM = "upstream"
    """An on-demand upstream id, packaged by hlsd's VOD packager (one variant)."""
    ASSET = "asset"
    """A ready asset (an upload transcoded to CMAF): its video and separate audio
    fragments, read from the object store and served muxed as MPEG-TS."""
    FILE = "file"
    """A media file under the library folder (MP4, MKV, …), packaged like an upstream
    source (one variant). The API takes it as ``{"library": …}`` too: a path not ending
    in ``.m3u8`` is a file."""


def source_key(kind: SourceKind, ref: str) -> str:
    """A short, stable name for a source, used in segment URIs: the same source gives the
    same URIs on every node, and a CDN caches them across loops."""
    return hashlib.sha256(f"{kind.value}:{ref}".encode()).hexdigest()[:16]


@dataclass(frozen=True, kw_only=True, slots=True)
class AudioTrack:
    """A variant's audio when it is a rendition of its own (EXT-X-MEDIA TYPE=AUDIO,
    RFC 8216 §4.3.4.1): fMP4 fragments cut on their own grid, muxed into the video's
    segments by time when served."""

    durations_us: tuple[int, ...]
    uris: tuple[str, ...]
    init: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ProgramVariant:
    """One bitrate of a source: what its EXT-X-STREAM-INF says (RFC 8216 §4.3.4.2) and
    its segments (EXTINF, RFC 8216 §4.3.2.1) in order.

    `uris` are absolute URLs for `SourceKind.URL`, paths relative to the library folder
    for `SourceKind.LIBRARY`, and segment numbers for the packaged kinds (`UPSTREAM`,
    `FILE`). `init` is
    the EXT-X-MAP of an fMP4 source, in the same form.
    """

    bandwidth: int
    average_bandwidth: int | None = None
    codecs: str | None = None
    resolution: tuple[int, int] | None = None
    frame_rate: float | None = None
    durations_us: tuple[int, ...]
    uris: tuple[str, ...]
    init: str | None = None
    audio: AudioTrack | None = None

    @property
    def has_video(self) -> bool:
        if self.resolution is not None:
            return True
        return self.codecs is not None and any(
            c.strip().split(".")[0] in ("avc1", "avc3", "hvc1", "hev1", "vp09", "av01")
            for c in self.codecs.split(","))

    @property
    def has_audio(self) -> bool:
        if self.audio is not None:
            return True
        return self.codecs is None or any(
            c.strip().split(".")[0] in ("mp4a", "ac-3", "ec-3", "opus", "fLaC")
            for c in self.codecs.split(","))


@dataclass(frozen=True, kw_only=True, slots=True)
class Program:
    """A resolved source. Its variants are ordered by bandwidth, highest first, and are
    segment-aligned: the same count of segments, each within
    `ALIGNMENT_TOLERANCE_US` of the first variant's (`durations_us`, the timing grid)."""

    kind: SourceKind
    ref: str
    variants: tuple[ProgramVariant, ...]

    def __post_init__(self) -> None:
        if not self.variants:
            raise ValueError("a program needs at least one variant")
        count = len(self.variants[0].durations_us)
        if count == 0:
            raise ValueError("a program needs at least one segment")
        for variant in self.variants:
            if len(variant.durations_us) != count or len(variant.uris) != count:
                raise ValueError("the variants of a program are not segment-aligned")
            if any(d <= 0 for d in variant.durations_us):
                raise ValueError("a segment lasts more than zero seconds")

    @property
    def key(self) -> str:
        return source_key(self.kind, self.ref)

    @property
    def durations_us(self) -> tuple[int, ...]:
        """The timing grid: the first variant's segment durations, in microseconds."""
        return self.variants[0].durations_us

    @property
    def duration_us(self) -> int:
        return sum(self.durations_us)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "ref": self.ref, "variants": [
            {"bandwidth": v.bandwidth, "average_bandwidth": v.average_bandwidth,
             "codecs": v.codecs, "resolution": list(v.resolution) if v.resolution else None,
             "frame_rate": v.frame_rate, "durations_us": list(v.durations_us),
             "uris": list(v.uris), "init": v.init,
             "audio": None if v.audio is None else {
                 "durations_us": list(v.audio.durations_us), "uris": list(v.audio.uris),
                 "init": v.audio.init}}
            for v in self.variants]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Program:
        return cls(kind=SourceKind(data["kind"]), ref=data["ref"], variants=tuple(
            ProgramVariant(
                bandwidth=v["bandwidth"], average_bandwidth=v["average_bandwidth"],
                codecs=v["codecs"],
                resolution=(v["resolution"][0], v["resolution"][1]) if v["resolution"] else None,
                frame_rate=v["frame_rate"], durations_us=tuple(v["durations_us"]),
                uris=tuple(v["uris"]), init=v["init"], audio=_audio(v.get("audio")))
            for v in data["variants"]))

    def canonical(self) -> bytes:
        """The program as bytes that two nodes agree on, for an ETag or a comparison."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()


def _audio(data: dict[str, Any] | None) -> AudioTrack | None:
    if data is None:
        return None
    return AudioTrack(durations_us=tuple(data["durations_us"]), uris=tuple(data["uris"]),
                      init=data["init"])
