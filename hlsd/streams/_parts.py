"""`PartLedger`: what a live rendition keeps of its LL-HLS parts: the part target, the
numbering, the segment they are growing, the rules of where a part may go, and where
each part is by its URI.

Parts are numbered across the rendition, not per segment, and their URIs carry the
publishing session (`part_name`): the URI of the next part is known before it exists
(EXT-X-PRELOAD-HINT) and is right whether or not a segment closes first, and no URI is
used twice in a stream's life.
"""

from __future__ import annotations

from collections.abc import Iterable

from hlsd.hls.values import rounded_seconds
from hlsd.streams.segment import OpenSegment, Part, Segment, SegmentTooLong, part_name

__all__ = ["SHORT_PART", "PartLedger", "PartRefused", "millis"]

SHORT_PART = (17, 20)
"""85 %: a part shorter than this share of the part target must be its segment's last,
unless it begins with a keyframe (rfc8216bis §4.4.4.9). A fraction, compared in whole
milliseconds as the renderer does, so both always agree."""


class PartRefused(ValueError):
    """A part the playlist could not list (rfc8216bis §4.4.4.9): longer than the part
    target (or of no duration), or one that would follow a short part of its segment
    without beginning a new one (only a segment's last part may be short)."""


def millis(seconds: float) -> int:
    """Seconds as a playlist writes them (`hlsd.hls.values.format_duration`)."""
    return round(seconds * 1000)


class PartLedger:
    __slots__ = ("_extension", "_keyframe_awaited", "_next", "_places", "opened", "target")

    def __init__(self) -> None:
        self.target: float | None = None
        """The Part Target Duration, fixed by the first part (None: no parts yet)."""
        self.opened: OpenSegment | None = None
        """The segment being produced part by part, if any (not in the window yet)."""
        self._keyframe_awaited = False
        """A part was refused: the next segment begins with an independent one."""
        self._next = 0
        self._extension = "m4s"
        self._places: dict[str, tuple[str, int]] = {}
        """A part's URI → its segment's URI and its index there."""

    def fix_target(self, part_target: float | None, target_duration: int) -> float:
        """The part target, fixed by the first part that gives one."""
        if self.target is None:
            if part_target is None or not 0.001 <= part_target <= target_duration:
                raise ValueError("the first part of a rendition gives its part target, "
                                 "from 1 ms to the target duration")
            self.target = part_target
        return self.target

    def check(self, duration: float) -> None:
        """`PartRefused` for a part that cannot be listed under the part target."""
        assert self.target is not None
        if not 0 < millis(duration) <= millis(self.target):
            raise PartRefused(f"a part of {duration:.3f} s does not fit the part target "
                              f"of {self.target:.3f} s")

    def begins_segment(self, duration: float, independent: bool,
                       target_duration: int) -> bool:
        """Whether a part joins the open segment (False) or must begin the next one,
        the open one closed first (True: an independent part where the open one would
        grow past `target_duration` or follows a short part). A part that may do neither
        is refused (`PartRefused`, `SegmentTooLong`), and the next segment must begin
        with an independent part."""
        try:
            return self._begins_segment(duration, independent, target_duration)
        except (PartRefused, SegmentTooLong):
            self._keyframe_awaited = True
            raise

    def _begins_segment(self, duration: float, independent: bool,
                        target_duration: int) -> bool:
        self.check(duration)
        opened = self.opened
        if opened is None or not opened.parts:
            if self._keyframe_awaited and not independent:
                raise PartRefused("after a refused part, a segment begins with a keyframe")
            return False
        short = self.short(opened.parts[-1])
        grown = opened.duration + duration
        if short or rounded_seconds(grown) > target_duration:  # as `LiveRendition.fits`
            if not independent:
                if short:
                    raise PartRefused("a part after a short one must begin a new "
                                      "segment, with a keyframe")
                raise SegmentTooLong(
                    f"a segment of {grown:.3f} s would be longer "
                    f"than the fixed target duration of {target_duration} s")
            return True
        return False

    def open(self, segment: OpenSegment) -> None:
        """`segment` begins (with the part about to be added)."""
        self.opened = segment
        self._keyframe_awaited = False

    def detach(self) -> OpenSegment | None:
        """The open segment, which is no longer (to be closed, or dropped if empty)."""
        opened, self.opened = self.opened, None
        return opened

    def add(self, session: str, *, extension: str, duration: float, data: bytes,
            independent: bool) -> Part:
        """The next part, numbered and named, added to the open segment."""
        assert self.opened is not None
        number, name = self._take(session, extension)
        part = self.opened.add(number=number, name=name, duration=duration, data=data,
                               independent=independent)
        self._places[part.name] = (self.opened.name, part.index)
        return part

    def short(self, part: Part) -> bool:
        """Shorter than a part must be unless it ends its segment (or is independent)."""
        assert self.target is not None
        share, whole = SHORT_PART
        return not part.independent and \
            millis(part.duration) * whole < millis(self.target) * share

    def next_name(self, session: str) -> str:
        """The URI the next part will have."""
        return part_name(session, self._next, self._extension)

    def _take(self, session: str, extension: str) -> tuple[int, str]:
        """The next part's number and URI, taken."""
        number = self._next
        self._next += 1
        self._extension = extension
        return number, part_name(session, number, extension)

    @property
    def next_number(self) -> int:
        """The number the next part will take."""
        return self._next

    @property
    def extension(self) -> str:
        """The extension the next part's URI is hinted with (the last part's)."""
        return self._extension

    @property
    def keyframe_awaited(self) -> bool:
        """Whether the next segment must begin with an independent part."""
        return self._keyframe_awaited

    def restore(self, *, target: float | None, next_number: int, extension: str,
                keyframe_awaited: bool, opened: OpenSegment | None,
                segments: Iterable[Segment]) -> None:
        """The ledger a snapshot carried (`hlsd.streams.snapshot`), its parts found by
        their URIs: those of `segments` (the window) and of `opened`."""
        self.target = target
        self.opened = opened
        self._next = next_number
        self._extension = extension
        self._keyframe_awaited = keyframe_awaited
        self._places = {part.name: (segment.name, part.index)
                        for segment in segments for part in segment.parts}
        if opened is not None:
            self._places.update((part.name, (opened.name, part.index))
                                for part in opened.parts)

    def place(self, name: str) -> tuple[str, int] | None:
        return self._places.get(name)

    def forget(self, segment: Segment) -> None:
        """`segment` is no longer available: nor are its parts."""
        for part in segment.parts:
            self._places.pop(part.name, None)

    def clear(self) -> None:
        self.opened = None
        self._places.clear()
