"""Input timestamps to output decode times: one track's clock.

Output times start near 0 (the stream's first kept decode time is the origin, shared by
every track so audio and video keep their relation) and never go back. A jump in the
input (an encoder restarted without reconnecting, a wrap the demuxer did not undo) is
closed up: the track carries on where it was, and the other tracks, seeing the same jump
moments later, take the same correction, so they stay in step.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["BACKWARD", "FORWARD", "Jumps", "TrackClock"]

BACKWARD = 0.5
"""Seconds a track's timestamps may step back before it is a jump (jitter below that is
absorbed by never going back)."""
FORWARD = 1.0
"""Seconds of silence in a track past which its next timestamp is a jump, not a gap:
no live encoder leaves a second between two frames."""
_SAME_JUMP = 1.0  # seconds: two tracks' jumps this close are one jump of the input


@dataclass(frozen=True, slots=True)
class _Jump:
    seen: float
    """The raw size of the jump, in seconds (the new timestamp less the expected one)."""
    correction: float
    """Seconds added to the input's times from there on."""


class Jumps:
    """The input's recent jumps, shared by the tracks of one stream."""

    def __init__(self) -> None:
        self._recent: deque[_Jump] = deque(maxlen=4)
        self.count = 0

    def correction_for(self, seen: float) -> float:
        for jump in self._recent:
            if abs(jump.seen - seen) < _SAME_JUMP:
                return jump.correction
        self._recent.append(_Jump(seen=seen, correction=-seen))
        self.count += 1
        return -seen


class TrackClock:
    """One track: its input time base to its output timescale."""

    def __init__(self, *, time_base: Fraction, timescale: int, origin: Fraction,
                 jumps: Jumps, step: int) -> None:
        self._num = time_base.numerator * timescale
        self._den = time_base.denominator
        self.timescale = timescale
        self._time_base = time_base
        self._offset = round(origin / time_base)  # input units subtracted
        self._jumps = jumps
        self._last: int | None = None  # output ticks of the last sample
        # The latest steps from one sample to the next: their median is where a sample
        # after a jump goes (one long gap does not count as the usual step).
        self._steps: deque[int] = deque([max(1, step)], maxlen=7)
        self._back = round(BACKWARD * timescale)
        self._forward = round(FORWARD * timescale)

    def _ticks(self, units: int) -> int:
        return (2 * units * self._num + self._den) // (2 * self._den)

    def place(self, dts: int, pts: int) -> tuple[int, int, bool]:
        """(decode time, composition offset ≥ 0, whether a jump was closed up) in
        output ticks. The decode time is always past the previous one.

        Offsets stay as the input has them, never negative (trun version 0): with
        B-frames the video is presented a frame or two after its decode time, as in the
        input, so audio and video keep their relation in every reader. Negative offsets
        would start the picture at its decode time in browsers, but ffmpeg reads them
        as a delay of the video alone (no edit list in a live init to undo it)."""
        out = self._ticks(dts - self._offset)
        jumped = False
        last = self._last
        if last is not None:
            # The usual step is looked for only when the sample is that far from the last.
            if out < last - self._back or out > last + self._forward:
                expected = last + sorted(self._steps)[len(self._steps) // 2]
                if out < last - self._back or out > expected + self._forward:
                    seen = (out - expected) / self.timescale
                    correction = self._jumps.correction_for(seen)
                    self._offset -= round(Fraction(correction) / self._time_base)
                    out = self._ticks(dts - self._offset)
                    jumped = True
            if out <= last:
                out = last + 1
            elif not jumped:
                self._steps.append(out - last)
        self._last = out
        return out, max(0, self._ticks(pts - dts)), jumped

    def start_with(self, other: TrackClock) -> None:
        """Before this track's first sample, take on the corrections `other` made (a
        track that starts after the input jumped): the same input moment then gets the
        same output time on both."""
        if self._last is None:
            self._offset = round(other._offset * other._time_base / self._time_base)

    def rescale(self, timescale: int) -> None:
        """Carry on in another timescale (an audio track's new sample rate)."""
        if self._last is not None:
            self._last = self._last * timescale // self.timescale
        self._steps = deque((max(1, s * timescale // self.timescale) for s in self._steps),
                            maxlen=7)
        self._num = self._time_base.numerator * timescale
        self.timescale = timescale
        self._back = round(BACKWARD * timescale)
        self._forward = round(FORWARD * timescale)
