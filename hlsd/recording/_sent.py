"""Segments sent for a recording rather than read from the hub: the edge link's feed.

A recording of a source an edge holds is fed by that edge (`Recording.feed` is
``edge``), which sends every segment in the recording's range, the past ones from its
cache; the recorder never reads the hub for it, so no segment is stored twice. Each
segment is stored as the recorder stores one (the object written whole, then its row
committed), once: a segment the recording already holds (same variant, same
PROGRAM-DATE-TIME) is not stored again, which is what makes a resend after a dropped
link or a restart harmless. Writes for one recording are serialised, so the check and
the sequence number it takes are one step.
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from hlsd.db import repo
from hlsd.db.repo import Sessions
from hlsd.metrics import Metrics
from hlsd.recording._track import Track
from hlsd.streams import InitSegment
from hlsd.streams.segment import media_type

log = logging.getLogger(__name__)

MAX_RECORDINGS = 256
"""Recordings whose tracks are kept between segments; an older one is read again from
the database when its next segment comes."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SentSegment:
    """One segment as a sender gives it."""

    variant: str
    data: bytes
    duration: float
    program_date_time: datetime
    sequence: int
    """The sender's number for it: consecutive numbers from one `origin` follow on."""
    origin: object
    """Who numbered it (compared by identity): an edge link's stream and variant."""
    discontinuity: bool = False
    extension: str = ".ts"
    init: InitSegment | None = None


class SentSegments:
    def __init__(self, *, sessions: Sessions, metrics: Metrics,
                 put: Callable[[str, bytes, str], Awaitable[None]],
                 on_commit: Callable[[str], None]) -> None:
        self._sessions = sessions
        self._metrics = metrics
        self._put = put
        self._on_commit = on_commit
        self._tracks: dict[str, dict[str, Track]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def store(self, recording_id: str, storage_prefix: str,
                    segment: SentSegment) -> bool:
        """Store `segment` into the recording: True once it is durable, False when the
        recording already held it (nothing written). `NotFound` for a recording gone."""
        lock = self._locks.setdefault(recording_id, asyncio.Lock())
        async with lock:
            try:
                return await self._store(recording_id, storage_prefix, segment)
            finally:
                self._forget_old()

    async def _store(self, recording_id: str, prefix: str, segment: SentSegment) -> bool:
        if await repo.has_segment_at(self._sessions, recording_id, variant=segment.variant,
                                     program_date_time=segment.program_date_time):
            return False
        track = await self._track(recording_id, segment.variant)
        folder = f"{prefix}{track.position}/"
        init_key = None
        if segment.init is not None:
            init_key = await track.store_init(folder, segment.init, self._put)
        sequence, discontinuity = track.place_from(segment.origin, segment.sequence,
                                                   segment.discontinuity)
        extension = segment.extension if segment.extension.startswith(".") else \
            f".{segment.extension}"
        # Named by its time too: two nodes storing one recording at once (two edges
        # holding one source) never write over each other's object.
        stamp = round(segment.program_date_time.timestamp() * 1000)
        key = f"{folder}{sequence}-{stamp}{posixpath.basename(extension)}"
        await self._put(key, segment.data, media_type(key, default="video/mp2t"))
        added = await repo.append_segment(
            self._sessions, recording_id, variant=segment.variant, sequence=sequence,
            duration=segment.duration, program_date_time=segment.program_date_time,
            object_key=key, size=len(segment.data), discontinuity=discontinuity,
            init_key=init_key)
        if not added:  # another node took that number: ours is stale, read it again
            self._tracks.pop(recording_id, None)
            log.warning("recording %s: sequence %d of %r was taken meanwhile; the segment "
                        "is stored with the next sent", recording_id, sequence,
                        segment.variant)
            return await self._store(recording_id, prefix, segment)
        track.advance_from(segment.origin, segment.sequence)
        self._metrics.recorded_segments.inc()
        self._on_commit(recording_id)
        return True

    async def _track(self, recording_id: str, variant: str) -> Track:
        tracks = self._tracks.get(recording_id)
        if tracks is None:
            following = await repo.next_sequences(self._sessions, recording_id)
            tracks = {v.name: Track(position=v.position,
                                    next_sequence=following.get(v.name, 0))
                      for v in await repo.list_variants(self._sessions, recording_id)}
            self._tracks[recording_id] = tracks
        track = tracks.get(variant)
        if track is None:
            position = max((t.position for t in tracks.values()), default=-1) + 1
            await repo.add_variant(self._sessions, recording_id, name=variant,
                                   position=position)
            track = tracks[variant] = Track(position=position)
        return track

    def _forget_old(self) -> None:
        while len(self._tracks) > MAX_RECORDINGS:
            oldest = next(iter(self._tracks))
            del self._tracks[oldest]
        for recording_id in [r for r, lock in self._locks.items()
                             if not lock.locked() and r not in self._tracks]:
            del self._locks[recording_id]
