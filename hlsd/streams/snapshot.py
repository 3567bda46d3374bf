"""A live stream's exact state, to make it again elsewhere: in another worker process
that starts (or restarts) while the stream is live.

Every worker of ``hlsd serve --workers N`` mirrors every live stream in its own hub; the
worker that owns a stream replays each producer call to the others. A worker that comes
late first restores each stream from a `StreamSnapshot` (`Stream.snapshot`, then
`StreamHub.restore`): from then on the same producer calls give it the same state, so
the same playlists, byte for byte (media sequence numbers, segment and part URIs,
discontinuities, PROGRAM-DATE-TIMEs, the open LL-HLS segment and the URI of its next
part, init sections, sessions).

A snapshot holds the bytes of what is in the window (a spilled segment's read back from
its file), of the open segment's parts and of the init sections still served; not the
segments that already left the window (a recording's reach-back stays with the worker
that holds it). It shares the bytes objects it holds with the stream (they are never
changed), so taking one costs no copy of media in memory. Its wire form, a JSON header
and the byte blobs it names by index, is `hlsd.streams._snapshot_wire`
(`snapshot_to_wire`, `snapshot_from_wire`).

Times of the hub's clock (`RenditionSnapshot.updated`, `StreamSnapshot.last_activity`,
`StreamSnapshot.ended_at`) are carried as they are: the hub's clock is
``time.monotonic``, which every process of one host reads alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from hlsd.streams.segment import InitSegment, Part, Segment

if TYPE_CHECKING:
    from hlsd.streams.rendition import RenditionInfo
    from hlsd.streams.stream import PublisherKind

__all__ = ["OpenSegmentSnapshot", "RenditionSnapshot", "StreamSnapshot"]


@dataclass(frozen=True, kw_only=True, slots=True)
class OpenSegmentSnapshot:
    """The LL-HLS segment a rendition is producing part by part."""

    sequence: int
    name: str
    program_date_time: datetime
    discontinuity: bool
    init: InitSegment | None
    parts: tuple[Part, ...]
    """Each with its own bytes (`Part.data`), in order."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RenditionSnapshot:
    """Everything a `LiveRendition` needs to carry on exactly as it would have.

    Init sections are the same objects wherever the rendition had the same one (a
    playlist names a segment's EXT-X-MAP where it differs from the one before)."""

    name: str
    info: RenditionInfo
    session: str
    target_duration: int | None
    part_target: float | None
    ended: bool
    updated: float | None
    """When its newest segment was committed (the hub's clock)."""
    next_sequence: int
    next_part: int
    """The number the next part will take (parts are numbered across the rendition)."""
    part_extension: str
    """The extension of the last part's URI, which the next part's hint is named with."""
    discontinuity_pending: bool
    keyframe_awaited: bool
    """A part was refused: the next segment must begin with an independent part."""
    media_sequence: int
    discontinuity_sequence: int
    init: InitSegment | None
    """The init section in force for the segments to come."""
    inits: tuple[InitSegment, ...]
    """The init sections still served by their URIs, oldest first."""
    segments: tuple[Segment, ...]
    """The window, oldest first: each with its bytes in memory (`Segment.data`), its
    parts views into them."""
    opened: OpenSegmentSnapshot | None


@dataclass(frozen=True, kw_only=True, slots=True)
class StreamSnapshot:
    """A stream: who publishes it, in which session, whether it ended, its variants."""

    name: str
    publisher: str
    kind: PublisherKind
    session: str
    ended: bool
    last_activity: float
    """When its publisher was last heard from (the hub's clock: the idle timeout)."""
    ended_at: float | None
    """When it ended (the hub's clock: the retention), if it did."""
    renditions: tuple[RenditionSnapshot, ...]
    """In the order the stream made them."""
