"""Which segment a channel airs at any instant: a pure function of its plans and a time.

A channel's timeline is a sequence of `Plan`s, one per schedule revision, each taking
over at a segment boundary of the one before. A plan is a finite `prefix` of clips
followed by a `cycle` of clips repeated forever, so any instant, however far from the
epoch, is found by arithmetic and two bisections: no per-process ticker, no state. The
same plans and the same instant give the same window on every node, every variant and
after every restart.

Numbering (RFC 8216 §6.2.2): every segment has one media sequence number, counted from
the channel's first segment; every clip's first segment carries EXT-X-DISCONTINUITY
(except the channel's very first), and the discontinuity sequence of a segment is the
number of those tags on segments before it. Times are integer microseconds of the Unix
epoch, so sums never drift.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Clip", "Plan", "Slot", "Timeline", "Window"]


@dataclass(frozen=True, slots=True)
class Clip:
    """One run of a program from its first segment to its last (or a stretch of slate).

    `key` names what plays (a program key, or a slate name); `item` is the schedule
    item it airs for, or None for filler.
    """

    key: str
    durations_us: tuple[int, ...]
    item: str | None = None
    starts_us: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.durations_us or min(self.durations_us) <= 0:
            raise ValueError(f"clip {self.key!r} needs segments of positive length")
        object.__setattr__(self, "starts_us", (0, *itertools.accumulate(self.durations_us)))

    @property
    def duration_us(self) -> int:
        return self.starts_us[-1]

    def __len__(self) -> int:
        return len(self.durations_us)


@dataclass(frozen=True, kw_only=True, slots=True)
class Slot:
    """One segment of the timeline: its number, air time and place in its clip."""

    msn: int
    start_us: int
    duration_us: int
    clip: Clip
    index: int
    """The segment's number within its clip."""
    offset_us: int
    """When the segment starts, from the start of its clip (slate timestamps need it)."""
    discontinuity: bool


class _Run:
    """A list of clips laid end to end, with the running sums a bisection needs."""

    def __init__(self, clips: Sequence[Clip]) -> None:
        self.clips = tuple(clips)
        self.time_starts = (0, *itertools.accumulate(c.duration_us for c in self.clips))
        self.seg_starts = (0, *itertools.accumulate(len(c) for c in self.clips))

    @property
    def duration_us(self) -> int:
        return self.time_starts[-1]

    @property
    def segments(self) -> int:
        return self.seg_starts[-1]

    def at_time(self, t: int) -> tuple[int, int]:
        """(clip number, segment index) of the segment holding `t` (0 <= t < duration)."""
        c = bisect.bisect_right(self.time_starts, t) - 1
        clip = self.clips[c]
        return c, bisect.bisect_right(clip.starts_us, t - self.time_starts[c]) - 1

    def at_segment(self, k: int) -> tuple[int, int]:
        """(clip number, segment index) of the run's `k`th segment."""
        c = bisect.bisect_right(self.seg_starts, k) - 1
        return c, k - self.seg_starts[c]


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    """One schedule revision laid out in time: `prefix`, then `cycle` forever.

    `base_msn` and `base_dsn` are the media and discontinuity sequence numbers of the
    plan's first segment; `opening_discontinuity` is False only for a channel's first
    plan, whose first segment has nothing to be discontinuous with.
    """

    start_us: int
    base_msn: int = 0
    base_dsn: int = 0
    opening_discontinuity: bool = True
    prefix: tuple[Clip, ...] = ()
    cycle: tuple[Clip, ...]
    _prefix: _Run = field(init=False, repr=False, compare=False)
    _cycle: _Run = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.cycle:
            raise ValueError("a plan needs a cycle that repeats after its prefix")
        object.__setattr__(self, "_prefix", _Run(self.prefix))
        object.__setattr__(self, "_cycle", _Run(self.cycle))

    def msn_at(self, t: int) -> int:
        """The media sequence number of the segment on air at `t` (>= `start_us`)."""
        elapsed = t - self.start_us
        if elapsed < 0:
            raise ValueError("the plan has not started at that time")
        if elapsed < self._prefix.duration_us:
            c, i = self._prefix.at_time(elapsed)
            return self.base_msn + self._prefix.seg_starts[c] + i
        loops, into = divmod(elapsed - self._prefix.duration_us, self._cycle.duration_us)
        c, i = self._cycle.at_time(into)
        return (self.base_msn + self._prefix.segments + loops * self._cycle.segments
                + self._cycle.seg_starts[c] + i)

    def slot(self, msn: int) -> Slot:
        """The segment numbered `msn` (>= `base_msn`)."""
        clip, clip_start, ordinal, i = self._locate(msn)
        return Slot(msn=msn, start_us=self.start_us + clip_start + clip.starts_us[i],
                    duration_us=clip.durations_us[i], clip=clip, index=i,
                    offset_us=clip.starts_us[i],
                    discontinuity=i == 0 and (ordinal > 0 or self.opening_discontinuity))

    def dsn(self, msn: int) -> int:
        """The discontinuity sequence number of segment `msn`: the tags before it."""
        _, _, ordinal, i = self._locate(msn)
        openings_before = ordinal + (1 if i > 0 else 0)
        if not self.opening_discontinuity and openings_before:
            openings_before -= 1
        return self.base_dsn + openings_before

    def _locate(self, msn: int) -> tuple[Clip, int, int, int]:
        """(clip, its start from the plan's, its ordinal in the plan, segment index)."""
        k = msn - self.base_msn
        if k < 0:
            raise ValueError("that segment comes before the plan")
        if k < self._prefix.segments:
            c, i = self._prefix.at_segment(k)
            return self.prefix[c], self._prefix.time_starts[c], c, i
        loops, into = divmod(k - self._prefix.segments, self._cycle.segments)
        c, i = self._cycle.at_segment(into)
        start = (self._prefix.duration_us + loops * self._cycle.duration_us
                 + self._cycle.time_starts[c])
        return self.cycle[c], start, len(self.prefix) + loops * len(self.cycle) + c, i


@dataclass(frozen=True, kw_only=True, slots=True)
class Window:
    """What a live playlist shows at one instant: `slots`, oldest first, all aired."""

    media_sequence: int
    discontinuity_sequence: int
    slots: tuple[Slot, ...]


class Timeline:
    """Plans in order of their start; each starts at a segment boundary of the last.

    A segment enters the window once it has aired (its end is at or before now, as a
    live encoder publishes it) and the window reaches back `window_us`: at least
    three target durations, as RFC 8216 §6.2.2 asks.
    """

    def __init__(self, plans: Sequence[Plan], *, window_us: int) -> None:
        if not plans:
            raise ValueError("a timeline needs a plan")
        self.plans = tuple(plans)
        self.window_us = window_us
        self._starts = [p.start_us for p in self.plans]
        self._bases = [p.base_msn for p in self.plans]

    def plan_at(self, t: int) -> Plan | None:
        i = bisect.bisect_right(self._starts, t) - 1
        return self.plans[i] if i >= 0 else None

    def slot(self, msn: int) -> Slot:
        i = bisect.bisect_right(self._bases, msn) - 1
        if i < 0:
            raise ValueError(f"no segment {msn}")
        return self.plans[i].slot(msn)

    def dsn(self, msn: int) -> int:
        return self.plans[bisect.bisect_right(self._bases, msn) - 1].dsn(msn)

    def on_air(self, t: int) -> Slot | None:
        """The segment airing at `t`, or None before the channel's first."""
        plan = self.plan_at(t)
        return None if plan is None else plan.slot(plan.msn_at(t))

    def window(self, now: int) -> Window | None:
        """The live window at `now`; None until a first segment has aired."""
        airing = self.on_air(now)
        # The one airing has not finished, so is not published yet.
        return None if airing is None else self.window_through(airing.msn - 1)

    def window_through(self, last: int) -> Window | None:
        """The window whose newest segment is `last`: it depends on nothing else, so a
        caller that knows `last` has not changed knows the window has not."""
        floor = self.plans[0].base_msn
        slots: list[Slot] = []
        total = 0
        msn = last
        while msn >= floor and total < self.window_us:
            slot = self.slot(msn)
            slots.append(slot)
            total += slot.duration_us
            msn -= 1
        if not slots:
            return None
        slots.reverse()
        first = slots[0].msn
        return Window(media_sequence=first, discontinuity_sequence=self.dsn(first),
                      slots=tuple(slots))

    def next_boundary(self, t: int, *, clip: bool) -> int:
        """The first segment boundary (or, with `clip`, clip boundary) at or after `t`:
        where a new plan can take over without changing anything aired before it."""
        slot = self.on_air(t)
        if slot is None:
            return t
        if slot.start_us == t and (not clip or slot.index == 0):
            return t
        end = (slot.start_us - slot.offset_us + slot.clip.duration_us if clip
               else slot.start_us + slot.duration_us)
        later = [p.start_us for p in self.plans if t < p.start_us < end]
        return min(later) if later else end
