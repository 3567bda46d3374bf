"""`LiveWindow`: the segments a live rendition holds, and for how long.

The rules it keeps (RFC 8216 §6.2.2, rfc8216bis §6.2.2):
- EXT-X-MEDIA-SEQUENCE grows by exactly one per segment leaving the window;
- EXT-X-DISCONTINUITY-SEQUENCE grows by one per EXT-X-DISCONTINUITY leaving it;
- the window lasts at least three target durations (it holds more segments than its
  size when they are short);
- a segment that left the window stays fetchable for its duration plus the playlist's,
  or for `keep_for` when that is longer (the recordings' reach-back), then is forgotten;
- PROGRAM-DATE-TIME advances from each segment to the next (`advancing`).

Past its memory bound, the oldest segments spill to disk (`hlsd.streams.spill`), the
retired ones first; the newest, the one players are about to fetch, always stays in
memory. A segment (or one of the last few init sections) is found by its URI (`get`)
while it is available, in memory or not. How segments are produced (whole or by
parts) and listed is the rendition's (`hlsd.streams.rendition`).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from hlsd.streams.segment import InitSegment, Segment
from hlsd.streams.spill import SpillDir

__all__ = ["MIN_SEGMENTS", "TARGETS_HELD", "LiveWindow"]

MIN_SEGMENTS = 3
"""The fewest segments a window may be sized to."""
TARGETS_HELD = 3
"""The window lasts at least this many target durations (RFC 8216 §6.2.2)."""
_RESYNC = timedelta(seconds=10)
"""How far the wall clock may run ahead of contiguous media before it takes over."""
_PDT_STEP = timedelta(milliseconds=1)
"""The resolution PROGRAM-DATE-TIME is written at."""
_KEPT_INITS = 8
"""Init sections kept: a window never spans more than a few encoding changes."""


class LiveWindow:
    __slots__ = ("_by_name", "_clock", "_inits", "_keep_for", "_memory_limit",
                 "_on_expire", "_retired", "_segments", "_size", "_spill", "_spill_folder",
                 "discontinuity_sequence", "media_sequence", "memory")

    def __init__(self, *, size: int, clock: Callable[[], float],
                 spill: SpillDir | None = None, spill_folder: str = "",
                 memory_limit: int | None = None, keep_for: float = 0.0,
                 on_expire: Callable[[Segment], None] | None = None) -> None:
        """`on_expire`: told of each segment that is no longer available (not of those
        let go by `close`)."""
        if size < MIN_SEGMENTS:
            raise ValueError(f"a live window holds at least {MIN_SEGMENTS} segments")
        self.media_sequence = 0
        self.discontinuity_sequence = 0
        self.memory = 0
        """Bytes of segments held in memory (the rest has spilled to disk)."""
        self._size = size
        self._clock = clock
        self._spill = spill
        self._spill_folder = spill_folder
        self._memory_limit = memory_limit
        self._keep_for = keep_for
        self._on_expire = on_expire
        self._segments: deque[Segment] = deque()
        self._retired: deque[tuple[float, Segment]] = deque()
        """Segments that left the window, with when their availability ends."""
        self._by_name: dict[str, Segment] = {}
        self._inits: OrderedDict[str, InitSegment] = OrderedDict()

    @property
    def segments(self) -> tuple[Segment, ...]:
        """The window, oldest first."""
        return tuple(self._segments)

    @property
    def newest(self) -> Segment | None:
        return self._segments[-1] if self._segments else None

    @property
    def held(self) -> bool:
        """Whether any segment is held, in the window or retired."""
        return bool(self._segments or self._retired)

    def air_time(self, duration: float, now: datetime) -> datetime:
        """When a segment that just arrived (at `now`) began, for a publisher that sends
        no PROGRAM-DATE-TIME: media is contiguous, so it starts where the last one ended;
        the wall clock takes over only after a real gap, such as a publisher that was
        away."""
        wall = now - timedelta(seconds=duration)
        last = self.newest
        if last is None:
            return wall
        expected = last.program_date_time + timedelta(seconds=last.duration)
        return wall if wall - expected > _RESYNC else expected

    def advancing(self, program_date_time: datetime) -> datetime:
        """The PROGRAM-DATE-TIME of the next segment: it must advance (as written, to the
        millisecond); a publisher's clock that did not is mended (by a millisecond at
        least, after a segment of next to no duration)."""
        last = self.newest
        if last is not None and program_date_time < last.program_date_time + _PDT_STEP:
            return last.program_date_time + max(timedelta(seconds=last.duration), _PDT_STEP)
        return program_date_time

    def keep_init(self, init: InitSegment) -> None:
        """`init` is found by its URI from now on, as long as it is one of the last few."""
        self._inits[init.name] = init
        while len(self._inits) > _KEPT_INITS:
            self._inits.popitem(last=False)

    @property
    def inits(self) -> tuple[InitSegment, ...]:
        """The init sections found by their URIs, oldest first."""
        return tuple(self._inits.values())

    def restore(self, segments: Iterable[Segment], *, inits: Iterable[InitSegment],
                media_sequence: int, discontinuity_sequence: int) -> None:
        """The window a snapshot carried (`hlsd.streams.snapshot`), into this fresh one:
        `segments` (each in memory, then spilled as the memory bound says), numbered
        from `media_sequence`, and `inits` found by their URIs."""
        if self._segments or self._retired:
            raise RuntimeError("only a fresh window takes a snapshot's segments")
        self.media_sequence = media_sequence
        self.discontinuity_sequence = discontinuity_sequence
        for segment in segments:
            self._hold(segment)
        self._inits.clear()
        for init in inits:
            self._inits[init.name] = init
        self._spill_over()

    def add(self, segment: Segment, target_duration: int) -> None:
        """`segment` joins the window; the oldest leave it while it stays long enough."""
        self._hold(segment)
        self._slide(TARGETS_HELD * target_duration)
        self._spill_over()

    def _hold(self, segment: Segment) -> None:
        self._segments.append(segment)
        self._by_name[segment.name] = segment
        self.memory += segment.size

    def history(self) -> tuple[Segment, ...]:
        """Every segment still held, oldest first: those that left the window and are
        still available, then the window."""
        self.prune()
        return (*(seg for _, seg in self._retired), *self._segments)

    def get(self, name: str) -> Segment | InitSegment | None:
        """A segment (or init section) by its URI, while it is available."""
        return self.segment(name) or self._inits.get(name)

    def segment(self, name: str) -> Segment | None:
        """A segment by its URI, while it is available."""
        self.prune()
        return self._by_name.get(name)

    def prune(self) -> None:
        """Forget the retired segments whose availability has ended."""
        self._prune(self._clock())

    def _prune(self, now: float) -> None:
        while self._retired and self._retired[0][0] <= now:
            _, gone = self._retired.popleft()
            self._by_name.pop(gone.name, None)
            if self._on_expire is not None:
                self._on_expire(gone)
            self._release(gone)

    def close(self) -> None:
        """Let every segment go, its memory or its spill file (the init sections stay,
        as small as they are, for a late request)."""
        for segment in (*self._segments, *(seg for _, seg in self._retired)):
            self._release(segment)
        self._segments.clear()
        self._retired.clear()
        self._by_name.clear()

    def _slide(self, floor: float) -> None:
        total = sum(s.duration for s in self._segments)
        now = self._clock()
        while len(self._segments) > self._size and total - self._segments[0].duration >= floor:
            gone = self._segments.popleft()
            total -= gone.duration
            self.media_sequence += 1
            if gone.discontinuity:
                self.discontinuity_sequence += 1
            # Available for its duration plus the playlist's after it leaves (§6.2.2),
            # or longer when recordings may reach back to it.
            self._retired.append((now + max(gone.duration + total, self._keep_for), gone))
        self._prune(now)

    def _release(self, segment: Segment) -> None:
        if segment.path is not None and self._spill is not None:
            self._spill.remove(segment.path, segment.size)
        else:
            self.memory -= segment.size

    def _spill_over(self) -> None:
        """Oldest first, move segments to disk until the memory bound holds (the newest
        segment, the one players are about to fetch, always stays in memory)."""
        limit = self._memory_limit
        if self._spill is None or limit is None or self.memory <= limit:
            return
        for i, (expires, seg) in enumerate(self._retired):
            if self.memory <= limit:
                return
            if seg.data is not None:
                self._retired[i] = (expires, self._spilled(seg))
        for i in range(len(self._segments) - 1):
            if self.memory <= limit:
                return
            if self._segments[i].data is not None:
                self._segments[i] = self._spilled(self._segments[i])

    def _spilled(self, segment: Segment) -> Segment:
        assert self._spill is not None and segment.data is not None
        path = self._spill.write(self._spill_folder, segment.name, segment.data)
        # The parts keep their places in the file; their views would pin the bytes.
        moved = replace(segment, data=None, path=path,
                        parts=tuple(replace(part, data=None) for part in segment.parts))
        self._by_name[segment.name] = moved
        self.memory -= segment.size
        return moved
