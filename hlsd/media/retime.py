"""Move a segment to another place on the 90 kHz timeline, as MPEG-TS, by remuxing.

A channel strings VOD segments from many sources, and each source starts its clock
anew. Players that follow EXT-X-DISCONTINUITY cope; many do not (ffmpeg's HLS demuxer
sees time run backwards). So every channel segment is served at its air time: its
timestamps shifted by one amount per clip, which keeps the clip's own spacing exact.
Timestamps are written modulo 2^33, as MPEG-TS wraps them. An fMP4 segment (given
after its initialization section) comes out as MPEG-TS too, so one playlist can carry
sources of both kinds, and slate, without an EXT-X-MAP to change.
"""

from __future__ import annotations

import io
from fractions import Fraction
from typing import Any

import av

from hlsd.media.errors import MediaError

__all__ = ["TICKS_PER_SECOND", "first_timestamp", "retime_ts"]

TICKS_PER_SECOND = 90_000
_TICK = Fraction(1, TICKS_PER_SECOND)
_KINDS = ("video", "audio")


def _ticks(value: int, time_base: Fraction) -> int:
    return round(value * time_base / _TICK)


def first_timestamp(data: bytes, *, source_format: str = "mpegts") -> int:
    """The earliest decode timestamp of a segment's audio or video, in 90 kHz ticks.
    `source_format` is ``mpegts``, or ``mp4`` for an init section and a fragment."""
    source: Any
    try:
        with av.open(io.BytesIO(data), format=source_format) as source:
            wanted = [s for s in source.streams if s.type in _KINDS]
            stamps = [_ticks(p.dts if p.dts is not None else p.pts, p.time_base)
                      for p in source.demux(*wanted)
                      if p.size and (p.dts is not None or p.pts is not None)]
    except av.FFmpegError as exc:
        raise MediaError(f"not a readable {source_format} segment: {exc}") from exc
    if not stamps:
        raise MediaError("the segment holds no timed audio or video")
    return min(stamps)


def retime_ts(data: bytes, shift: int, *, end: int | None = None,
              source_format: str = "mpegts") -> bytes:
    """`data` with every audio and video timestamp moved by `shift` ticks; the packets
    are copied, never re-encoded.

    Audio that would run past `end` (in the segment's own ticks) is dropped: an encoder
    pads a clip's last AAC frame past the picture, and that tail would overlap the next
    clip, which players refuse (time running backwards); a few ms of silence they take.
    """
    out_buffer = io.BytesIO()
    source: Any
    try:
        with av.open(io.BytesIO(data), format=source_format) as source, \
                av.open(out_buffer, "w", format="mpegts",
                        options={"mpegts_copyts": "1"}) as out:
            mapped = {s.index: out.add_stream_from_template(s)
                      for s in source.streams if s.type in _KINDS}
            for packet in source.demux(*[source.streams[i] for i in mapped]):
                if packet.size == 0:
                    continue  # the demuxer's flush packet
                base = packet.time_base
                if (end is not None and packet.stream.type == "audio"
                        and packet.dts is not None and packet.duration
                        and _ticks(packet.dts + packet.duration, base) > end):
                    continue
                # In the packet's own time base: the muxer rescales to 90 kHz.
                moved = round(shift * _TICK / base)
                if packet.pts is not None:
                    packet.pts += moved
                if packet.dts is not None:
                    packet.dts += moved
                packet.stream = mapped[packet.stream.index]
                out.mux(packet)
    except av.FFmpegError as exc:
        raise MediaError(f"the segment cannot be retimed: {exc}") from exc
    return out_buffer.getvalue()
