"""What a source holds: duration, timeline origin, and its video and audio track."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import av

from hlsd.media.errors import MediaError
from hlsd.media.source import Source, open_bytes, open_input, select_streams, source_size

# Demuxers whose duration ffmpeg guesses from the bit rate: reading the packets is
# the only way to know it.
_GUESSED_DURATION = frozenset(
    {"aac", "ac3", "eac3", "dts", "truehd", "h264", "hevc", "mpegvideo", "m4v", "amr", "loas"}
)
# The last packet of an intact file ends this close to the duration its header claims.
_TAIL_SLACK = 1.0


@dataclass(frozen=True, kw_only=True)
class VideoTrack:
    index: int
    codec: str
    width: int
    height: int
    frame_rate: float | None
    bit_rate: int | None


@dataclass(frozen=True, kw_only=True)
class AudioTrack:
    index: int
    codec: str
    sample_rate: int
    channels: int
    bit_rate: int | None


@dataclass(frozen=True, kw_only=True)
class MediaInfo:
    duration: float
    start_time: float
    format_name: str
    bit_rate: int | None
    video: VideoTrack | None
    audio: AudioTrack | None
    # An MP4 (not fragmented) whose sample table lists every sample's size, time and
    # keyframe flag before any media data is read.
    sample_table: bool = False


def probe(source: Source) -> MediaInfo:
    """Describe `source`; raise MediaError unless it holds playable audio or video."""
    with open_input(source) as container:
        return probe_container(container, source)


def probe_container(container: Any, source: Source) -> MediaInfo:
    """Describe an already open container (it may be left anywhere, except an MP4
    with a sample table, which is left untouched)."""
    fmt: str = container.format.name
    if fmt.endswith("_pipe") or fmt.startswith("image2"):
        raise MediaError("not a media file")  # a still image (png_pipe, jpeg_pipe, ...)
    vstream, astream = select_streams(container)
    if vstream is None and astream is None:
        raise MediaError("no audio or video stream")
    streams = [s for s in (vstream, astream) if s is not None]
    for stream in streams:
        _require_decoder(stream)
    video = _video_track(vstream) if vstream is not None else None
    audio = _audio_track(astream) if astream is not None else None
    start = container.start_time / 1e6 if container.start_time is not None else 0.0
    sample_table = False
    if fmt in _GUESSED_DURATION or container.duration is None:
        duration = _scan_duration(container, streams) - start
    else:
        duration = container.duration / 1e6
        sample_table = fmt.startswith("mov,") and not mp4_is_fragmented(source)
        if sample_table:
            _check_mp4_complete(source, streams)
        else:
            _check_tail(container, streams, start + duration)
    if duration <= 0:
        raise MediaError("media has no duration")
    return MediaInfo(
        duration=duration, start_time=start, format_name=fmt,
        bit_rate=container.bit_rate or None, video=video, audio=audio,
        sample_table=sample_table,
    )


def codec_name(stream: Any) -> str:
    """The codec's own name ("mp3"), not the decoder's ("mp3float")."""
    return str(stream.codec_context.codec.canonical_name)


def _require_decoder(stream: Any) -> None:
    """hlsd may have to decode any track it serves (to transcode it)."""
    codec = getattr(stream.codec_context, "codec", None)
    name = getattr(codec, "canonical_name", None) or stream.codec_context.name or "unknown"
    try:
        av.Codec(name, "r")
    except (av.FFmpegError, ValueError) as exc:
        raise MediaError(f"unsupported codec: {name}") from exc


def _video_track(stream: Any) -> VideoTrack:
    ctx = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate
    return VideoTrack(
        index=stream.index, codec=codec_name(stream), width=ctx.width, height=ctx.height,
        frame_rate=float(rate) if rate else None, bit_rate=ctx.bit_rate or None,
    )


def _audio_track(stream: Any) -> AudioTrack:
    ctx = stream.codec_context
    return AudioTrack(
        index=stream.index, codec=codec_name(stream), sample_rate=ctx.sample_rate,
        channels=ctx.layout.nb_channels, bit_rate=ctx.bit_rate or None,
    )


def _scan_duration(container: Any, streams: list[Any]) -> float:
    """The end of the last packet, found by demuxing everything (no decoding)."""
    end: float | None = None
    try:
        for packet in container.demux(streams):
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is None or packet.size == 0:
                continue
            t = float((ts + (packet.duration or 0)) * packet.time_base)
            end = t if end is None else max(end, t)
    except av.FFmpegError as exc:
        raise MediaError("file is truncated or corrupt") from exc
    if end is None:
        raise MediaError("media has no duration")
    return end


def mp4_is_fragmented(source: Source) -> bool:
    """Whether an MP4 keeps its samples in fragments (moof boxes) rather than in moov.

    ffmpeg indexes fragments only as it reads them, so their sample table is partial.
    Only the top-level box headers are read.
    """
    size = source_size(source)
    with open_bytes(source) as f:
        pos = 0
        while pos + 8 <= size:
            f.seek(pos)
            head = f.read(16)
            box_size, box_type = int.from_bytes(head[:4], "big"), head[4:8]
            if box_type in (b"moof", b"mvex"):
                return True
            if box_size == 1 and len(head) == 16:
                box_size = int.from_bytes(head[8:16], "big")
            if box_size < 8:  # 0: the box runs to the end of the file
                return False
            pos += box_size
    return False


def _check_mp4_complete(source: Source, streams: list[Any]) -> None:
    """An MP4 whose sample table points past the end of the file was cut short."""
    size = source_size(source)
    for stream in streams:
        entries = stream.index_entries
        if len(entries) == 0:
            continue  # an empty track: nothing to be missing
        last = entries[len(entries) - 1]
        if last.pos + last.size > size:
            raise MediaError("file is truncated or corrupt")


def _check_tail(container: Any, streams: list[Any], end: float) -> None:
    """Read the last second the header promises: a cut-off file has no such packets.

    Any stream reaching it will do, as one track may end early (or start late).
    """
    target = end - _TAIL_SLACK
    if target <= 0:
        return
    main = streams[0]
    try:
        container.seek(round(target / main.time_base), stream=main, backward=True)
        for packet in container.demux(streams):
            ts = packet.pts if packet.pts is not None else packet.dts
            if packet.size and ts is not None and (
                    float((ts + (packet.duration or 0)) * packet.time_base) >= target):
                return
    except av.FFmpegError as exc:
        raise MediaError("file is truncated or corrupt") from exc
    raise MediaError("file is truncated or corrupt")
