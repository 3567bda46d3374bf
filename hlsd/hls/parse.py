"""Parse playlist text into the model, on top of the `m3u8` library.

Used for ingest (playlists pushed by ffmpeg or LiveMix clients), so it is lenient where
the meaning is clear, and raises PlaylistError where the text is no playlist of the
kind asked for, uses a feature the model cannot carry without changing what the
playlist means (encryption), or holds a value the renderer could not write back (a
decimal-integer past 2**64-1, a duration that is not a finite number of seconds, a
FRAME-RATE that is not positive): what parses, renders. Tags the model does not hold,
and that only inform, are dropped (EXT-X-DATERANGE, EXT-X-I-FRAME-STREAM-INF, ...).

Round trip: `parse_media(render_media(p)) == p` when `p.segments[0].init` is None
(the first map is always read back as `MediaPlaylist.init`), `version` is None or above
the minimum, durations have at most 3 decimals, program date times are whole
milliseconds (they read back in UTC: equal instants, other tzinfo), and titles have no
trailing white space (the m3u8 library strips lines).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import m3u8

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
from hlsd.hls.values import (
    format_byterange,
    format_decimal_integer,
    format_duration,
    format_frame_rate,
    is_decimal_integer,
    parse_byterange,
)
from hlsd.hls.version import min_master_version, min_media_version

__all__ = ["PlaylistError", "is_master_playlist", "parse_master", "parse_media"]

_Data = Mapping[str, Any]
# Tags that make a playlist a master (multivariant) playlist, whatever else it holds
# (RFC 8216 §4.3.4).
_MASTER_TAGS = frozenset({"EXT-X-STREAM-INF", "EXT-X-I-FRAME-STREAM-INF", "EXT-X-MEDIA"})


class PlaylistError(ValueError):
    """The text is not a playlist of the kind asked for, or cannot be modelled."""


def is_master_playlist(text: str) -> bool:
    """True when `text` has a tag only a master playlist holds (EXT-X-STREAM-INF, ...):
    which of `parse_master` and `parse_media` to call. Lines are read as RFC 8216 §4.1
    has them (LF or CRLF), a tag's name ending at its first ':'."""
    for line in text.removeprefix("\ufeff").split("\n"):
        line = line.strip()
        if line.startswith("#EXT") and line[1:].partition(":")[0] in _MASTER_TAGS:
            return True
    return False


def _load(text: str) -> _Data:
    first = text.lstrip("\ufeff \t\r\n").split("\n", 1)[0].strip()
    if first != "#EXTM3U":
        raise PlaylistError("not an M3U8 playlist: the first line is not #EXTM3U")
    try:
        data: _Data = m3u8.parse(text)
    except Exception as error:  # m3u8 raises bare ValueError/KeyError/IndexError
        raise PlaylistError(f"malformed playlist: {error!r}") from error
    return data


def _version(declared: int | None, required: int) -> int | None:
    # None stands for "what the features need": a playlist declaring exactly that reads
    # back as None and renders the same again. One declaring too little (common in
    # pushed playlists) is read as if it had declared enough, so it renders legally.
    if declared is None or declared <= max(required, 1):
        return None
    return int(declared)


def _byterange(value: object, what: str) -> ByteRange | None:
    if value is None:
        return None
    try:
        return parse_byterange(str(value))
    except ValueError as error:
        raise PlaylistError(f"{what}: {error}") from error


def _init(data: _Data | None) -> InitSection | None:
    if data is None:
        return None
    if not data.get("uri"):
        raise PlaylistError("EXT-X-MAP without URI")
    return InitSection(uri=data["uri"], byterange=_byterange(data.get("byterange"), "EXT-X-MAP"))


def _datetime(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def parse_media(text: str) -> MediaPlaylist:
    """Parse a Media Playlist; PlaylistError if `text` is none."""
    data = _load(text)
    if data["is_variant"] or data["media"]:
        raise PlaylistError("this is a master playlist, not a media playlist")
    if data.get("targetduration") is None:
        raise PlaylistError("not a media playlist: EXT-X-TARGETDURATION is missing")
    for key in data["keys"]:
        if key is not None and str(key.get("method", "")).upper() != "NONE":
            raise PlaylistError("encrypted playlists (EXT-X-KEY) are not supported")
    playlist_type = data.get("playlist_type")
    try:
        kind = None if playlist_type is None else PlaylistType(str(playlist_type).upper())
    except ValueError as error:
        raise PlaylistError(f"unknown EXT-X-PLAYLIST-TYPE {playlist_type!r}") from error

    first_init: InitSection | None = None
    segments: list[MediaSegment] = []
    current_map: object = None
    for item in data["segments"]:
        if "uri" not in item:
            # m3u8 keeps trailing tags with no URI line as a partial segment.
            continue
        section = item.get("init_section")
        # m3u8 gives every segment the dict of the map in force, the same object for
        # all segments under one EXT-X-MAP tag, so a new object is a new tag.
        init = None
        if section is not None and section is not current_map:
            init = _init(section)
            if not segments:
                first_init, init = init, None
        current_map = section
        segments.append(_segment(item, init))
    if not segments and data["segment_map"]:
        first_init = _init(data["segment_map"][0])

    playlist = MediaPlaylist(
        target_duration=int(data["targetduration"]),
        segments=tuple(segments),
        media_sequence=int(data.get("media_sequence") or 0),
        discontinuity_sequence=int(data.get("discontinuity_sequence") or 0),
        playlist_type=kind,
        endlist=bool(data["is_endlist"]),
        independent_segments=bool(data["is_independent_segments"]),
        i_frames_only=bool(data["is_i_frames_only"]),
        init=first_init,
    )
    try:
        _check_media(playlist)
        version = _version(data.get("version"), min_media_version(playlist))
    except (ValueError, OverflowError) as error:
        if isinstance(error, PlaylistError):
            raise
        raise PlaylistError(f"malformed media playlist: {error}") from error
    return playlist if version is None else replace(playlist, version=version)


def _check_media(playlist: MediaPlaylist) -> None:
    """ValueError (or OverflowError) for a value the renderer could not write."""
    format_decimal_integer("EXT-X-TARGETDURATION", playlist.target_duration)
    format_decimal_integer("EXT-X-MEDIA-SEQUENCE", playlist.media_sequence)
    format_decimal_integer("EXT-X-DISCONTINUITY-SEQUENCE", playlist.discontinuity_sequence)
    for segment in playlist.segments:
        format_duration(segment.duration)
        ranges = (segment.byterange, segment.init.byterange if segment.init else None)
        for where in ranges:
            if where is not None:
                format_byterange(f"segment {segment.uri} byte range", where)
    if playlist.init is not None and playlist.init.byterange is not None:
        format_byterange("EXT-X-MAP byte range", playlist.init.byterange)


def _segment(item: _Data, init: InitSection | None) -> MediaSegment:
    if "duration" not in item:
        # m3u8 starts a segment at EXT-X-BYTERANGE too, so one can lack EXTINF.
        raise PlaylistError(f"segment {item['uri']} has no EXTINF")
    return MediaSegment(
        uri=item["uri"],
        duration=float(item["duration"]),
        title=item.get("title") or "",
        discontinuity=bool(item.get("discontinuity")),
        program_date_time=_datetime(item.get("program_date_time")),
        byterange=_byterange(item.get("byterange"), f"segment {item['uri']}"),
        init=init,
        gap=bool(item.get("gap_tag")),
    )


def _flag(data: _Data, name: str) -> bool:
    return str(data.get(name, "NO")).upper() == "YES"


def _rendition(data: _Data) -> Rendition:
    for name in ("type", "group_id", "name"):
        if not data.get(name):
            raise PlaylistError(f"EXT-X-MEDIA without {name.upper().replace('_', '-')}")
    try:
        kind = MediaType(str(data["type"]).upper())
    except ValueError as error:
        raise PlaylistError(f"unknown EXT-X-MEDIA TYPE {data['type']!r}") from error
    default = _flag(data, "default")
    return Rendition(
        type=kind,
        group_id=data["group_id"],
        name=data["name"],
        uri=data.get("uri"),
        language=data.get("language"),
        default=default,
        # AUTOSELECT may be left out beside DEFAULT=YES (ffmpeg does), but if present it
        # must be YES (RFC 8216 §4.3.4.1): a default rendition is auto-selectable.
        autoselect=_flag(data, "autoselect") or (default and "autoselect" not in data),
        forced=_flag(data, "forced"),
        channels=data.get("channels"),
        instream_id=data.get("instream_id"),
    )


def _resolution(value: object) -> tuple[int, int] | None:
    if value is None:
        return None
    width, x, height = str(value).lower().partition("x")
    if not (x and is_decimal_integer(width) and is_decimal_integer(height)):
        raise PlaylistError(f"malformed RESOLUTION {value!r}")
    return int(width), int(height)


def _closed_captions(value: object) -> str | ClosedCaptions | None:
    # m3u8 leaves this attribute quoted, which is what tells the group name "NONE"
    # from the enumerated-string NONE.
    if value is None:
        return None
    text = str(value)
    if text == "NONE":
        return ClosedCaptions.NONE
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _variant(data: _Data) -> VariantStream:
    info: _Data = data["stream_info"]
    if info.get("bandwidth") is None:
        raise PlaylistError(f"EXT-X-STREAM-INF without BANDWIDTH for {data['uri']}")
    average = info.get("average_bandwidth")
    frame_rate = info.get("frame_rate")
    return VariantStream(
        uri=data["uri"],
        bandwidth=int(info["bandwidth"]),
        average_bandwidth=None if average is None else int(average),
        codecs=info.get("codecs"),
        resolution=_resolution(info.get("resolution")),
        frame_rate=None if frame_rate is None else float(frame_rate),
        audio=info.get("audio"),
        video=info.get("video"),
        subtitles=info.get("subtitles"),
        closed_captions=_closed_captions(info.get("closed_captions")),
    )


def _check_variant(variant: VariantStream) -> None:
    """ValueError for a value the renderer could not write."""
    format_decimal_integer("BANDWIDTH", variant.bandwidth)
    if variant.average_bandwidth is not None:
        format_decimal_integer("AVERAGE-BANDWIDTH", variant.average_bandwidth)
    if variant.resolution is not None:
        for side in variant.resolution:
            format_decimal_integer("RESOLUTION", side)
    if variant.frame_rate is not None:
        format_frame_rate(variant.frame_rate)


def parse_master(text: str) -> MasterPlaylist:
    """Parse a Master Playlist; PlaylistError if `text` is none."""
    data = _load(text)
    if not data["is_variant"]:
        raise PlaylistError("not a master playlist: no EXT-X-STREAM-INF")
    try:
        playlist = MasterPlaylist(
            variants=tuple(_variant(item) for item in data["playlists"]),
            renditions=tuple(_rendition(item) for item in data["media"]),
            independent_segments=bool(data["is_independent_segments"]),
        )
        for variant in playlist.variants:
            _check_variant(variant)
    except (TypeError, ValueError, OverflowError) as error:
        if isinstance(error, PlaylistError):
            raise
        raise PlaylistError(f"malformed master playlist: {error}") from error
    version = _version(data.get("version"), min_master_version(playlist))
    return playlist if version is None else replace(playlist, version=version)
