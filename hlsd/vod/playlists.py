"""The three playlists of a packaged source, computed from its index and rendered once.

Layout under ``/hls/<rid>/``: ``index.m3u8`` (master), ``playlist.m3u8`` (the muxed
audio/video media playlist; the seed's name), ``subtitles.m3u8``, and the segments
``seg-<n>.ts`` and ``sub-<n>.vtt``.
"""

from __future__ import annotations

from collections.abc import Callable

from hlsd.hls import (
    MasterPlaylist,
    MediaPlaylist,
    MediaSegment,
    MediaType,
    PlaylistType,
    Rendered,
    Rendition,
    VariantStream,
    render_master,
    render_media,
    rendered,
)
from hlsd.media import MediaIndex

MASTER = "index.m3u8"
MEDIA = "playlist.m3u8"
SUBTITLES = "subtitles.m3u8"
SUBTITLE_GROUP = "subs"


def segment_name(n: int) -> str:
    return f"seg-{n}.ts"


def subtitle_name(n: int) -> str:
    return f"sub-{n}.vtt"


def render_package_playlists(
    index: MediaIndex, *, has_subtitles: bool
) -> tuple[Rendered, Rendered, Rendered | None]:
    media = _vod_playlist(index, segment_name)
    renditions: tuple[Rendition, ...] = ()
    subtitles = None
    if has_subtitles:
        subtitles = rendered(render_media(_vod_playlist(index, subtitle_name)))
        renditions = (Rendition(type=MediaType.SUBTITLES, group_id=SUBTITLE_GROUP,
                                name="Subtitles", uri=SUBTITLES, default=True,
                                autoselect=True),)
    variant = VariantStream(
        uri=MEDIA,
        bandwidth=index.peak_bandwidth,
        average_bandwidth=index.average_bandwidth,
        codecs=index.codecs,
        resolution=index.resolution,
        frame_rate=index.frame_rate,
        subtitles=SUBTITLE_GROUP if has_subtitles else None,
    )
    master = MasterPlaylist(variants=(variant,), renditions=renditions,
                            independent_segments=True)
    return rendered(render_master(master)), rendered(render_media(media)), subtitles


def _vod_playlist(index: MediaIndex, name: Callable[[int], str]) -> MediaPlaylist:
    return MediaPlaylist(
        target_duration=index.target_duration,
        segments=tuple(MediaSegment(uri=name(span.index), duration=span.end - span.start)
                       for span in index.segments),
        playlist_type=PlaylistType.VOD,
        endlist=True,
        independent_segments=True,
    )
