"""Where the next segment of one variant of a recording goes, and whether it follows on."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

from hlsd.streams import InitSegment, Segment
from hlsd.streams.rendition import LiveRendition


class Track:
    """One variant of a recording. Sequence numbers are the recording's own (from 0),
    so they carry on across publisher restarts and hlsd restarts. A segment is a
    discontinuity unless it directly follows the last one stored from the same rendition.
    """

    def __init__(self, *, position: int, next_sequence: int = 0) -> None:
        self.position = position
        self.next_sequence = next_sequence
        self._last: tuple[object, int] | None = None
        self._broken = False
        self._init_keys: dict[str, str] = {}
        self._stored: set[str] = set()

    def place(self, rendition: LiveRendition, segment: Segment) -> tuple[int, bool]:
        """The segment's sequence number in the recording, and whether a discontinuity
        comes before it."""
        return self.place_from(rendition, segment.sequence, segment.discontinuity)

    def advance(self, rendition: LiveRendition, segment: Segment) -> None:
        """The segment `place` placed is stored."""
        self.advance_from(rendition, segment.sequence)

    def place_from(self, origin: object, sequence: int, discontinuity: bool) -> tuple[int, bool]:
        """`place` for a segment numbered `sequence` by `origin` (a rendition, or an edge
        link's publishing session): it follows on only from the same origin's previous
        number."""
        follows = (self._last is not None and self._last[0] is origin
                   and sequence == self._last[1] + 1)
        first = self.next_sequence == 0
        return self.next_sequence, not first and (self._broken or not follows or discontinuity)

    def advance_from(self, origin: object, sequence: int) -> None:
        self.next_sequence += 1
        self._last = (origin, sequence)
        self._broken = False

    def broken(self) -> None:
        """A segment was lost: whatever comes next does not follow on."""
        self._broken = True

    def init_key(self, folder: str, init: InitSegment) -> str:
        """The object key of an initialization section, named by its content so that a
        restarted recording never overwrites one its earlier segments need."""
        key = self._init_keys.get(init.name)
        if key is None:
            digest = hashlib.sha256(init.data).hexdigest()[:20]
            key = self._init_keys[init.name] = f"{folder}init-{digest}.mp4"
        return key

    async def store_init(self, folder: str, init: InitSegment,
                         put: Callable[[str, bytes, str], Awaitable[None]]) -> str:
        """The init section's key, its object put first unless this track stored it."""
        key = self.init_key(folder, init)
        if key not in self._stored:
            await put(key, init.data, "video/mp4")
            self._stored.add(key)
        return key
