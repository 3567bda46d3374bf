"""One variant of a live stream: a sliding window of segments and its live playlist.

The rules it keeps (RFC 8216 §6.2.2, rfc8216bis §6.2.2):
- EXT-X-MEDIA-SEQUENCE grows by exactly one per segment leaving the window;
- EXT-X-DISCONTINUITY-SEQUENCE grows by one per EXT-X-DISCONTINUITY leaving it;
- EXT-X-TARGETDURATION is fixed by the first segment and never changes;
- the window lasts at least three target durations;
- a segment that left the window stays fetchable for its duration plus the playlist's;
- no PLAYLIST-TYPE; ENDLIST only once the stream has ended.

Segments come whole (`append`), or part by part (`append_part`, then `close_segment`):
the open segment has its media sequence number, time and place from its first part on,
and joins the window and the readers only when it is closed, as a whole `Segment`.
Its parts are in the Low-Latency playlist (`hlsd.streams.playlists`) as they come, and
served by their names (numbered across the rendition, so the next one's is known:
EXT-X-PRELOAD-HINT). Every change (a part, a segment, the end) is one `version` more and
releases whoever waits on `changes` (blocking playlist reloads, hinted parts).
Writers are producers' handles (`hlsd.streams.producer`); readers read.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from hlsd.hls import Rendered, render_media, rendered
from hlsd.hls.values import rounded_seconds
from hlsd.streams._parts import PartLedger, PartRefused
from hlsd.streams.changes import ChangeSignal
from hlsd.streams.playlists import Reports, Skipping, media_model
from hlsd.streams.segment import InitSegment, OpenSegment, Part, Segment
from hlsd.streams.spill import SpillDir

_RESYNC = timedelta(seconds=10)
"""How far the wall clock may run ahead of contiguous media before it takes over."""
_PDT_STEP = timedelta(milliseconds=1)
"""The resolution PROGRAM-DATE-TIME is written at."""
_KEPT_INITS = 8
"""Init sections kept: a window never spans more than a few encoding changes."""
MAX_SEGMENT_DURATION = 3600.0
"""Seconds a live segment may last (and a target duration may be): far past any real
segment, and small enough that every time computed from it stays in range."""


def duration_problem(duration: float) -> str | None:
    """Why `duration` (seconds) is no live segment's duration, or None."""
    if not math.isfinite(duration) or duration < 0:
        return "must be a finite number of seconds, not negative"
    if duration > MAX_SEGMENT_DURATION:
        return f"must be at most {MAX_SEGMENT_DURATION:.0f} seconds"
    return None


@dataclass(frozen=True, kw_only=True, slots=True)
class RenditionInfo:
    """What a master playlist says of a variant (EXT-X-STREAM-INF, RFC 8216 §4.3.4.2)."""

    bandwidth: int | None = None
    average_bandwidth: int | None = None
    codecs: str | None = None
    resolution: tuple[int, int] | None = None
    frame_rate: float | None = None


FRAGMENT_TARGET_HEADROOM = 1.5
"""The target duration of a fragment stream, as a multiple of its first fragment's."""


class RenditionEnded(RuntimeError):
    """A segment was offered to a rendition whose stream has ended."""


class SegmentTooLong(ValueError):
    """A segment longer than the rendition's fixed target duration (`LiveRendition.fits`)."""


class LiveRendition:
    def __init__(self, *, name: str, session: str, window: int,
                 clock: Callable[[], float] = time.monotonic, spill: SpillDir | None = None,
                 spill_folder: str = "", memory_limit: int | None = None,
                 keep_for: float = 0.0,
                 on_append: Callable[[LiveRendition, Segment], None] | None = None,
                 on_change: Callable[[LiveRendition], None] | None = None) -> None:
        """`on_append`: told of each segment committed; `on_change`: of every change
        (a part too), after `changes` has released its waiters."""
        if window < 3:
            raise ValueError("a live window holds at least 3 segments")
        self.name = name
        self.info = RenditionInfo()
        self.media_sequence = 0
        self.discontinuity_sequence = 0
        self.target_duration: int | None = None
        self.ended = False
        self.updated: float | None = None
        """When its newest segment was committed (the stream's clock)."""
        self._session = session
        self._window = window
        self._clock = clock
        self._segments: deque[Segment] = deque()
        self._retired: deque[tuple[float, Segment]] = deque()
        self._by_name: dict[str, Segment] = {}
        self._inits: OrderedDict[str, InitSegment] = OrderedDict()
        self._next_sequence = 0
        self._discontinuity_pending = False
        self._rendered: Rendered | None = None
        self._init: InitSegment | None = None
        self._spill = spill
        self._spill_folder = spill_folder
        self._memory_limit = memory_limit
        self._keep_for = keep_for
        self._on_append = on_append
        self._on_change = on_change
        self._open: OpenSegment | None = None
        self._parts = PartLedger()
        self._keyframe_awaited = False
        self._playlists: dict[Skipping, tuple[int, Rendered]] = {}
        self.changes = ChangeSignal()
        self.memory = 0
        """Bytes of segments held in memory (the rest has spilled to disk)."""

    # -- producing ----------------------------------------------------------------

    def set_init(self, name: str, data: bytes) -> InitSegment:
        """A new fMP4 initialization section for the segments that follow."""
        if self._init is not None and self._init.data == data:
            return self._init
        if self._init is not None:
            self._discontinuity_pending = True  # the encoding changed
        self._init = InitSegment(name=f"{self._session}-{name}", data=data)
        self._inits[self._init.name] = self._init
        while len(self._inits) > _KEPT_INITS:
            self._inits.popitem(last=False)
        return self._init

    def air_time(self, duration: float, now: datetime) -> datetime:
        """When a segment that just arrived (at `now`) began, for a publisher that sends
        no PROGRAM-DATE-TIME: media is contiguous, so it starts where the last one ended;
        the wall clock takes over only after a real gap, such as a publisher that was
        away."""
        wall = now - timedelta(seconds=duration)
        if not self._segments:
            return wall
        last = self._segments[-1]
        expected = last.program_date_time + timedelta(seconds=last.duration)
        return wall if wall - expected > _RESYNC else expected

    def fits(self, duration: float) -> bool:
        """Whether a segment of `duration` may join the window: within the target
        duration (rounded as RFC 8216 rounds it), which the first segment fixes."""
        return self.target_duration is None or rounded_seconds(duration) <= self.target_duration

    def mark_discontinuity(self) -> None:
        self._discontinuity_pending = True

    def append(self, *, duration: float, data: bytes, program_date_time: datetime,
               extension: str, target_hint: int | None = None,
               discontinuity: bool = False) -> Segment:
        if self.ended:
            raise RenditionEnded(f"rendition {self.name!r} has ended")
        if (problem := duration_problem(duration)) is not None:
            raise ValueError(f"a segment's duration {problem}")  # the producers check first
        if not self.fits(duration):
            # TARGETDURATION never changes and no EXTINF may exceed it (RFC 8216): such a
            # segment could never be written into the playlist. Producers check `fits`
            # first and count what they drop.
            raise SegmentTooLong(f"a segment of {duration:.3f} s is longer than the fixed "
                                 f"target duration of {self.target_duration} s")
        if self._open is not None:
            raise RuntimeError(f"rendition {self.name!r} has a segment open: close it first")
        if self.target_duration is None:
            hint = min(target_hint or 1, int(MAX_SEGMENT_DURATION))
            self.target_duration = max(hint, rounded_seconds(duration), 1)
        segment = Segment(
            sequence=self._next_sequence,
            name=f"{self._session}-{self._next_sequence}.{extension}",
            duration=duration, size=len(data), data=data,
            program_date_time=self._advancing(program_date_time),
            discontinuity=self._takes_discontinuity(discontinuity),
            init=self._init,
        )
        self._next_sequence += 1
        self._commit(segment)
        return segment

    def append_part(self, *, duration: float, data: bytes, program_date_time: datetime,
                    extension: str, independent: bool = False,
                    target_duration: int | None = None,
                    part_target: float | None = None) -> Part:
        """One LL-HLS part of the open segment, opening one if none is (numbered,
        timed at `program_date_time` and placed now). The rendition's first part must
        give its `target_duration` (a segment's length is not known before it is
        closed) and its `part_target`; both are fixed from then on.

        An independent part that cannot join the open segment (it would grow past the
        target duration, or follow a short part) closes it and begins the next. Refused:
        a part longer than the part target or of no duration (`PartRefused`), or one
        that is not independent where a segment must begin (`PartRefused` after a short
        part, `SegmentTooLong` past the target duration). A refusal ends the open
        segment where it is; the next begins with an independent part, after a
        discontinuity."""
        if self.ended:
            raise RenditionEnded(f"rendition {self.name!r} has ended")
        if (problem := duration_problem(duration)) is not None:
            raise ValueError(f"a part's duration {problem}")
        if self.target_duration is None:
            if target_duration is None:
                raise ValueError("the first part of a rendition gives its target duration")
            self.target_duration = max(1, min(target_duration, int(MAX_SEGMENT_DURATION)))
        self._parts.fix_target(part_target, self.target_duration)
        try:
            self._place_part(duration, independent)
        except (PartRefused, SegmentTooLong):
            self.close_segment()
            self._keyframe_awaited = self._discontinuity_pending = True
            raise
        if self._open is None:
            self._keyframe_awaited = False
            self._open = OpenSegment(
                sequence=self._next_sequence, stem=f"{self._session}-{self._next_sequence}",
                extension=extension, program_date_time=self._advancing(program_date_time),
                discontinuity=self._takes_discontinuity(False), init=self._init)
            self._next_sequence += 1
        number, name = self._parts.take(self._session, extension)
        part = self._open.add(number=number, name=name, duration=duration, data=data,
                              independent=independent)
        self._parts.record(part, self._open.name)
        self._changed()
        return part

    def _place_part(self, duration: float, independent: bool) -> None:
        """Whether a part may join the open segment, begin the next, or neither."""
        self._parts.check(duration)
        opened = self._open
        if opened is None or not opened.parts:
            if self._keyframe_awaited and not independent:
                raise PartRefused("after a refused part, a segment begins with a keyframe")
            return
        short = self._parts.short(opened.parts[-1])
        if short or not self.fits(opened.duration + duration):
            if not independent:
                if short:
                    raise PartRefused("a part after a short one must begin a new "
                                      "segment, with a keyframe")
                raise SegmentTooLong(
                    f"a segment of {opened.duration + duration:.3f} s would be longer "
                    f"than the fixed target duration of {self.target_duration} s")
            self.close_segment()

    @property
    def part_target(self) -> float | None:
        """The Part Target Duration, fixed by the first part (None: no parts, the
        classic playlist)."""
        return self._parts.target

    def close_segment(self) -> Segment | None:
        """The open segment, whole, committed like an appended one; None if none is open
        (or it has no part)."""
        opened, self._open = self._open, None
        if opened is None or not opened.parts:
            return None
        segment = opened.close()
        self._commit(segment)
        return segment

    @property
    def open_segment(self) -> OpenSegment | None:
        """The segment being produced part by part, if any (not in `segments` yet)."""
        return self._open

    @property
    def next_part_name(self) -> str:
        """The URI the next part will have (EXT-X-PRELOAD-HINT)."""
        return self._parts.next_name(self._session)

    def last_part(self) -> tuple[int, int] | None:
        """The media sequence number and part index of the newest part in the playlist
        (index -1 for a segment that came whole); None before the first segment."""
        if not self._segments:
            return None
        if self._open is not None and self._open.parts:
            return self._open.sequence, len(self._open.parts) - 1
        last = self._segments[-1]
        return last.sequence, len(last.parts) - 1

    def has(self, msn: int, part: int | None = None) -> bool:
        """Whether the playlist holds segment `msn` (whole) or a later one; with `part`,
        part `part` of segment `msn` or a later part (a part index past a segment's last
        stands for the next segment's first: rfc8216bis §6.2.5.2)."""
        if part is None:
            return bool(self._segments) and self._segments[-1].sequence >= msn
        newest = self.last_part()
        return newest is not None and newest >= (msn, part)

    def _advancing(self, program_date_time: datetime) -> datetime:
        """PROGRAM-DATE-TIME must advance (as written, to the millisecond); a publisher's
        clock that did not is mended (by a millisecond at least, after a segment of next
        to no duration)."""
        last = self._segments[-1] if self._segments else None
        if last is not None and program_date_time < last.program_date_time + _PDT_STEP:
            return last.program_date_time + max(timedelta(seconds=last.duration), _PDT_STEP)
        return program_date_time

    def _takes_discontinuity(self, declared: bool) -> bool:
        """Whether the next segment follows a break (never the rendition's first)."""
        discontinuity = (declared or self._discontinuity_pending) and bool(
            self._segments or self._retired)
        self._discontinuity_pending = False
        return discontinuity

    def _commit(self, segment: Segment) -> None:
        self._segments.append(segment)
        self.updated = self._clock()
        self._by_name[segment.name] = segment
        self.memory += segment.size
        self._slide()
        self._spill_over()
        if self._on_append is not None:
            self._on_append(self, segment)
        self._changed()

    def _changed(self) -> None:
        """A new version: playlists are rendered again when asked for, and whoever
        waits for a change is released."""
        self._rendered = None
        self._playlists.clear()
        self.changes.changed()
        if self._on_change is not None:
            self._on_change(self)

    def end(self) -> None:
        """ENDLIST: what a segment left open has is committed first."""
        if not self.ended:
            self.close_segment()
            self.ended = True
            self._changed()

    def resume(self, session: str) -> None:
        """A publisher is back after the end (or a new one took over): carry on, after a
        discontinuity."""
        self.close_segment()
        self.ended = False
        self._session = session
        self._discontinuity_pending = True
        self._changed()

    def _slide(self) -> None:
        assert self.target_duration is not None
        floor = 3 * self.target_duration
        total = sum(s.duration for s in self._segments)
        now = self._clock()
        while len(self._segments) > self._window and total - self._segments[0].duration >= floor:
            gone = self._segments.popleft()
            total -= gone.duration
            self.media_sequence += 1
            if gone.discontinuity:
                self.discontinuity_sequence += 1
            # Available for its duration plus the playlist's after it leaves (§6.2.2),
            # or longer when recordings may reach back to it.
            self._retired.append((now + max(gone.duration + total, self._keep_for), gone))
        self._prune(now)

    def _prune(self, now: float) -> None:
        while self._retired and self._retired[0][0] <= now:
            _, gone = self._retired.popleft()
            self._by_name.pop(gone.name, None)
            self._parts.forget(gone)
            self._release(gone)

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

    def close(self) -> None:
        """Release everything this rendition holds (its stream is being forgotten)."""
        for segment in (*self._segments, *(seg for _, seg in self._retired)):
            self._release(segment)
        self._open = None
        self._segments.clear()
        self._retired.clear()
        self._by_name.clear()
        self._parts.clear()
        self.changes.changed()  # whoever waits finds nothing left

    # -- consuming ----------------------------------------------------------------

    @property
    def segments(self) -> tuple[Segment, ...]:
        return tuple(self._segments)

    def history(self) -> tuple[Segment, ...]:
        """Every segment still held, oldest first: those that left the window and are
        still available (the recorder's reach-back), then the window."""
        self._prune(self._clock())
        return (*(seg for _, seg in self._retired), *self._segments)

    def get(self, name: str) -> Segment | InitSegment | None:
        """A segment (or init section) by its URI, while it is available."""
        self._prune(self._clock())
        return self._by_name.get(name) or self._inits.get(name)

    def get_part(self, name: str) -> tuple[Part, Segment | None] | None:
        """A part by its URI, with its segment once that is closed (the bytes of a
        spilled segment's part are in its file), while the segment is available."""
        self._prune(self._clock())
        place = self._parts.place(name)
        if place is None:
            return None
        segment_name, index = place
        opened = self._open
        if opened is not None and opened.name == segment_name:
            return opened.parts[index], None
        segment = self._by_name.get(segment_name)
        return (segment.parts[index], segment) if segment is not None else None

    def playlist(self, skip: Skipping = Skipping.NONE,
                 reports: Reports | None = None) -> Rendered | None:
        """The live playlist, rendered once per change (per part, with parts: with
        `reports`, also once per change of the stream), lazily; None before the first
        segment. A rendition without parts ignores `skip` and `reports`: its playlist is
        the classic one."""
        if not self._segments:
            return None
        if self.part_target is None or (skip is Skipping.NONE and reports is None):
            if self._rendered is None:
                self._rendered = rendered(render_media(media_model(self)))
            return self._rendered
        version = reports.version if reports is not None else -1
        made = self._playlists.get(skip)
        if made is None or made[0] != version:
            text = render_media(media_model(
                self, skip, reports.reports(self) if reports is not None else ()))
            made = self._playlists[skip] = (version, rendered(text))
        return made[1]

    def peak_bandwidth(self) -> int:
        """Measured from the window: the highest bits per second of any segment."""
        rates = [s.size * 8 / s.duration for s in self._segments if s.duration > 0]
        return math.ceil(max(rates)) if rates else 0
