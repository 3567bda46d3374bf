"""The pure HLS playlist model: value types, render and parse.

No I/O and no HTTP here. Build a `MediaPlaylist` or `MasterPlaylist`, render it once
per change with `render_media` / `render_master`, add per-request tokens with
`with_query`, and read pushed playlists with `parse_media` / `parse_master`
(`is_master_playlist` says which). The rule checks of any playlist text against
RFC 8216 are in `hlsd.hls.check`.
"""

from hlsd.hls.model import (
    ByteRange,
    ClosedCaptions,
    InitSection,
    MasterPlaylist,
    MediaPlaylist,
    MediaSegment,
    MediaType,
    PartialSegment,
    PartInf,
    PendingSegment,
    PlaylistType,
    PreloadHint,
    PreloadHintType,
    Rendition,
    RenditionReport,
    ServerControl,
    Skip,
    VariantStream,
)
from hlsd.hls.parse import PlaylistError, is_master_playlist, parse_master, parse_media
from hlsd.hls.render import render_master, render_media, with_query
from hlsd.hls.rendered import Rendered, rendered
from hlsd.hls.version import min_master_version, min_media_version

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
    "PlaylistError",
    "PlaylistType",
    "PreloadHint",
    "PreloadHintType",
    "Rendered",
    "Rendition",
    "RenditionReport",
    "ServerControl",
    "Skip",
    "VariantStream",
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
