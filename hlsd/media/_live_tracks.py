"""What an init says of each track, and the playlist's view of them (TrackInfo).

The probe gives most of it; what it could not (a picture size when the stream was
joined between keyframes) or what changed later (new parameter sets, a new AAC
configuration) is learnt by decoding one frame: rare, and a few ms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import av

from hlsd.media import codecs
from hlsd.media._fmp4 import VIDEO_TIMESCALE, InitTrack, TrackSetup
from hlsd.media._live_input import InputTrack, TrackKind
from hlsd.media._live_model import TrackInfo

__all__ = ["Described", "codecs_value", "describe", "info", "nominal_ticks", "setup",
           "target_duration"]

_DEFAULT_VIDEO_STEP = VIDEO_TIMESCALE // 25


@dataclass(frozen=True, kw_only=True, slots=True)
class Described:
    size: tuple[int, int] | None = None
    audio: tuple[int, str] | None = None
    frame_size: int = 0


def describe(track: InputTrack, extradata: bytes | None, sample: bytes) -> Described:
    """Decode `sample` (a keyframe, or an audio frame) with `extradata` to learn the
    picture size or the audio format; empty when it does not decode."""
    try:
        context: Any = av.CodecContext.create(track.codec, "r")
        if extradata:
            context.extradata = extradata
        frames = list(context.decode(av.Packet(sample)))
        frames += list(context.decode(None))
    except (av.error.FFmpegError, ValueError):
        return Described()
    if not frames:
        return Described()
    frame = frames[0]
    if track.kind is TrackKind.VIDEO:
        return Described(size=(frame.width, frame.height))
    return Described(audio=(frame.sample_rate, frame.layout.name), frame_size=frame.samples)


def setup(track: InputTrack, extradata: bytes | None, described: Described) -> TrackSetup:
    return TrackSetup(template=track.stream, extradata=extradata, size=described.size,
                      audio=described.audio)


def nominal_ticks(track: InputTrack, init: InitTrack, frame_size: int,
                  frame_rate: float | None) -> int:
    """A sample's usual duration in the track's timescale: what the last sample before
    a cut is given while its successor has not arrived."""
    if track.kind is TrackKind.VIDEO:
        return round(init.timescale / frame_rate) if frame_rate else _DEFAULT_VIDEO_STEP
    size = frame_size or track.stream.codec_context.frame_size
    if not size:
        size = 960 if track.codec == "opus" else 1024
    rate = track.stream.codec_context.sample_rate or init.timescale
    return max(1, size * init.timescale // rate)


def codecs_value(tracks: list[InputTrack], inits: list[InitTrack],
                 extradata: list[bytes | None]) -> str:
    """The CODECS attribute (RFC 6381), video first, from the init's configuration
    boxes (so MPEG-TS and FLV input say the same)."""
    values = []
    for track, init, extra in zip(tracks, inits, extradata, strict=True):
        if track.codec == "h264":
            values.append(codecs.avc_string(init.config, None, None))
        elif track.codec == "hevc":
            values.append(codecs.hvc_string(init.config).replace("hev1.", "hvc1.", 1))
        elif track.codec == "av1":
            values.append(codecs.av1_string(init.config))
        elif track.codec == "aac":
            values.append(codecs.aac_string(extra, track.stream.codec_context.profile))
        elif track.codec == "mp3":
            values.append(codecs.MP3_STRING)
        else:
            values.append("opus")
    return ",".join(values)


def target_duration(segment: float, gop: float | None) -> int:
    """EXT-X-TARGETDURATION for segments that end at the first keyframe at or after
    `segment` seconds, keyframes coming every `gop` seconds: the whole GOPs a segment
    then spans (max(ceil(segment), ceil(gop)) when the GOP divides the segment)."""
    slack = 1e-3  # timestamps in ms or 90 kHz ticks: 2.0000001 is 2
    if not gop:
        return max(1, math.ceil(segment - slack))
    gops = max(1, math.ceil(segment / gop - slack))
    return max(1, math.ceil(segment - slack), math.ceil(gops * gop - slack))


def info(*, codecs_text: str, video: InputTrack | None, size: tuple[int, int] | None,
         frame_rate: float | None, bandwidth: int | None) -> TrackInfo:
    if video is not None and size is None:
        context = video.stream.codec_context
        size = (context.width, context.height) if context.width else None
    return TrackInfo(codecs=codecs_text, resolution=size if video is not None else None,
                     frame_rate=round(frame_rate, 3) if frame_rate else None,
                     bandwidth=bandwidth)
