"""A still picture of a live segment: the first video frame it decodes to, as a small
JPEG (the console's live thumbnails).

Blocking (PyAV decodes and encodes): run it in a thread. One segment is decoded up to
its first picture only, so it costs a few milliseconds for the usual segment that
begins with a keyframe.
"""

from __future__ import annotations

import io
from fractions import Fraction
from typing import Any

import av

from hlsd.media.errors import MediaError

__all__ = ["WIDTH", "still_jpeg"]

WIDTH = 320
"""Pixels wide, unless the video is narrower."""
_MPEG_TS_SYNC = 0x47


def still_jpeg(data: bytes, *, init: bytes | None = None, width: int = WIDTH) -> bytes | None:
    """A JPEG of the first picture of segment `data` (MPEG-TS, or fMP4 with its
    initialization section `init`), `width` pixels wide at most, its display aspect
    kept; None when the segment carries no video. `MediaError` when it cannot be read
    or decoded."""
    payload = init + data if init is not None else data
    container = "mp4" if init is not None else (
        "mpegts" if data[:1] == bytes([_MPEG_TS_SYNC]) else None)
    try:
        with av.open(io.BytesIO(payload), "r", format=container) as demuxer:
            if not demuxer.streams.video:
                return None
            stream: Any = demuxer.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in demuxer.decode(stream):
                return _encode(frame, stream.codec_context.sample_aspect_ratio, width)
    except av.FFmpegError as exc:
        raise MediaError(f"the segment cannot be decoded ({exc})") from exc
    raise MediaError("the segment holds no whole picture")


def _encode(frame: Any, aspect: Fraction | None, width: int) -> bytes:
    # Square pixels: a frame with non-square samples (anamorphic SD) is shown as wide as
    # it is meant to be.
    display = frame.width * (aspect if aspect else 1)
    out_width = _even(min(width, display))
    out_height = _even(out_width * frame.height / display)
    picture = frame.reformat(width=out_width, height=out_height, format="yuvj420p")
    encoder: Any = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height, encoder.pix_fmt = out_width, out_height, "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    packets = [*encoder.encode(picture), *encoder.encode(None)]
    return b"".join(bytes(packet) for packet in packets)


def _even(value: float) -> int:
    """`value` as an even number of pixels, at least 2 (4:2:0 halves both sides)."""
    return max(2, round(value / 2) * 2)
