"""One MPEG-TS segment of a source, built on request from its index."""

from __future__ import annotations

import io
from typing import Any

import av

from hlsd.media.audio_transcode import TranscodeAudio
from hlsd.media.encoders import audio_encoding, video_encoding
from hlsd.media.errors import MediaError
from hlsd.media.index import Action, MediaIndex, SegmentSpan
from hlsd.media.source import Source, open_input
from hlsd.media.timeline import TS_OFFSET, to_ticks
from hlsd.media.tracks import CopyAudio, CopyVideo, SeekOvershoot, TrackWriter, Window
from hlsd.media.video_transcode import TranscodeVideo

__all__ = ["TS_OFFSET", "build_segment"]

# Demuxers whose seek puts every stream at or before the target on its own, so no
# safety margin is needed; others first try a little earlier than asked.
_EXACT_SEEK_PREFIXES = ("mov,", "matroska", "ogg", "wav", "flac")
# Seconds to seek before what the segment needs, tried in turn; None reads from the top.
_MARGINS: tuple[float | None, ...] = (1.0, 5.0, 30.0, None)
# Seconds past its span after which a track with no packets is taken to have ended:
# files interleave their streams far closer than this.
_STALL = 10.0
_MUXER_OPTIONS = {
    "mpegts_copyts": "1",  # our timestamps are final: no muxer delay added
    "avoid_negative_ts": "disabled",  # and never shifted per segment
    "max_delay": "700000",  # as ffmpeg: audio frames share PES packets (less overhead)
}


def build_segment(source: Source, index: MediaIndex, n: int) -> bytes:
    """MPEG-TS bytes of segment `n` of `index` (built from `source`)."""
    if not 0 <= n < len(index.segments):
        raise IndexError(f"segment {n} out of range")
    span = index.segments[n]
    if n == 0:
        return _build(source, index, span, margin=None, strict=False)
    margins = _MARGINS
    if index.info.format_name.startswith(_EXACT_SEEK_PREFIXES):
        margins = (0.0, *margins)
    for attempt, margin in enumerate(margins):
        try:
            return _build(source, index, span, margin=margin,
                          strict=attempt < len(margins) - 1)
        except SeekOvershoot:
            continue
    raise AssertionError("the last attempt reads from the top and cannot overshoot")


def _build(source: Source, index: MediaIndex, span: SegmentSpan, *, margin: float | None,
           strict: bool) -> bytes:
    last = span.index == len(index.segments) - 1
    window = Window(
        start=None if span.index == 0 else span.start, end=None if last else span.end,
        origin=index.info.start_time, strict=strict,
    )
    buffer = io.BytesIO()
    with open_input(source) as container:
        output = av.open(buffer, "w", format="mpegts", container_options=_MUXER_OPTIONS)
        try:
            tracks = _tracks(container, output, index, window)
            if margin is not None:
                seconds = min(t.need_from for t in tracks) - margin
                _seek(container, tracks[0].source, seconds, window.origin)
            muxed = _run(container, output, tracks, window.origin)
            output.close()  # writes out the muxer's interleaving queue: errors count here
        except av.FFmpegError as exc:
            raise MediaError("file is truncated or corrupt") from exc
        finally:
            output.close()  # a no-op after success; frees the muxer after a failure
    if not muxed:
        raise MediaError("file is truncated or corrupt")
    return buffer.getvalue()


def _tracks(source: Any, output: Any, index: MediaIndex, window: Window) -> list[TrackWriter]:
    info = index.info
    tracks: list[TrackWriter] = []
    if info.video is not None:
        stream = source.streams[info.video.index]
        if index.video is Action.COPY:
            tracks.append(CopyVideo(stream, output, window))
        elif index.video is Action.TRANSCODE:
            tracks.append(TranscodeVideo(stream, output, window, video_encoding(info.video)))
    if info.audio is not None:
        stream = source.streams[info.audio.index]
        if index.audio is Action.COPY:
            tracks.append(CopyAudio(stream, output, window))
        elif index.audio is Action.TRANSCODE:
            tracks.append(TranscodeAudio(stream, output, window, audio_encoding(info.audio)))
    wanted = {t.source.index for t in tracks}
    for stream in source.streams:
        if stream.index not in wanted:
            stream.discard = av.stream.Discard.all  # the demuxer skips their bytes
    return tracks


def _seek(source: Any, stream: Any, seconds: float, origin: float) -> None:
    """Seek ``stream`` to its keyframe at or before ``seconds`` (normalized)."""
    if seconds <= 0:
        return  # a fresh container already stands at the start
    try:
        source.seek(to_ticks(seconds + origin, stream.time_base), stream=stream, backward=True)
    except av.FFmpegError as exc:
        raise SeekOvershoot from exc


def _run(source: Any, output: Any, tracks: list[TrackWriter], origin: float) -> int:
    """Demux until every track is done, mux what they return; the count of packets muxed."""
    by_index = {t.source.index: t for t in tracks}
    muxed = 0
    horizon = float("-inf")  # the latest normalized time demuxed so far, any stream
    for packet in source.demux([t.source for t in tracks]):
        if packet.size == 0:
            continue  # PyAV's end-of-stream flush packets
        track = by_index[packet.stream_index]
        for out in track.push(packet):
            output.mux(out)
            muxed += 1
        ts = packet.dts if packet.dts is not None else packet.pts
        if ts is not None:
            horizon = max(horizon, float(ts * packet.time_base) - origin)
        if all(_finished(t, horizon) for t in tracks):
            break
    for track in tracks:
        for out in track.finish():
            output.mux(out)
            muxed += 1
    return muxed


def _finished(track: TrackWriter, horizon: float) -> bool:
    """Done, or silent while the other streams went far past its span (it ended early)."""
    until = track.need_until
    return track.done or (until is not None and horizon > until + _STALL)
