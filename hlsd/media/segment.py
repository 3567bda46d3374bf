"""One MPEG-TS segment of a source, built on request from its index."""

from __future__ import annotations

import io
from fractions import Fraction
from typing import Any

import av

from hlsd.media.audio_transcode import TranscodeAudio
from hlsd.media.continuity import continuous
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
# Audio starting this much or less before the first picture of a file is trimmed to it
# (AAC priming, edit-list slack); a longer lead is the source's own and kept.
_MAX_LEAD = Fraction(1, 2)
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
            together = _StartTogether(output) if span.index == 0 and len(tracks) > 1 else None
            muxed = _run(container, output, tracks, window.origin, together)
            output.close()  # writes out the muxer's interleaving queue: errors count here
        except av.FFmpegError as exc:
            raise MediaError("file is truncated or corrupt") from exc
        finally:
            output.close()  # a no-op after success; frees the muxer after a failure
    if not muxed:
        raise MediaError("file is truncated or corrupt")
    return continuous(buffer.getvalue())


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


def _run(source: Any, output: Any, tracks: list[TrackWriter], origin: float,
         together: _StartTogether | None) -> int:
    """Demux until every track is done, mux what they return; the count of packets muxed."""
    by_index = {t.source.index: t for t in tracks}
    muxed = 0
    horizon = float("-inf")  # the latest normalized time demuxed so far, any stream
    for packet in source.demux([t.source for t in tracks]):
        if packet.size == 0:
            continue  # PyAV's end-of-stream flush packets
        track = by_index[packet.stream_index]
        outs = track.push(packet)
        for out in outs if together is None else together.take(outs):
            output.mux(out)
            muxed += 1
        ts = packet.dts if packet.dts is not None else packet.pts
        if ts is not None:
            horizon = max(horizon, float(ts * packet.time_base) - origin)
        if all(_finished(t, horizon) for t in tracks):
            break
    for track in tracks:
        outs = track.finish()
        for out in outs if together is None else together.take(outs):
            output.mux(out)
            muxed += 1
    for out in together.rest() if together is not None else []:
        output.mux(out)
        muxed += 1
    return muxed


class _StartTogether:
    """The first segment's audio made to start with its first picture.

    Audio coded before the first picture (AAC priming, an edit list's slack: 1024
    samples in MP4 files from ffmpeg) would start the transport stream's audio a frame
    ahead of its video. Players then find the first instant buffered in one track only:
    hls.js seeks over it and reports `bufferSeekOverHole`. So the audio packets that
    begin before the first picture are dropped, when that is a small lead: the audio
    then starts within one audio frame after the picture (exactly with it for priming).
    Audio is held until the first picture is known, as files may interleave it first.
    """

    def __init__(self, output: Any) -> None:
        self._video = next((s for s in output.streams if s.type == "video"), None)
        self._start: Fraction | None = None  # the first picture's presentation time
        self._lead: bool | None = None  # whether the audio's lead is to be trimmed
        self._held: list[Any] = []

    def take(self, packets: list[Any]) -> list[Any]:
        out = []
        for packet in packets:
            if packet.stream is self._video:
                if self._start is None and packet.pts is not None:
                    self._start = packet.pts * packet.time_base
                    out.append(packet)
                    out.extend(self._trim(self._held))
                    self._held = []
                    continue
                out.append(packet)
            elif self._start is None and self._video is not None:
                self._held.append(packet)
            else:
                out.extend(self._trim([packet]))
        return out

    def rest(self) -> list[Any]:
        """Audio still held: there was no picture at all."""
        held, self._held = self._held, []
        return held

    def _trim(self, packets: list[Any]) -> list[Any]:
        start = self._start
        if start is None:
            return packets
        kept = []
        for packet in packets:
            at = None if packet.pts is None else packet.pts * packet.time_base
            if self._lead is None and at is not None:
                self._lead = 0 < start - at <= _MAX_LEAD
            if not (self._lead and at is not None and at < start):
                kept.append(packet)
        return kept


def _finished(track: TrackWriter, horizon: float) -> bool:
    """Done, or silent while the other streams went far past its span (it ended early)."""
    until = track.need_until
    return track.done or (until is not None and horizon > until + _STALL)
