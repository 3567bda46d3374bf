"""The recordings an edge sends segments for: each one's id, source and time range, and
which cached segments the control has acknowledged for it.

The book is a file in the edge's folder (``recordings.json``), rewritten atomically by
one saver task after every change, so an edge that restarts (even killed with -9)
knows what the control still wants: at worst an acknowledgement is forgotten and the
segment sent again, which the control acknowledges again without storing it twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hlsd.edge._cache import CachedSegment
from hlsd.infra.atomic import write_atomically

log = logging.getLogger(__name__)

MAX_RECORDINGS = 256
"""Recordings an edge keeps at once; a start past it is refused."""
STOPPED_GRACE = 60.0
"""Seconds after its end a stopped recording is kept for a segment still to come (one
that began before the end and was committed after the stop)."""


class TooManyRecordings(Exception):
    pass


@dataclass(slots=True)
class EdgeRecording:
    id: str
    source_id: str
    source_name: str
    start: datetime
    end: datetime | None = None
    acked: set[int] = field(default_factory=set)
    """Cache ids of the segments the control has made durable for it."""

    def covers(self, segment: CachedSegment) -> bool:
        return (segment.stream == self.source_name and self.start <= segment.start
                and (self.end is None or segment.start < self.end))

    def wants(self, segment: CachedSegment) -> bool:
        return segment.cid not in self.acked and self.covers(segment)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "source_id": self.source_id, "source_name": self.source_name,
                "start": self.start.isoformat(),
                "end": None if self.end is None else self.end.isoformat(),
                "acked": sorted(self.acked)}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> EdgeRecording:
        return cls(id=str(raw["id"]), source_id=str(raw["source_id"]),
                   source_name=str(raw["source_name"]),
                   start=datetime.fromisoformat(raw["start"]),
                   end=None if raw["end"] is None else datetime.fromisoformat(raw["end"]),
                   acked={int(cid) for cid in raw["acked"]})


class RecordingBook:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._recordings: dict[str, EdgeRecording] = {}
        self._dirty = asyncio.Event()
        self._saved = 0
        self._version = 0

    def load(self) -> None:
        """Read the book (blocking); one that cannot be read is logged and started anew."""
        try:
            raw = json.loads(self.path.read_bytes())
            recordings = [EdgeRecording.from_json(r) for r in raw["recordings"]]
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.error("edge: %s cannot be read (%s): its recordings are forgotten",
                      self.path, exc)
            return
        self._recordings = {r.id: r for r in recordings}
        if recordings:
            log.info("edge: %d recording(s) found in %s", len(recordings), self.path)

    # -- what the control asks -------------------------------------------------------------

    def start(self, recording_id: str, *, source_id: str, source_name: str,
              start: datetime, end: datetime | None) -> EdgeRecording:
        """A recording to send segments for; one already known keeps what was
        acknowledged and takes the range given (the control says it again after a
        reconnect)."""
        known = self._recordings.get(recording_id)
        if known is None:
            if len(self._recordings) >= MAX_RECORDINGS:
                raise TooManyRecordings(f"this edge holds {MAX_RECORDINGS} recordings")
            known = EdgeRecording(recording_id, source_id, source_name, start, end)
            self._recordings[recording_id] = known
        else:
            known.source_id, known.source_name = source_id, source_name
            known.start, known.end = start, end
        self.changed()
        return known

    def stop(self, recording_id: str, end: datetime) -> None:
        recording = self._recordings.get(recording_id)
        if recording is not None:
            recording.end = end
            self.changed()

    def close_all(self, source_id: str, end: datetime) -> None:
        for recording in self._recordings.values():
            if recording.source_id == source_id and recording.end is None:
                recording.end = end
                self.changed()

    def ack(self, recording_id: str, cid: int) -> None:
        recording = self._recordings.get(recording_id)
        if recording is not None and cid not in recording.acked:
            recording.acked.add(cid)
            self.changed()

    # -- what the sender reads ---------------------------------------------------------------

    def __iter__(self) -> Iterator[EdgeRecording]:
        return iter(list(self._recordings.values()))

    def __len__(self) -> int:
        return len(self._recordings)

    def get(self, recording_id: str) -> EdgeRecording | None:
        return self._recordings.get(recording_id)

    def ids(self) -> list[str]:
        return list(self._recordings)

    def wanting(self, segment: CachedSegment) -> list[str]:
        return [r.id for r in self._recordings.values() if r.wants(segment)]

    def prune(self, cached: Iterable[CachedSegment], now: datetime) -> None:
        """Forget acknowledgements of segments the cache no longer holds, and stopped
        recordings that want nothing more."""
        segments = list(cached)
        held = {s.cid for s in segments}
        for recording in list(self._recordings.values()):
            stale = recording.acked - held
            if stale:
                recording.acked -= stale
                self.changed()
            if recording.end is None:
                continue
            if (now - recording.end).total_seconds() < STOPPED_GRACE and not any(
                    s.stream == recording.source_name and s.start >= recording.end
                    for s in segments):
                continue  # a segment that began before the end may still come
            if not any(recording.wants(s) for s in segments):
                del self._recordings[recording.id]
                log.info("edge: recording %s complete", recording.id)
                self.changed()

    # -- persistence -------------------------------------------------------------------------

    def changed(self) -> None:
        self._version += 1
        self._dirty.set()

    def _snapshot(self) -> bytes:
        return json.dumps({"recordings": [r.to_json() for r in self._recordings.values()]},
                          separators=(",", ":")).encode()

    async def save_forever(self) -> None:
        """Write the book after each change (one write at a time, the newest state)."""
        while True:
            await self._dirty.wait()
            await self.save()

    async def save(self) -> None:
        self._dirty.clear()
        if self._version == self._saved:
            return
        version, data = self._version, self._snapshot()
        try:
            await asyncio.to_thread(write_atomically, self.path, data)
        except OSError as exc:
            log.error("edge: %s cannot be written: %s", self.path, exc)
            await asyncio.sleep(1.0)
            self._dirty.set()
            return
        self._saved = version
