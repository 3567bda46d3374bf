"""Move an MPEG-TS segment to another place on the 90 kHz timeline, by remuxing.

A channel strings VOD segments from many sources, and each source starts its clock
anew. Players that follow EXT-X-DISCONTINUITY cope; many do not (ffmpeg's HLS demuxer
sees time run backwards). So every channel segment is served at its air time: its
timestamps shifted by one amount per clip, which keeps the clip's own spacing exact.
Timestamps are written modulo 2^33, as MPEG-TS wraps them.
"""

from __future__ import annotations

import io
from typing import Any

import av

from hlsd.media.errors import MediaError

__all__ = ["TICKS_PER_SECOND", "first_timestamp", "retime_ts"]

TICKS_PER_SECOND = 90_000
_KINDS = ("video", "audio")


def first_timestamp(data: bytes) -> int:
    """The earliest decode timestamp of a TS segment's audio or video, in 90 kHz ticks."""
    source: Any
    try:
        with av.open(io.BytesIO(data), format="mpegts") as source:
            wanted = [s for s in source.streams if s.type in _KINDS]
            stamps = [p.dts if p.dts is not None else p.pts
                      for p in source.demux(*wanted) if p.size]
    except av.FFmpegError as exc:
        raise MediaError(f"not a readable MPEG-TS segment: {exc}") from exc
    found = [s for s in stamps if s is not None]
    if not found:
        raise MediaError("the segment holds no timed audio or video")
    return int(min(found))


def retime_ts(data: bytes, shift: int, *, end: int | None = None) -> bytes:
    """`data` with every audio and video timestamp moved by `shift` ticks; the packets
    are copied, never re-encoded.

    Audio that would run past `end` (in the segment's own ticks) is dropped: an encoder
    pads a clip's last AAC frame past the picture, and that tail would overlap the next
    clip, which players refuse (time running backwards); a few ms of silence they take.
    """
    out_buffer = io.BytesIO()
    source: Any
    try:
        with av.open(io.BytesIO(data), format="mpegts") as source, \
                av.open(out_buffer, "w", format="mpegts",
                        options={"mpegts_copyts": "1"}) as out:
            mapped = {s.index: out.add_stream_from_template(s)
                      for s in source.streams if s.type in _KINDS}
            for packet in source.demux(*[source.streams[i] for i in mapped]):
                if packet.size == 0:
                    continue  # the demuxer's flush packet
                if (end is not None and packet.stream.type == "audio"
                        and packet.dts is not None and packet.duration
                        and packet.dts + packet.duration > end):
                    continue
                if packet.pts is not None:
                    packet.pts += shift
                if packet.dts is not None:
                    packet.dts += shift
                packet.stream = mapped[packet.stream.index]
                out.mux(packet)
    except av.FFmpegError as exc:
        raise MediaError(f"the segment cannot be retimed: {exc}") from exc
    return out_buffer.getvalue()
