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

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from hlsd.media.continuity import continuous
from hlsd.media.errors import MediaError

__all__ = ["TICKS_PER_SECOND", "Piece", "first_timestamp", "mux_ts", "retime_ts"]

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


@dataclass(frozen=True, kw_only=True, slots=True)
class Piece:
    """One input of a segment: bytes a demuxer reads (`source_format`), and which of its
    packets to keep: those whose decode time is in `keep` (90 kHz ticks of its own
    clock, from inclusive, to exclusive), or all."""

    data: bytes
    source_format: str = "mpegts"
    keep: tuple[int, int] | None = None


def retime_ts(data: bytes, shift: int, *, end: int | None = None,
              source_format: str = "mpegts") -> bytes:
    """`data` with every audio and video timestamp moved by `shift` ticks; the packets
    are copied, never re-encoded.

    Audio that would run past `end` (in the segment's own ticks) is dropped: an encoder
    pads a clip's last AAC frame past the picture, and that tail would overlap the next
    clip, which players refuse (time running backwards); a few ms of silence they take.
    """
    return mux_ts([Piece(data=data, source_format=source_format)], shift, end=end)


def mux_ts(pieces: Sequence[Piece], shift: int, *, end: int | None = None) -> bytes:
    """One MPEG-TS segment from the audio and video of `pieces` (a video fragment and
    the audio fragments around it, say), each packet moved by `shift` ticks; see
    `retime_ts` for `end`."""
    out_buffer = io.BytesIO()
    try:
        with contextlib.ExitStack() as stack:
            out: Any = stack.enter_context(
                av.open(out_buffer, "w", format="mpegts", options={"mpegts_copyts": "1"}))
            packets: list[Any] = []
            outputs: dict[str, Any] = {}  # one per kind: pieces of a track share it
            for piece in pieces:
                source: Any = stack.enter_context(
                    av.open(io.BytesIO(piece.data), format=piece.source_format))
                mapped = {}
                for stream in source.streams:
                    if stream.type in _KINDS:
                        if stream.type not in outputs:
                            outputs[stream.type] = out.add_stream_from_template(stream)
                        mapped[stream.index] = outputs[stream.type]
                for packet in source.demux(*[source.streams[i] for i in mapped]):
                    if _kept(packet, piece.keep, end):
                        _move(packet, shift)
                        packet.stream = mapped[packet.stream.index]
                        packets.append(packet)
            # In decode order across the inputs, so the muxer interleaves them well.
            packets.sort(key=lambda p: (p.dts if p.dts is not None else p.pts or 0)
                         * p.time_base)
            for packet in packets:
                out.mux(packet)
    except av.FFmpegError as exc:
        raise MediaError(f"the segment cannot be retimed: {exc}") from exc
    return continuous(out_buffer.getvalue())


def _kept(packet: Any, keep: tuple[int, int] | None, end: int | None) -> bool:
    if packet.size == 0:
        return False  # the demuxer's flush packet
    base = packet.time_base
    if packet.dts is None:
        return keep is None
    if keep is not None and not keep[0] <= _ticks(packet.dts, base) < keep[1]:
        return False
    return not (end is not None and packet.stream.type == "audio" and packet.duration
                and _ticks(packet.dts + packet.duration, base) > end)


def _move(packet: Any, shift: int) -> None:
    # In the packet's own time base: the muxer rescales to 90 kHz.
    moved = round(shift * _TICK / packet.time_base)
    if packet.pts is not None:
        packet.pts += moved
    if packet.dts is not None:
        packet.dts += moved
