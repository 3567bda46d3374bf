"""How long a media segment plays, measured from its packets (``hlsd check --segments``).

A segment's EXTINF should say how long it plays (RFC 8216 §4.3.2.1); players lay out
the timeline by it. The measure is the time the segment's video covers (its audio when
it has none): from the earliest presentation time to the end of the latest packet. Only
demuxing, no decoding, so it costs little even for large segments.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, BinaryIO

import av

from hlsd.media.errors import MediaError
from hlsd.media.source import open_input, select_streams

__all__ = ["MeasuredSegment", "measure_segment"]


@dataclass(frozen=True, slots=True)
class MeasuredSegment:
    """`track` is "video" or "audio": the one measured."""

    duration: float
    track: str


class _Bytes:
    """Bytes in memory as a `MediaSource`."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    @property
    def size(self) -> int:
        return len(self._data)

    def open(self) -> BinaryIO:
        return io.BytesIO(self._data)


def measure_segment(data: bytes, init: bytes = b"") -> MeasuredSegment:
    """Measure a segment; `init` is its initialization section (EXT-X-MAP), needed by
    fragmented MP4. MediaError when the bytes are no media PyAV can read."""
    with open_input(_Bytes(init + data)) as container:
        video, audio = select_streams(container)
        stream = video if video is not None else audio
        if stream is None:
            raise MediaError("no audio or video stream")
        span = _span(container, stream)
    if span is None:
        raise MediaError("no media packets")
    return MeasuredSegment(duration=span, track="video" if stream is video else "audio")


def _span(container: Any, stream: Any) -> float | None:
    start: int | None = None
    end: int | None = None
    # A packet without a duration (common for video in MPEG-TS) lasts one frame.
    frame = _frame_ticks(stream)
    try:
        for packet in container.demux(stream):
            if packet.pts is None or not packet.size:
                continue
            start = packet.pts if start is None else min(start, packet.pts)
            stop = packet.pts + (packet.duration or frame)
            end = stop if end is None else max(end, stop)
    except av.FFmpegError as exc:
        raise MediaError("segment is truncated or corrupt") from exc
    if start is None or end is None:
        return None
    return float((end - start) * stream.time_base)


def _frame_ticks(stream: Any) -> int:
    if stream.type != "video":
        return 0  # audio packets carry their duration
    rate = stream.average_rate or stream.guessed_rate
    if not rate or not stream.time_base:
        return 0
    ticks: int = round(1 / (rate * stream.time_base))
    return ticks
