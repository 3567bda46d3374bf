"""The pure HLS playlist model: value types, render, parse and spec rule checks.

No I/O and no HTTP here. Build a `MediaPlaylist` or `MasterPlaylist`, render it once
per change with `render_media` / `render_master`, add per-request tokens with
`with_query`, read pushed playlists with `parse_media` / `parse_master`, and check any
playlist text against RFC 8216 / rfc8216bis with `check_playlist` or `assert_valid`.
"""

from hlsd.hls.model import (
    ByteRange,
    ClosedCaptions,
    InitSection,
    MasterPlaylist,
    MediaPlaylist,
    MediaSegment,
    MediaType,
    PlaylistType,
    Rendition,
    VariantStream,
)
from hlsd.hls.parse import PlaylistError, parse_master, parse_media
from hlsd.hls.render import render_master, render_media, with_query
from hlsd.hls.rendered import Rendered, rendered
from hlsd.hls.rules import (
    Violation,
    assert_valid,
    check_master_playlist,
    check_media_playlist,
    check_playlist,
    check_webvtt_segment,
    is_master_playlist,
)
from hlsd.hls.version import min_master_version, min_media_version

__all__ = [
    "ByteRange",
    "ClosedCaptions",
    "InitSection",
    "MasterPlaylist",
    "MediaPlaylist",
    "MediaSegment",
    "MediaType",
    "PlaylistError",
    "PlaylistType",
    "Rendered",
    "Rendition",
    "VariantStream",
    "Violation",
    "assert_valid",
    "check_master_playlist",
    "check_media_playlist",
    "check_playlist",
    "check_webvtt_segment",
    "is_master_playlist",
    "min_master_version",
    "min_media_version",
    "parse_master",
    "parse_media",
    "render_master",
    "render_media",
    "rendered",
    "with_query",
]
