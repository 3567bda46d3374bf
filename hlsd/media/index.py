"""The segment plan of a source: what to do with each track and where segments cut."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

from hlsd.media import codecs
from hlsd.media.bandwidth import (
    audio_pes_count,
    audio_ts_bytes,
    padding_ts_bytes,
    psi_ts_bytes,
    video_ts_bytes,
)
from hlsd.media.encoders import audio_encoding, video_encoding
from hlsd.media.mp4box import track_timing
from hlsd.media.probe import AudioTrack, MediaInfo, VideoTrack, probe_container
from hlsd.media.scan import (
    AudioSizes,
    Gop,
    Scan,
    mp3_is_vbr,
    mp4_audio_sizes,
    mp4_gops,
    scan_packets,
)
from hlsd.media.source import Source, open_input

COPY_VIDEO = frozenset({"h264", "hevc"})
COPY_AUDIO = frozenset({"aac", "mp3"})
# A fixed-length plan folds a last piece shorter than this into the one before it.
_MIN_TAIL = 1.0
# Audio bit rates known only on average (encoder targets, headers) vary a little.
_RATE_MARGIN = 1.05
# A keyframe this close past a cut point counts as on it (float noise in time bases).
_EPS = 1e-6


class Action(enum.Enum):
    COPY = "copy"
    TRANSCODE = "transcode"


@dataclass(frozen=True, kw_only=True)
class SegmentSpan:
    """Seconds on the normalized timeline: 0 is ``MediaInfo.start_time``."""

    index: int
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, kw_only=True)
class MediaIndex:
    info: MediaInfo
    video: Action | None
    audio: Action | None
    segments: tuple[SegmentSpan, ...]
    codecs: str
    resolution: tuple[int, int] | None
    frame_rate: float | None
    peak_bandwidth: int
    average_bandwidth: int
    target_duration: int


def video_action(track: VideoTrack | None) -> Action | None:
    if track is None:
        return None
    return Action.COPY if track.codec in COPY_VIDEO else Action.TRANSCODE


def audio_action(track: AudioTrack | None) -> Action | None:
    if track is None:
        return None
    return Action.COPY if track.codec in COPY_AUDIO else Action.TRANSCODE


def build_index(source: Source, target: float = 6.0) -> MediaIndex:
    """Probe `source` and plan its segments (demuxing packets only where sizes need it)."""
    if not target > 0:
        raise ValueError("target must be positive")
    with open_input(source) as container:
        info = probe_container(container, source)
        vact, aact = video_action(info.video), audio_action(info.audio)
        codec_string = _codecs(container, info, vact, aact)
        scan = _scan(source, container, info, vact, aact)
    if scan.gops:
        spans, video_bytes = _keyframe_spans(scan.gops, info.duration, target)
    else:
        spans = _fixed_spans(info.duration, target)
        video_bytes = [0.0] * len(spans)
    seg_bits = [8 * _span_bytes(s, info, vact, aact, video_bytes[s.index], scan.audio)
                for s in spans]
    target_duration = max(1, max(math.ceil(s.duration - _EPS) for s in spans))
    # Continuity padding: up to 15 packets per PID in a segment, 7.5 on average.
    padding = 8 * padding_ts_bytes(sum(a is not None for a in (vact, aact)))
    average = (sum(seg_bits) + len(spans) * padding / 2) / info.duration
    peak = peak_rate([b + padding for b in seg_bits], [s.duration for s in spans],
                     target_duration)
    return MediaIndex(
        info=info, video=vact, audio=aact, segments=tuple(spans), codecs=codec_string,
        resolution=_resolution(info, vact),
        frame_rate=info.video.frame_rate if info.video else None,
        peak_bandwidth=math.ceil(max(peak, average)), average_bandwidth=math.ceil(average),
        target_duration=target_duration,
    )


def peak_rate(bits: list[float], durations: list[float], target_duration: int) -> float:
    """HLS peak segment bit rate (RFC 8216bis 4.4.6.2): the highest rate of any run of
    consecutive segments lasting 0.5 to 1.5 target durations, so a short last segment
    holding one big keyframe does not count alone."""
    low, high = 0.5 * target_duration, 1.5 * target_duration
    best = 0.0
    for first in range(len(bits)):
        total, seconds = 0.0, 0.0
        for n in range(first, len(bits)):
            total, seconds = total + bits[n], seconds + durations[n]
            if seconds > high:
                break
            if seconds >= low:
                best = max(best, total / seconds)
    return best or sum(bits) / max(sum(durations), 1e-3)


def _scan(source: Source, container: Any, info: MediaInfo, vact: Action | None,
          aact: Action | None) -> Scan:
    """Keyframes of copied video; sizes of copied audio unless an average will do."""
    video = info.video.index if info.video is not None and vact is Action.COPY else None
    audio = info.audio.index if info.audio is not None and aact is Action.COPY else None
    table = info.sample_table
    mp4_audio = None
    if audio is not None and table:
        mp4_audio = mp4_audio_sizes(container, audio, info.start_time)
        audio = None
    elif audio is not None and video is None and not _needs_audio_sizes(source, info):
        audio = None
    if video is None and audio is None:
        return Scan(gops=[], audio=mp4_audio)
    if table and video is not None:
        timing = track_timing(source, container.streams[video].id)
        gops = mp4_gops(container, video, info.start_time, timing)
        if gops is not None:
            return Scan(gops=gops, audio=mp4_audio)
    with open_input(source) as fresh:  # from the top: probing and mp4_gops moved the other
        scan = scan_packets(fresh, video, audio, info.start_time)
    return Scan(gops=scan.gops, audio=mp4_audio or scan.audio)


def _needs_audio_sizes(source: Source, info: MediaInfo) -> bool:
    """Copied audio-only sources are read only when the header rate is not the peak."""
    return not (info.format_name == "mp3" and not mp3_is_vbr(source))


def _keyframe_spans(gops: list[Gop], duration: float,
                    target: float) -> tuple[list[SegmentSpan], list[float]]:
    """Cut at the first keyframe at or after each segment's start plus ``target``."""
    starts, sizes = [0.0], [0.0]
    for gop in gops:
        if gop is not gops[0] and starts[-1] + target - _EPS <= gop.start < duration:
            starts.append(gop.start)
            sizes.append(0.0)
        sizes[-1] += gop.ts_bytes
    ends = [*starts[1:], duration]
    spans = [SegmentSpan(index=i, start=s, end=e)
             for i, (s, e) in enumerate(zip(starts, ends, strict=True))]
    return spans, sizes


def _fixed_spans(duration: float, target: float) -> list[SegmentSpan]:
    count = max(1, math.ceil(duration / target - _EPS))
    if count > 1 and duration - (count - 1) * target < min(_MIN_TAIL, target / 2):
        count -= 1
    bounds = [i * target for i in range(count)] + [duration]
    return [SegmentSpan(index=i, start=bounds[i], end=bounds[i + 1]) for i in range(count)]


def _span_bytes(span: SegmentSpan, info: MediaInfo, vact: Action | None, aact: Action | None,
                video_bytes: float, audio_sizes: AudioSizes | None) -> float:
    """Estimated MPEG-TS bytes of one segment."""
    dur = max(span.duration, 1e-3)
    total = video_bytes
    pes_rate = (info.video.frame_rate or 30.0) if info.video is not None else 0.0
    if vact is Action.TRANSCODE:
        assert info.video is not None
        enc = video_encoding(info.video)
        # a fresh encoder may spend its whole VBV buffer on top of the rate cap
        total += video_ts_bytes(int((enc.maxrate * dur + enc.bufsize) / 8), True)
        total += dur * pes_rate * video_ts_bytes(0, False)
    if info.audio is not None and aact is not None:
        adts = aact is Action.TRANSCODE or info.audio.codec == "aac"
        payload = _audio_payload(span, info, info.audio, aact, audio_sizes)
        total += audio_ts_bytes(payload, dur, adts=adts)
        pes_rate += audio_pes_count(payload, dur) / dur
    return total + psi_ts_bytes(dur, pes_rate)


def _audio_payload(span: SegmentSpan, info: MediaInfo, track: AudioTrack, aact: Action,
                   audio_sizes: AudioSizes | None) -> float:
    if aact is Action.TRANSCODE:
        return audio_encoding(track).bit_rate * _RATE_MARGIN * span.duration / 8
    if audio_sizes is None:
        rate = track.bit_rate or info.bit_rate or 128_000
        return rate * _RATE_MARGIN * span.duration / 8
    start = None if span.index == 0 else span.start
    end = None if span.end >= info.duration else span.end
    return float(audio_sizes.between(start, end))


def _codecs(container: Any, info: MediaInfo, vact: Action | None, aact: Action | None) -> str:
    parts: list[str] = []
    if info.video is not None and vact is not None:
        ctx = container.streams[info.video.index].codec_context
        if vact is Action.TRANSCODE:
            parts.append(video_encoding(info.video).codec_string)
        elif info.video.codec == "hevc":
            parts.append(codecs.hvc_string(ctx.extradata))
        else:
            parts.append(codecs.avc_string(ctx.extradata, ctx.profile, ctx.level))
    if info.audio is not None and aact is not None:
        ctx = container.streams[info.audio.index].codec_context
        if aact is Action.TRANSCODE:
            parts.append(audio_encoding(info.audio).codec_string)
        elif info.audio.codec == "mp3":
            parts.append(codecs.MP3_STRING)
        else:
            parts.append(codecs.aac_string(ctx.extradata, ctx.profile))
    return ",".join(parts)


def _resolution(info: MediaInfo, vact: Action | None) -> tuple[int, int] | None:
    if info.video is None:
        return None
    if vact is Action.TRANSCODE:
        enc = video_encoding(info.video)
        return enc.width, enc.height
    return info.video.width, info.video.height

