"""What readers carry: a stream's committed segments, and the hub's events.

Consumers that follow the whole hub (the registry announcer, the auto-recorder, the
recorder waiting for the streams it records) read `HubEvent`s through a bounded
`Reader`, like every other consumer, rather than being called back inside a producer's
commit: a callback runs consumer code on the publisher's path (a slow or failing one
holds ingest up), and hub-wide consumers' work is asynchronous anyway (Redis, the
database). A stream makes one event per segment and one per session and end, and each
consumer asks only for the kinds it needs. A reader that loses some is told so by the
next event (its loss count), so it can look at the hub itself and catch up: every
hub-wide consumer is level-triggered after a loss (`StreamHub` iterates its streams; the
segments a stream still holds are in `LiveRendition.history`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hlsd.streams.segment import Segment

if TYPE_CHECKING:
    from hlsd.streams.rendition import LiveRendition
    from hlsd.streams.stream import Stream


@dataclass(frozen=True, slots=True)
class Committed:
    """One segment as a stream committed it, with the variant it belongs to."""

    rendition: LiveRendition
    segment: Segment


class HubEventKind(enum.Enum):
    PUBLISHED = "published"
    """A publishing session began: a new stream, or one resumed or taken over."""
    COMMITTED = "committed"
    """A segment was committed (`HubEvent.rendition`, `HubEvent.segment`)."""
    ENDED = "ended"
    """The stream ended (its publisher left, went quiet, or said so)."""


@dataclass(frozen=True, slots=True)
class HubEvent:
    kind: HubEventKind
    stream: Stream
    rendition: LiveRendition | None = None
    segment: Segment | None = None
    serial: int = 0
    """For a commit: the hub's count of commits, this one included (`streams.keepers`)."""
