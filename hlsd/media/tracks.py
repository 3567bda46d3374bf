"""Per-track segment writers that copy packets, and what all track writers share.

A track writer gets the demuxed packets of its input stream in file order and
returns the packets to mux, already on the output timeline. ``done`` turns true
once it has everything for the segment, so the demux loop can stop early.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

from hlsd.media.timeline import output_shift, to_ticks


class SeekOvershoot(Exception):
    """The seek landed after the segment's first packet: retry from earlier."""


@dataclass(frozen=True, kw_only=True)
class Window:
    """A segment's span in normalized seconds, open at either end for the first and last."""

    start: float | None
    end: float | None
    origin: float
    # True while a later attempt can seek earlier; the last attempt reads from the top.
    strict: bool

    def ticks(self, seconds: float | None, time_base: Fraction) -> int | None:
        return None if seconds is None else to_ticks(seconds + self.origin, time_base)

    def seconds(self, ts: int, time_base: Fraction) -> float:
        return float(ts * time_base) - self.origin


class TrackWriter(Protocol):
    @property
    def source(self) -> Any: ...  # the input stream

    @property
    def need_from(self) -> float: ...  # earliest normalized second this track must read

    @property
    def need_until(self) -> float | None: ...  # and the last (None: to the end of the file)

    @property
    def done(self) -> bool: ...

    def push(self, packet: Any) -> list[Any]: ...

    def finish(self) -> list[Any]: ...


def _ts(packet: Any) -> int | None:
    ts: int | None = packet.pts if packet.pts is not None else packet.dts
    return ts


def _shift(packet: Any, ticks: int, out: Any) -> Any:
    if packet.pts is not None:
        packet.pts += ticks
    if packet.dts is not None:
        packet.dts += ticks
    packet.stream = out
    return packet


class CopyVideo:
    """Every packet from the segment's keyframe up to (not including) the next cut keyframe.

    Decode order, not presentation order, decides membership, as in ffmpeg's HLS
    muxer: open-GOP leading pictures stay with the keyframe they follow.
    """

    def __init__(self, source: Any, output: Any, window: Window) -> None:
        self.source = source
        self._out = output.add_stream_from_template(source)
        tb = source.time_base
        self._lo = window.ticks(window.start, tb)
        self._hi = window.ticks(window.end, tb)
        self._tolerance = max(1, to_ticks(0.001, tb))
        self._shift = output_shift(window.origin, tb)
        self._strict = window.strict
        self.need_from = window.start or 0.0
        self.need_until = window.end
        self.done = False
        self._started = False

    def push(self, packet: Any) -> list[Any]:
        ts = _ts(packet)
        if self.done:
            return []
        if not self._started:
            if not packet.is_keyframe or ts is None:
                return []
            if self._lo is not None:
                if ts < self._lo - self._tolerance:
                    return []
                if self._strict and ts > self._lo + self._tolerance:
                    raise SeekOvershoot
            self._started = True
        elif packet.is_keyframe and self._hi is not None and ts is not None and ts >= self._hi:
            self.done = True
            return []
        return [_shift(packet, self._shift, self._out)]

    def finish(self) -> list[Any]:
        return []


class CopyAudio:
    """Audio packets whose own timestamp falls in the segment's span."""

    def __init__(self, source: Any, output: Any, window: Window) -> None:
        self.source = source
        self._out = output.add_stream_from_template(source)
        self._window = window
        self._shift = output_shift(window.origin, source.time_base)
        self.need_from = window.start or 0.0
        self.need_until = window.end
        self.done = False
        self._started = False

    def push(self, packet: Any) -> list[Any]:
        ts = _ts(packet)
        if self.done or ts is None:
            return []
        w = self._window
        t = w.seconds(ts, self.source.time_base)
        if w.end is not None and t >= w.end:
            self.done = True
            return []
        if w.start is not None and t < w.start:
            return []
        if not self._started:
            self._started = True
            slack = max(0.05, 2 * float((packet.duration or 0) * self.source.time_base))
            if w.strict and w.start is not None and t > w.start + slack:
                raise SeekOvershoot
        return [_shift(packet, self._shift, self._out)]

    def finish(self) -> list[Any]:
        return []
