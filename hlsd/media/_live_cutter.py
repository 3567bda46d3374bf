"""Where parts and segments end: the LL-HLS rules applied to timed samples, no media.

One track leads (video when there is video, else audio): parts and segments are cut
before one of its samples, on its timeline. A sample's duration is the distance to the
next one of its track, so the leading track is held one sample behind the input; a
part is handed on when the sample that starts the next one arrives, with the other
tracks' samples that start before that point.

- A segment ends at the first keyframe at or after `segment` ticks; it never passes
  `target` ticks: then it ends before a sample that is not a keyframe (that part is not
  independent).
  Audio alone ends a segment with a part that fills it, rather than leave a sliver
  of a part before the target.
- A part ends before the sample that would take it past `part` ticks, so parts are as
  long as the frame rate allows within the part target (≥ 85 % of it unless one frame
  is longer than 15 % of it) except a segment's last. When a frame turns out longer
  than the one before it (the estimate), the part that it would overflow is closed
  without it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from hlsd.media._bitstream import Chunk
from hlsd.media._live_model import MediaRefused

__all__ = ["Cut", "Cutter", "Limits", "Sample"]


@dataclass(slots=True)
class Sample:
    dts: int
    """Decode time in its track's timescale."""
    cts: int
    key: bool
    size: int
    chunks: list[Chunk]
    arrived: datetime
    duration: int = 0
    """Ticks to the next sample of its track; 0 while that is not known."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Limits:
    """In the leading track's ticks."""

    part: int
    segment: int
    target: int
    backlog: float
    """Seconds the other tracks may run ahead of the leading one (it stalled)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Cut:
    tracks: list[list[Sample]]
    """Each track's samples, durations set, in the order the tracks were given."""
    duration: int
    """Ticks of the leading track."""
    independent: bool
    starts_segment: bool


@dataclass(slots=True)
class _Open:
    """The part being filled: leading samples (the last one's duration still unknown)."""

    samples: list[Sample] = field(default_factory=list)
    starts_segment: bool = False


class Cutter:
    def __init__(self, *, timescales: list[int], nominal: list[int], leader: int,
                 limits: Limits, audio_only: bool = False) -> None:
        self._timescales = timescales
        self._audio_only = audio_only
        self._nominal = nominal  # each track's usual sample duration, in its ticks
        self._leader = leader
        self._limits = limits
        self._step = max(1, nominal[leader])  # the last leading duration: the next's guess
        self._part = _Open(starts_segment=True)
        self._segment_start = 0
        self._pending: list[deque[Sample]] = [deque() for _ in timescales]
        self._ends = [0] * len(timescales)  # where each track's next sample may start
        self._lead_time = 0.0  # seconds: the leading track's latest sample
        self._segment_at_key = False  # the next leading keyframe starts a segment

    def push(self, track: int, sample: Sample) -> list[Cut]:
        # A track's samples follow one another: after what was handed on (whose last
        # duration may have been guessed), after what is held.
        held = self._pending[track] if track != self._leader else self._part.samples
        floor = held[-1].dts + 1 if held else self._ends[track]
        if sample.dts < floor:
            sample.dts = floor
        if track != self._leader:
            pending = self._pending[track]
            if pending:
                pending[-1].duration = sample.dts - pending[-1].dts
            pending.append(sample)
            self._check_backlog(track, sample)
            return []
        return self._lead(sample)

    def _lead(self, x: Sample) -> list[Cut]:
        cuts: list[Cut] = []
        part = self._part
        self._lead_time = x.dts / self._timescales[self._leader]
        if not part.samples:  # the first, or the first after a flush: a segment starts
            self._segment_start = x.dts
            self._segment_at_key = False
            part.samples.append(x)
            return cuts
        last = part.samples[-1]
        last.duration = x.dts - last.dts
        self._step = last.duration
        limits = self._limits
        # The last sample is known only now: close the part (or the segment) before it
        # when it took them past their bounds.
        if len(part.samples) > 1 and x.dts - part.samples[0].dts > limits.part:
            cuts.append(self._close(part.samples.pop(), new_segment=False))
            part = self._part
        # Timestamps jitter (RTMP's whole milliseconds make 30 fps frames 33 or 34 ms
        # apart): half a frame past the target is still within it (an EXTINF is compared
        # rounded), so a keyframe due at the target is not pre-empted by a forced cut.
        slack = self._step // 2
        if (x.dts - self._segment_start > limits.target + slack
                and last.dts > self._segment_start):
            if len(part.samples) > 1:
                cuts.append(self._close(part.samples.pop(), new_segment=True))
            else:
                part.starts_segment = True
                self._segment_start = last.dts
            part = self._part
        in_segment = x.dts - self._segment_start
        new_segment = (in_segment + self._step > limits.target + slack
                       or (x.key and (in_segment >= limits.segment or self._segment_at_key)))
        if new_segment or x.dts - part.samples[0].dts + self._step > limits.part:
            # Audio can end a segment anywhere: end it with a whole part rather than
            # leave a sliver of a part before the target.
            new_segment = new_segment or (self._audio_only
                                          and in_segment + limits.part > limits.target)
            cuts.append(self._close(x, new_segment=new_segment))
        else:
            part.samples.append(x)
        return cuts

    def _close(self, first: Sample, *, new_segment: bool) -> Cut:
        """Hand on the open part, ending where `first` (which opens the next) starts."""
        part = self._part
        cut = self._cut(part, end=first.dts, everything=False)
        self._part = _Open(samples=[first], starts_segment=new_segment)
        if new_segment:
            self._segment_start = first.dts
            self._segment_at_key = False
        return cut

    def _cut(self, part: _Open, *, end: int | None, everything: bool) -> Cut:
        """The part, ending at `end` (after its last leading sample's usual duration at
        None), with the other tracks' samples that start before that, or all of them."""
        leading = part.samples
        leading[-1].duration = (end - leading[-1].dts) if end is not None else self._step
        self._ends[self._leader] = leading[-1].dts + leading[-1].duration
        tracks: list[list[Sample]] = []
        for index, pending in enumerate(self._pending):
            if index == self._leader:
                tracks.append(leading)
                continue
            taken: list[Sample] = []
            if not everything and end is not None:
                limit = end * self._timescales[index] // self._timescales[self._leader]
                while pending and pending[0].dts < limit:
                    taken.append(pending.popleft())
            else:
                taken.extend(pending)
                pending.clear()
            if taken:
                tail = taken[-1]
                if not tail.duration:  # its successor is not here yet: its usual length
                    tail.duration = self._nominal[index]
                self._ends[index] = tail.dts + tail.duration
            tracks.append(taken)
        return Cut(tracks=tracks, duration=sum(s.duration for s in leading),
                   independent=leading[0].key, starts_segment=part.starts_segment)

    def segment_at_next_key(self) -> None:
        """The input jumped: start a segment at the next keyframe, however soon."""
        self._segment_at_key = True

    def flush(self, *, end: int | None = None, drop_last: bool = False) -> list[Cut]:
        """Hand on everything held (the end of the input, or a new init coming: every
        track's samples so far go out with the old one); `end`, when known, is where the
        next leading sample starts. The next leading sample starts a segment.
        `drop_last`: each track's last sample may be cut short (MPEG-TS ends a PES only
        when the next begins, so its last one may be partial): leave it out."""
        if drop_last:
            for pending in self._pending:
                if pending:
                    pending.pop()
            if self._part.samples:
                self._part.samples.pop()
        if not self._part.samples:
            for pending in self._pending:
                pending.clear()
            self._part = _Open(starts_segment=True)
            return []
        cut = self._cut(self._part, end=end, everything=True)
        self._part = _Open(starts_segment=True)
        return [cut]

    def rescale(self, track: int, timescale: int, nominal: int) -> None:
        """A track's timescale changed (after a flush: nothing of it is held)."""
        self._ends[track] = self._ends[track] * timescale // self._timescales[track]
        self._timescales[track] = timescale
        self._nominal[track] = nominal

    def _check_backlog(self, track: int, sample: Sample) -> None:
        ahead = sample.dts / self._timescales[track] - self._lead_time
        if ahead > self._limits.backlog:
            raise MediaRefused(f"the video stopped: the audio ran {ahead:.0f} s ahead of it")
