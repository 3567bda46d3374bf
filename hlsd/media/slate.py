"""Slate: filler MPEG-TS segments for a channel's schedule gaps and vanished sources.

A slate run is a stretch of segments that play one after the other on their own
timeline, starting at ``SLATE_BASE`` (the playlist marks a discontinuity where a run
starts and where it ends, none inside it). Each segment is encoded on its own, so any one of a run
can be made on request, in any order, and is the same bytes every time:

- video is one still picture (dark grey, a few muted bars), H.264 Main, one GOP per
  segment opening with an IDR frame, so every segment is a place to start playback;
- audio is silent AAC-LC on a grid of 1024-sample frames counted from the run's
  start: an AAC frame belongs to the segment its first sample falls in, so the audio
  of consecutive segments abuts without gaps or overlaps, although the video cuts
  (every 1920 samples at 25 fps) are not on that grid.
"""

from __future__ import annotations

import io
import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

SLATE_FPS = 25  # frames per second; slate durations are whole frames (40 ms)
SLATE_SAMPLE_RATE = 48_000
SLATE_BASE = 10.0  # seconds: where a run's timeline starts (whole frames, positive DTS)
# What every video+audio slate carries, whatever its size: H.264 Main (profile_idc 77,
# constraint_set1 as x264 writes it for Main) at level 4.0, which every size a
# SlateSpec accepts fits in; AAC-LC.
_AVC_CODEC = "avc1.4d4028"
_AAC_CODEC = "mp4a.40.2"
SLATE_CODECS = f"{_AVC_CODEC},{_AAC_CODEC}"

_AAC_FRAME = 1024  # samples per AAC-LC frame
_SAMPLES_PER_FRAME = SLATE_SAMPLE_RATE // SLATE_FPS  # 1920
_BASE_FRAMES = round(SLATE_BASE * SLATE_FPS)
_BASE_SAMPLES = round(SLATE_BASE * SLATE_SAMPLE_RATE)
_AUDIO_BIT_RATE = 64_000  # silence costs a few bytes per frame at any rate
# H.264 level 4.0 (Annex A, table A-1): MaxFS in macroblocks; a side may not exceed
# sqrt(8 * MaxFS) macroblocks.
_MAX_FRAME_MBS = 8_192
_MAX_SIDE_MBS = math.isqrt(8 * _MAX_FRAME_MBS)
_X264_PARAMS = ":".join((
    "level=4.0",  # what SLATE_CODECS announces, for every size
    "cabac=1",  # ultrafast turns CABAC off, and x264 would then write Baseline
    "bframes=0",  # a still picture gains nothing from them; first DTS == first PTS
    "keyint=infinite:scenecut=0",  # the whole segment is one GOP
    "colorprim=bt709:transfer=bt709:colormatrix=bt709",  # the picture's colours are BT.709
))
_X264_OPTIONS = {
    "preset": "ultrafast",
    "profile": "main",
    "crf": "23",
    "threads": "1",  # one thread: the same bytes on every machine and every call
    "x264-params": _X264_PARAMS,
}
_MUXER_OPTIONS = {
    "mpegts_copyts": "1",  # our timestamps are final: no muxer delay added
    "avoid_negative_ts": "disabled",
    "max_delay": "700000",  # as ffmpeg: audio frames share PES packets (less overhead)
}
# libavformat recognises MPEG-TS by content only from 10 * 204 bytes on (mpegts_probe);
# a shorter segment (a few frames of silence) is taken for MPEG-PS and fails to decode.
# Null packets (PID 0x1FFF), which every demuxer drops, bring such a segment up to that.
_TS_PACKET = 188
_MIN_TS_PACKETS = -(-10 * 204 // _TS_PACKET)
_NULL_PACKET = b"\x47\x1f\xff\x10" + b"\xff" * (_TS_PACKET - 4)

# The picture's colours, 8-bit RGB: dim, so the slate reads as "nothing on".
_BACKGROUND = (28, 28, 32)
_BARS = (
    (112, 112, 112), (112, 112, 36), (36, 112, 112), (36, 112, 36),
    (112, 36, 112), (112, 36, 36), (36, 36, 112),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class SlateSpec:
    """What a slate must look like to stand in for one channel variant."""

    width: int | None = None  # None with height None: audio-only slate
    height: int | None = None
    audio: bool = True  # include a silent AAC track (stereo, 48 kHz)

    def __post_init__(self) -> None:
        if (self.width is None) != (self.height is None):
            raise ValueError("slate width and height must both be given or both be None")
        if self.width is not None and self.height is not None:
            _check_size(self.width, self.height)
        elif not self.audio:
            raise ValueError("a slate needs video, audio or both")

    @property
    def codecs(self) -> str:
        """The RFC 6381 CODECS attribute of this slate's segments."""
        video = self.width is not None
        return ",".join(c for c, on in ((_AVC_CODEC, video), (_AAC_CODEC, self.audio)) if on)


def slate_segment(spec: SlateSpec, *, frames: int, offset_frames: int) -> bytes:
    """One MPEG-TS segment lasting `frames`/SLATE_FPS seconds, whose timestamps start at
    offset_frames/SLATE_FPS seconds after SLATE_BASE, so that consecutive segments of
    one slate run (offset 0, then offset=frames of the first, ...) are contiguous with
    no discontinuity between them."""
    if frames < 1:
        raise ValueError(f"a slate segment lasts at least one frame, not {frames}")
    if offset_frames < 0:
        raise ValueError(f"slate offset must not be negative, not {offset_frames}")
    buffer = io.BytesIO()
    output: Any = av.open(buffer, "w", format="mpegts", container_options=_MUXER_OPTIONS)
    try:
        packets: list[Any] = []
        if spec.width is not None and spec.height is not None:
            packets += _video(output, spec.width, spec.height, frames, offset_frames)
        if spec.audio:
            packets += _audio(output, frames, offset_frames)
        # In time order, so the muxer's interleaving queue stays short.
        packets.sort(key=lambda p: p.dts * p.time_base)
        for packet in packets:
            output.mux(packet)
    finally:
        output.close()
    data = buffer.getvalue()
    missing = _MIN_TS_PACKETS - len(data) // _TS_PACKET
    return data + _NULL_PACKET * missing if missing > 0 else data


def _check_size(width: int, height: int) -> None:
    if width < 2 or height < 2 or width % 2 or height % 2:
        raise ValueError(f"slate size must be positive and even, not {width}x{height}")
    w_mbs, h_mbs = -(-width // 16), -(-height // 16)
    if w_mbs * h_mbs > _MAX_FRAME_MBS or max(w_mbs, h_mbs) > _MAX_SIDE_MBS:
        raise ValueError(f"slate size {width}x{height} exceeds H.264 level 4.0 (1080p)")


def _video(output: Any, width: int, height: int, frames: int, offset: int) -> list[Any]:
    """Packets of `frames` copies of the picture; a fresh encoder, so the first is IDR."""
    stream = output.add_stream("libx264", rate=SLATE_FPS, options=_X264_OPTIONS)
    ctx = stream.codec_context
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = Fraction(1, SLATE_FPS)
    ctx.thread_count = 1  # libavcodec's own threading, on top of x264's option
    picture = _picture(width, height)
    packets: list[Any] = []
    # x264 copies each picture in, so one frame serves every timestamp.
    for pts in range(_BASE_FRAMES + offset, _BASE_FRAMES + offset + frames):
        picture.pts = pts
        packets.extend(stream.encode(picture))
    packets.extend(stream.encode(None))
    return packets


def _audio(output: Any, frames: int, offset: int) -> list[Any]:
    """Silent AAC frames whose first sample falls in this segment's samples."""
    first = -(-offset * _SAMPLES_PER_FRAME // _AAC_FRAME)  # AAC frame numbers in the run
    end = -(-(offset + frames) * _SAMPLES_PER_FRAME // _AAC_FRAME)
    stream = output.add_stream("aac", rate=SLATE_SAMPLE_RATE, layout="stereo")
    ctx = stream.codec_context
    ctx.format, ctx.bit_rate = "fltp", _AUDIO_BIT_RATE
    ctx.time_base = Fraction(1, SLATE_SAMPLE_RATE)
    packets: list[Any] = []
    for k in range(first, end):
        packets.extend(stream.encode(_silence(_BASE_SAMPLES + k * _AAC_FRAME)))
    packets.extend(stream.encode(None))
    # The encoder's first packet is its priming frame, timed one frame before the first
    # input: that frame is the previous segment's, which encodes it as a real one.
    lo, hi = _BASE_SAMPLES + first * _AAC_FRAME, _BASE_SAMPLES + end * _AAC_FRAME
    return [p for p in packets if lo <= p.pts < hi]


def _silence(pts: int) -> Any:
    frame = av.AudioFrame(format="fltp", layout="stereo", samples=_AAC_FRAME)
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    frame.sample_rate = SLATE_SAMPLE_RATE
    frame.pts, frame.time_base = pts, Fraction(1, SLATE_SAMPLE_RATE)
    return frame


def _picture(width: int, height: int) -> Any:
    """The slate picture: a dark background with a band of muted bars across the middle.

    Drawn in 2x2 blocks (one chroma sample each), so every edge is exact in yuv420p.
    """
    cw, ch = width // 2, height // 2
    left, top = cw // 6, ch * 5 // 12
    right, bottom = cw - left, ch - top
    edges = [left + (right - left) * i // len(_BARS) for i in range(len(_BARS) + 1)]
    frame = av.VideoFrame(width, height, "yuv420p")
    for p, plane in enumerate(frame.planes):
        scale = 2 if p == 0 else 1  # luma samples per block side
        background = _yuv(_BACKGROUND)[p]
        pad = bytes(plane.line_size - cw * scale)
        plain = bytes([background]) * (cw * scale) + pad
        barred = b"".join((
            bytes([background]) * (left * scale),
            *(bytes([_yuv(c)[p]]) * ((b - a) * scale)
              for c, (a, b) in zip(_BARS, itertools.pairwise(edges), strict=True)),
            bytes([background]) * ((cw - right) * scale),
            pad,
        ))
        rows = [plain] * (top * scale) + [barred] * ((bottom - top) * scale)
        rows += [plain] * ((ch - bottom) * scale)
        plane.update(b"".join(rows))
    return frame


def _yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Limited-range BT.709 Y, Cb, Cr of an 8-bit RGB colour."""
    r, g, b = (c / 255 for c in rgb)
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return (round(16 + 219 * y), round(128 + 224 * (b - y) / 1.8556),
            round(128 + 224 * (r - y) / 1.5748))
