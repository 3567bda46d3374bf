"""The lowest EXT-X-VERSION a playlist model needs (RFC 8216 §7, rfc8216bis §8).

Only features the model can express are counted here; `hlsd.hls.check` checks the
full list against playlist text.
"""

from __future__ import annotations

from hlsd.hls.model import MasterPlaylist, MediaPlaylist
from hlsd.hls.values import format_duration

__all__ = ["min_master_version", "min_media_version"]


def min_media_version(playlist: MediaPlaylist) -> int:
    """Version 3 for decimal EXTINF, 4 for EXT-X-BYTERANGE or EXT-X-I-FRAMES-ONLY,
    6 for EXT-X-MAP (5 in an I-frame playlist), 9 for EXT-X-SKIP and 10 for one that
    stands for EXT-X-DATERANGE tags too (``_HLS_skip=v2``: it carries
    RECENTLY-REMOVED-DATERANGES). The other Low-Latency tags (EXT-X-PART, -PART-INF,
    -SERVER-CONTROL, -PRELOAD-HINT, -RENDITION-REPORT) need no version (rfc8216bis §8
    names none for them)."""
    version = 1
    segments = playlist.segments
    if any("." in format_duration(segment.duration) for segment in segments):
        version = 3
    if playlist.i_frames_only or any(segment.byterange is not None for segment in segments):
        version = 4
    pending_map = playlist.pending is not None and playlist.pending.init is not None
    if playlist.init is not None or pending_map \
            or any(segment.init is not None for segment in segments):
        version = 5 if playlist.i_frames_only else 6
    if playlist.skip is not None:
        version = 10 if playlist.skip.recently_removed_dateranges is not None else 9
    return version


def min_master_version(playlist: MasterPlaylist) -> int:
    """Version 7 for INSTREAM-ID "SERVICEn" values; nothing else the model holds needs
    more than version 1."""
    if any((r.instream_id or "").startswith("SERVICE") for r in playlist.renditions):
        return 7
    return 1
