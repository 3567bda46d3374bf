"""One variant of a live stream: the segments produced into its window, and its live
playlist.

The window (`hlsd.streams.window`) keeps the sequence numbers, PROGRAM-DATE-TIME
advancing, what left it available for its time, and the spill. The rendition keeps the
rest of the rules (RFC 8216 §6.2.2, rfc8216bis §6.2.2):
- EXT-X-TARGETDURATION is fixed by the first segment and never changes;
- no PLAYLIST-TYPE; ENDLIST only once the stream has ended.

Segments come whole (`append`), or part by part (`append_part`, then `close_segment`;
the part rules and the open segment are kept by `hlsd.streams._parts`): the open
segment has its media sequence number, time and place from its first part on, and
joins the window and the readers only when it is closed, as a whole `Segment`. Its
parts are in the Low-Latency playlist (`hlsd.streams.playlists`) as they come, and
served by their names (numbered across the rendition, so the next one's is known:
EXT-X-PRELOAD-HINT). Every change (a part, a segment, the end) is one `version` more and
releases whoever waits on `changes` (blocking playlist reloads, hinted parts).
Writers are producers' handles (`hlsd.streams.producer`); readers read.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from hlsd.hls import Rendered
from hlsd.hls.values import rounded_seconds
from hlsd.streams._parts import PartLedger, PartRefused
from hlsd.streams.changes import ChangeSignal
from hlsd.streams.playlists import RenderedPlaylists, Reports, Skipping
from hlsd.streams.segment import (
    MAX_SEGMENT_DURATION,
    InitSegment,
    OpenSegment,
    Part,
    Segment,
    SegmentTooLong,
    duration_problem,
    viewing,
)
from hlsd.streams.snapshot import OpenSegmentSnapshot, RenditionSnapshot
from hlsd.streams.spill import SpillDir
from hlsd.streams.window import LiveWindow

__all__ = ["LiveRendition", "RenditionEnded", "RenditionInfo", "SegmentTooLong"]


@dataclass(frozen=True, kw_only=True, slots=True)
class RenditionInfo:
    """What a master playlist says of a variant (EXT-X-STREAM-INF, RFC 8216 §4.3.4.2)."""

    bandwidth: int | None = None
    average_bandwidth: int | None = None
    codecs: str | None = None
    resolution: tuple[int, int] | None = None
    frame_rate: float | None = None


class RenditionEnded(RuntimeError):
    """A segment was offered to a rendition whose stream has ended."""


class LiveRendition:
    def __init__(self, *, name: str, session: str, window: int,
                 clock: Callable[[], float] = time.monotonic, spill: SpillDir | None = None,
                 spill_folder: str = "", memory_limit: int | None = None,
                 keep_for: float = 0.0,
                 on_append: Callable[[LiveRendition, Segment], None] | None = None,
                 on_change: Callable[[LiveRendition], None] | None = None) -> None:
        """`on_append`: told of each segment committed; `on_change`: of every change
        (a part too), after `changes` has released its waiters."""
        self._parts = PartLedger()
        self._window = LiveWindow(size=window, clock=clock, spill=spill,
                                  spill_folder=spill_folder, memory_limit=memory_limit,
                                  keep_for=keep_for, on_expire=self._parts.forget)
        self.name = name
        self.info = RenditionInfo()
        self.target_duration: int | None = None
        self.ended = False
        self.updated: float | None = None
        """When its newest segment was committed (the stream's clock)."""
        self._session = session
        self._clock = clock
        self._next_sequence = 0
        self._discontinuity_pending = False
        self._init: InitSegment | None = None
        self._on_append = on_append
        self._on_change = on_change
        self._playlists = RenderedPlaylists()
        self.changes = ChangeSignal()

    @property
    def media_sequence(self) -> int:
        return self._window.media_sequence

    @property
    def discontinuity_sequence(self) -> int:
        return self._window.discontinuity_sequence

    @property
    def memory(self) -> int:
        """Bytes of segments held in memory (the rest has spilled to disk)."""
        return self._window.memory

    # -- producing ----------------------------------------------------------------

    def set_init(self, name: str, data: bytes) -> InitSegment:
        """A new fMP4 initialization section for the segments that follow."""
        if self._init is not None and self._init.data == data:
            return self._init
        if self._init is not None:
            self._discontinuity_pending = True  # the encoding changed
        self._init = InitSegment(name=f"{self._session}-{name}", data=data)
        self._window.keep_init(self._init)
        return self._init

    def air_time(self, duration: float, now: datetime) -> datetime:
        """When a segment that just arrived (at `now`) began, for a publisher that sends
        no PROGRAM-DATE-TIME (`LiveWindow.air_time`)."""
        return self._window.air_time(duration, now)

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
        if self._parts.opened is not None:
            raise RuntimeError(f"rendition {self.name!r} has a segment open: close it first")
        if self.target_duration is None:
            hint = min(target_hint or 1, int(MAX_SEGMENT_DURATION))
            self.target_duration = max(hint, rounded_seconds(duration), 1)
        segment = Segment(
            sequence=self._next_sequence,
            name=f"{self._session}-{self._next_sequence}.{extension}",
            duration=duration, size=len(data), data=data,
            program_date_time=self._window.advancing(program_date_time),
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
            begins = self._parts.begins_segment(duration, independent, self.target_duration)
        except (PartRefused, SegmentTooLong):
            self.close_segment()
            self._discontinuity_pending = True
            raise
        if begins:
            self.close_segment()
        if self._parts.opened is None:
            self._parts.open(OpenSegment(
                sequence=self._next_sequence,
                name=f"{self._session}-{self._next_sequence}.{extension}",
                program_date_time=self._window.advancing(program_date_time),
                discontinuity=self._takes_discontinuity(False), init=self._init))
            self._next_sequence += 1
        part = self._parts.add(self._session, extension=extension, duration=duration,
                               data=data, independent=independent)
        self._changed()
        return part

    @property
    def part_target(self) -> float | None:
        """The Part Target Duration, fixed by the first part (None: no parts, the
        classic playlist)."""
        return self._parts.target

    def close_segment(self) -> Segment | None:
        """The open segment, whole, committed like an appended one; None if none is open
        (or it has no part)."""
        opened = self._parts.detach()
        if opened is None or not opened.parts:
            return None
        segment = opened.close()
        self._commit(segment)
        return segment

    @property
    def open_segment(self) -> OpenSegment | None:
        """The segment being produced part by part, if any (not in `segments` yet)."""
        return self._parts.opened

    @property
    def next_part_name(self) -> str:
        """The URI the next part will have (EXT-X-PRELOAD-HINT)."""
        return self._parts.next_name(self._session)

    def last_part(self) -> tuple[int, int] | None:
        """The media sequence number and part index of the newest part in the playlist
        (index -1 for a segment that came whole); None before the first segment."""
        last = self._window.newest
        if last is None:
            return None
        opened = self._parts.opened
        if opened is not None and opened.parts:
            return opened.sequence, len(opened.parts) - 1
        return last.sequence, len(last.parts) - 1

    def has(self, msn: int, part: int | None = None) -> bool:
        """Whether the playlist holds segment `msn` (whole) or a later one; with `part`,
        part `part` of segment `msn` or a later part (a part index past a segment's last
        stands for the next segment's first: rfc8216bis §6.2.5.2)."""
        if part is None:
            last = self._window.newest
            return last is not None and last.sequence >= msn
        newest = self.last_part()
        return newest is not None and newest >= (msn, part)

    def _takes_discontinuity(self, declared: bool) -> bool:
        """Whether the next segment follows a break (never the rendition's first)."""
        discontinuity = (declared or self._discontinuity_pending) and self._window.held
        self._discontinuity_pending = False
        return discontinuity

    def _commit(self, segment: Segment) -> None:
        assert self.target_duration is not None
        self.updated = self._clock()
        self._window.add(segment, self.target_duration)
        if self._on_append is not None:
            self._on_append(self, segment)
        self._changed()

    def _changed(self) -> None:
        """A new version: playlists are rendered again when asked for, and whoever
        waits for a change is released."""
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

    def close(self) -> None:
        """Release everything this rendition holds (its stream is being forgotten)."""
        self._window.close()
        self._parts.clear()
        self.changes.changed()  # whoever waits finds nothing left

    # -- mirroring ----------------------------------------------------------------

    def snapshot(self) -> RenditionSnapshot:
        """Its exact state (`hlsd.streams.snapshot`). Spilled segments are read back from
        their files (blocking; the window's few)."""
        opened = self._parts.opened
        return RenditionSnapshot(
            name=self.name, info=self.info, session=self._session,
            target_duration=self.target_duration, part_target=self._parts.target,
            ended=self.ended, updated=self.updated, next_sequence=self._next_sequence,
            next_part=self._parts.next_number, part_extension=self._parts.extension,
            discontinuity_pending=self._discontinuity_pending,
            keyframe_awaited=self._parts.keyframe_awaited,
            media_sequence=self._window.media_sequence,
            discontinuity_sequence=self._window.discontinuity_sequence,
            init=self._init, inits=self._window.inits,
            segments=tuple(_in_memory(segment) for segment in self._window.segments),
            opened=None if opened is None else OpenSegmentSnapshot(
                sequence=opened.sequence, name=opened.name,
                program_date_time=opened.program_date_time,
                discontinuity=opened.discontinuity, init=opened.init,
                parts=tuple(opened.parts)))

    def restore(self, snapshot: RenditionSnapshot) -> None:
        """Take the state `snapshot` carries, into this rendition that has produced
        nothing yet, telling no one (no segment is committed: a mirror's readers and
        the hub's watchers have already been told of them where they were)."""
        if self._window.held or self._parts.opened is not None or self._next_sequence:
            raise RuntimeError(f"rendition {self.name!r} has produced: it cannot be restored")
        if snapshot.name != self.name:
            raise ValueError(f"a snapshot of {snapshot.name!r} is not rendition {self.name!r}")
        self.info = snapshot.info
        self.target_duration = snapshot.target_duration
        self.ended = snapshot.ended
        self.updated = snapshot.updated
        self._session = snapshot.session
        self._next_sequence = snapshot.next_sequence
        self._discontinuity_pending = snapshot.discontinuity_pending
        self._init = snapshot.init
        segments = tuple(_viewed(segment) for segment in snapshot.segments)
        self._window.restore(segments, inits=snapshot.inits,
                             media_sequence=snapshot.media_sequence,
                             discontinuity_sequence=snapshot.discontinuity_sequence)
        carried = snapshot.opened
        opened = None if carried is None else OpenSegment.carried(
            sequence=carried.sequence, name=carried.name,
            program_date_time=carried.program_date_time,
            discontinuity=carried.discontinuity, init=carried.init, parts=carried.parts)
        self._parts.restore(target=snapshot.part_target, next_number=snapshot.next_part,
                            extension=snapshot.part_extension,
                            keyframe_awaited=snapshot.keyframe_awaited, opened=opened,
                            segments=segments)
        self._playlists.clear()

    # -- consuming ----------------------------------------------------------------

    @property
    def segments(self) -> tuple[Segment, ...]:
        return self._window.segments

    def history(self) -> tuple[Segment, ...]:
        """Every segment still held, oldest first: those that left the window and are
        still available (the recorder's reach-back), then the window."""
        return self._window.history()

    def get(self, name: str) -> Segment | InitSegment | None:
        """A segment (or init section) by its URI, while it is available."""
        return self._window.get(name)

    def get_part(self, name: str) -> tuple[Part, Segment | None] | None:
        """A part by its URI, with its segment once that is closed (the bytes of a
        spilled segment's part are in its file), while the segment is available."""
        self._window.prune()  # an expired segment's parts are forgotten with it
        place = self._parts.place(name)
        if place is None:
            return None
        segment_name, index = place
        opened = self._parts.opened
        if opened is not None and opened.name == segment_name:
            return opened.parts[index], None
        segment = self._window.segment(segment_name)
        return (segment.parts[index], segment) if segment is not None else None

    def playlist(self, skip: Skipping = Skipping.NONE,
                 reports: Reports | None = None) -> Rendered | None:
        """The live playlist, rendered once per change (per part, with parts: with
        `reports`, also once per change of the stream), lazily; None before the first
        segment. A rendition without parts ignores `skip` and `reports`: its playlist is
        the classic one."""
        if self._window.newest is None:
            return None
        return self._playlists.of(self, skip, reports)

    def peak_bandwidth(self) -> int:
        """Measured from the window: the highest bits per second of any segment."""
        return math.ceil(max((s.bitrate for s in self._window.segments), default=0))

    def recent_bitrate(self, segments: int) -> int:
        """Bits per second now: the newest `segments` segments' bytes over their
        durations (0 before any segment)."""
        newest = self._window.segments[-segments:]
        seconds = sum(s.duration for s in newest)
        return round(sum(s.size for s in newest) * 8 / seconds) if seconds > 0 else 0


def _in_memory(segment: Segment) -> Segment:
    """`segment` with its bytes in memory: read back from its file if it has spilled."""
    if segment.data is not None:
        return segment
    data = segment.read()
    return replace(segment, data=data, path=None, parts=viewing(data, segment.parts))


def _viewed(segment: Segment) -> Segment:
    """A snapshot's segment as a window holds it: its parts views into its one bytes
    object (as `OpenSegment.close` makes them)."""
    if segment.data is None:
        raise ValueError(f"a snapshot's segment {segment.name!r} carries no bytes")
    return replace(segment, path=None, parts=viewing(segment.data, segment.parts))
