"""Render playlist models to text (RFC 8216 §4).

The output starts with #EXTM3U, uses LF line endings and ends with a newline. A model
that would make an illegal playlist (a MUST of the RFC broken) raises ValueError: it
is a programming error upstream, and serving the playlist would only move the failure
into every player.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from hlsd.hls import _render_ll as ll
from hlsd.hls.model import (
    ClosedCaptions,
    InitSection,
    MasterPlaylist,
    MediaPlaylist,
    MediaSegment,
    MediaType,
    PendingSegment,
    PlaylistType,
    Rendition,
    VariantStream,
)
from hlsd.hls.query import with_query
from hlsd.hls.values import (
    format_byterange,
    format_datetime,
    format_decimal_integer,
    format_duration,
    format_frame_rate,
    quoted_string,
    rounded_seconds,
    text_value,
    uri_value,
)
from hlsd.hls.version import min_master_version, min_media_version

__all__ = ["render_master", "render_media", "with_query"]


def _yes_no(value: bool) -> str:
    return "YES" if value else "NO"


def _version_line(declared: int | None, required: int) -> list[str]:
    if declared is not None and declared < max(required, 1):
        raise ValueError(f"EXT-X-VERSION {declared} is below the {required} the playlist needs")
    version = required if declared is None else declared
    # Version 1 is what a playlist without the tag means (RFC 8216 §4.3.1.2).
    return [f"#EXT-X-VERSION:{version}"] if version > 1 else []


def _map_line(init: InitSection) -> str:
    attributes = [f"URI={quoted_string('EXT-X-MAP URI', uri_value('EXT-X-MAP URI', init.uri))}"]
    if init.byterange is not None:
        # No previous segment exists for an EXT-X-MAP range to continue from.
        if init.byterange.offset is None:
            raise ValueError("EXT-X-MAP BYTERANGE needs an offset")
        byterange = format_byterange("EXT-X-MAP BYTERANGE", init.byterange)
        attributes.append(f'BYTERANGE="{byterange}"')
    return "#EXT-X-MAP:" + ",".join(attributes)


def render_media(playlist: MediaPlaylist) -> str:
    """Render a Media Playlist (RFC 8216 §4.3.3); ValueError if it would be illegal."""
    if playlist.playlist_type is PlaylistType.VOD and not playlist.endlist:
        raise ValueError("a PLAYLIST-TYPE:VOD playlist cannot change, so it needs EXT-X-ENDLIST")
    target = playlist.target_duration
    lines = ["#EXTM3U", *_version_line(playlist.version, min_media_version(playlist))]
    lines.append(f"#EXT-X-TARGETDURATION:{format_decimal_integer('target duration', target)}")
    sequence = format_decimal_integer("media sequence", playlist.media_sequence)
    lines.append(f"#EXT-X-MEDIA-SEQUENCE:{sequence}")
    if playlist.discontinuity_sequence:
        dsn = format_decimal_integer("discontinuity sequence", playlist.discontinuity_sequence)
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{dsn}")
    if playlist.playlist_type is not None:
        lines.append(f"#EXT-X-PLAYLIST-TYPE:{playlist.playlist_type.value}")
    if playlist.i_frames_only:
        lines.append("#EXT-X-I-FRAMES-ONLY")
    if playlist.independent_segments:
        lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    lines.extend(ll.header_lines(playlist))
    if playlist.skip is not None:
        lines.append(ll.skip_line(playlist, playlist.skip))
    segments = playlist.segments
    first_init = segments[0].init if segments and segments[0].init else playlist.init
    if first_init is not None:
        lines.append(_map_line(first_init))
    part_target = playlist.part_inf.part_target if playlist.part_inf else None
    previous: MediaSegment | None = None
    times = _Times()
    for segment in segments:
        lines.extend(_segment_lines(segment, previous, target, part_target,
                                    first=previous is None))
        times.follow(segment.program_date_time)
        previous = segment
    if playlist.pending is not None:
        lines.extend(_pending_lines(playlist.pending, part_target))
        times.follow(playlist.pending.program_date_time)
    lines.extend(ll.tail_lines(playlist))
    if playlist.endlist:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


class _Times:
    """EXT-X-PROGRAM-DATE-TIME must advance, as written."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last = ""

    def follow(self, value: datetime | None) -> None:
        if value is None:
            return
        stamp = format_datetime(value)
        if self.last and stamp <= self.last:
            raise ValueError(f"program date time {stamp} does not follow {self.last}")
        self.last = stamp


def _pending_lines(pending: PendingSegment, part_target: float | None) -> Iterable[str]:
    """The segment being produced: the tags that apply to it come before its first
    part (rfc8216bis §4.4.4.9); no EXTINF yet."""
    if not pending.parts:
        raise ValueError("a pending segment is listed by its parts: it has none")
    if pending.discontinuity:
        yield "#EXT-X-DISCONTINUITY"
    if pending.init is not None:
        yield _map_line(pending.init)
    if pending.program_date_time is not None:
        yield f"#EXT-X-PROGRAM-DATE-TIME:{format_datetime(pending.program_date_time)}"
    yield from ll.part_lines(pending.parts, part_target)


def _segment_lines(
    segment: MediaSegment, previous: MediaSegment | None, target: int,
    part_target: float | None, *, first: bool
) -> Iterable[str]:
    uri = uri_value("segment URI", segment.uri)
    duration = format_duration(segment.duration)
    if rounded_seconds(duration) > target:
        raise ValueError(
            f"segment {uri} lasts {duration} s, more than the target duration {target} s"
        )
    if segment.discontinuity:
        yield "#EXT-X-DISCONTINUITY"
    if segment.init is not None and not first:
        yield _map_line(segment.init)
    if segment.program_date_time is not None:
        yield f"#EXT-X-PROGRAM-DATE-TIME:{format_datetime(segment.program_date_time)}"
    if segment.gap:
        yield "#EXT-X-GAP"
    yield from ll.part_lines(segment.parts, part_target)
    yield f"#EXTINF:{duration},{text_value('segment title', segment.title)}"
    if segment.byterange is not None:
        if segment.byterange.offset is None and (
            previous is None or previous.byterange is None or previous.uri != segment.uri
        ):
            raise ValueError(
                f"segment {uri}: a byte range without an offset must follow a range "
                "of the same resource"
            )
        yield f"#EXT-X-BYTERANGE:{format_byterange('segment byte range', segment.byterange)}"
    yield uri


def render_master(playlist: MasterPlaylist) -> str:
    """Render a Master Playlist (RFC 8216 §4.3.4); ValueError if it would be illegal."""
    if not playlist.variants:
        raise ValueError("a master playlist needs at least one variant stream")
    _check_groups(playlist.renditions)
    groups = {(r.type, r.group_id) for r in playlist.renditions}
    no_captions = [v.closed_captions is ClosedCaptions.NONE for v in playlist.variants]
    if any(no_captions) and not all(no_captions):
        raise ValueError("if one variant has CLOSED-CAPTIONS=NONE, all variants must")
    lines = ["#EXTM3U", *_version_line(playlist.version, min_master_version(playlist))]
    if playlist.independent_segments:
        lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    lines.extend(_media_line(rendition) for rendition in playlist.renditions)
    for variant in playlist.variants:
        lines.append(_stream_inf_line(variant, groups))
        lines.append(uri_value("variant URI", variant.uri))
    return "\n".join(lines) + "\n"


def _check_groups(renditions: tuple[Rendition, ...]) -> None:
    names = Counter((r.type, r.group_id, r.name) for r in renditions)
    for (kind, group, name), count in names.items():
        if count > 1:
            raise ValueError(f"{kind.value} group {group!r} has {count} renditions named {name!r}")
    defaults = Counter((r.type, r.group_id) for r in renditions if r.default)
    for (kind, group), count in defaults.items():
        if count > 1:
            raise ValueError(f"{kind.value} group {group!r} has {count} DEFAULT=YES renditions")


def _media_line(rendition: Rendition) -> str:
    kind = rendition.type
    what = f"EXT-X-MEDIA {rendition.name!r}"
    if rendition.default and not rendition.autoselect:
        raise ValueError(f"{what}: DEFAULT=YES requires AUTOSELECT=YES")
    if rendition.forced and kind is not MediaType.SUBTITLES:
        raise ValueError(f"{what}: FORCED is only for SUBTITLES")
    if kind is MediaType.SUBTITLES and rendition.uri is None:
        raise ValueError(f"{what}: SUBTITLES renditions need a URI")
    if kind is MediaType.CLOSED_CAPTIONS:
        if rendition.uri is not None:
            raise ValueError(f"{what}: CLOSED-CAPTIONS renditions cannot have a URI")
        if rendition.instream_id is None:
            raise ValueError(f"{what}: CLOSED-CAPTIONS renditions need an INSTREAM-ID")
    elif rendition.instream_id is not None:
        raise ValueError(f"{what}: INSTREAM-ID is only for CLOSED-CAPTIONS")
    attributes = [
        f"TYPE={kind.value}",
        f"GROUP-ID={quoted_string(f'{what} GROUP-ID', rendition.group_id)}",
        f"NAME={quoted_string(f'{what} NAME', rendition.name)}",
    ]
    if rendition.language is not None:
        attributes.append(f"LANGUAGE={quoted_string(f'{what} LANGUAGE', rendition.language)}")
    attributes.append(f"DEFAULT={_yes_no(rendition.default)}")
    attributes.append(f"AUTOSELECT={_yes_no(rendition.autoselect)}")
    if rendition.forced:
        attributes.append("FORCED=YES")
    if rendition.instream_id is not None:
        instream = quoted_string(f"{what} INSTREAM-ID", rendition.instream_id)
        attributes.append(f"INSTREAM-ID={instream}")
    if rendition.channels is not None:
        attributes.append(f"CHANNELS={quoted_string(f'{what} CHANNELS', rendition.channels)}")
    if rendition.uri is not None:
        uri = quoted_string(f"{what} URI", uri_value(f"{what} URI", rendition.uri))
        attributes.append(f"URI={uri}")
    return "#EXT-X-MEDIA:" + ",".join(attributes)


def _stream_inf_line(variant: VariantStream, groups: set[tuple[MediaType, str]]) -> str:
    what = f"EXT-X-STREAM-INF {variant.uri!r}"
    attributes = [f"BANDWIDTH={format_decimal_integer(f'{what} BANDWIDTH', variant.bandwidth)}"]
    if variant.average_bandwidth is not None:
        average = format_decimal_integer(f"{what} AVERAGE-BANDWIDTH", variant.average_bandwidth)
        if variant.average_bandwidth > variant.bandwidth:
            raise ValueError(f"{what}: AVERAGE-BANDWIDTH is above BANDWIDTH")
        attributes.append(f"AVERAGE-BANDWIDTH={average}")
    if variant.codecs is not None:
        attributes.append(f"CODECS={quoted_string(f'{what} CODECS', variant.codecs)}")
    if variant.resolution is not None:
        width, height = variant.resolution
        if width <= 0 or height <= 0:
            raise ValueError(f"{what}: RESOLUTION must be positive, not {width}x{height}")
        attributes.append(f"RESOLUTION={width:d}x{height:d}")
    if variant.frame_rate is not None:
        attributes.append(f"FRAME-RATE={format_frame_rate(variant.frame_rate)}")
    references = (
        ("AUDIO", MediaType.AUDIO, variant.audio),
        ("VIDEO", MediaType.VIDEO, variant.video),
        ("SUBTITLES", MediaType.SUBTITLES, variant.subtitles),
        ("CLOSED-CAPTIONS", MediaType.CLOSED_CAPTIONS, variant.closed_captions),
    )
    for name, kind, group in references:
        if group is None:
            continue
        if group is ClosedCaptions.NONE:
            attributes.append(f"{name}=NONE")
            continue
        if (kind, group) not in groups:
            raise ValueError(f"{what}: no {kind.value} rendition has GROUP-ID {group!r}")
        attributes.append(f"{name}={quoted_string(f'{what} {name}', group)}")
    return "#EXT-X-STREAM-INF:" + ",".join(attributes)
