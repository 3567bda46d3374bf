"""What one edge has been told of the sources it holds, and the commands that bring it
up to date with the database (pure: the caller reads, this compares).

An edge holds a source once it names it (``hello``, ``get_video_source``, a report, a
segment). For each, the link remembers the streaming flag it last sent and the
recordings it asked the edge to send; each read of the database (at every change made
on this node, and at least every `SYNC_INTERVAL` for changes made on other nodes) turns
the differences into `change_stream_state`, `start_recording` and `stop_recording`
(`close_all_active_recording` for a source deleted).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hlsd.cluster import edge_protocol as wire
from hlsd.db import Recording, Source
from hlsd.ingest.livemix_json import recording_json

SYNC_INTERVAL = 1.0
"""Seconds between reads of the flags and recordings of the sources edges hold."""
NOTHING_WANTED = datetime.fromtimestamp(0, UTC)
"""The `end_time` of a recording that no longer exists: before any start, so its range
is empty and the edge forgets it."""
MAX_HELD = wire.MAX_ITEMS
"""Sources one edge may hold."""


@dataclass(kw_only=True)
class Held:
    source_id: str
    name: str
    segment_length: int = 1
    streaming: bool | None = None
    """The flag the edge was last told (None: not yet)."""
    recordings: dict[str, Recording] = field(default_factory=dict)
    """Active recordings the edge was asked to send."""


class Told:
    def __init__(self) -> None:
        self.held: dict[str, Held] = {}
        self._ids = itertools.count(1)

    def request_id(self) -> str:
        return f"c{next(self._ids)}"

    def hold(self, source: Source) -> Held | None:
        """The source as held by this edge (None past `MAX_HELD`)."""
        held = self.held.get(source.id)
        if held is None:
            if len(self.held) >= MAX_HELD:
                return None
            held = self.held[source.id] = Held(source_id=source.id, name=source.name,
                                              segment_length=source.segment_length)
        return held

    def by_name(self, name: str) -> Held | None:
        return next((h for h in self.held.values() if h.name == name), None)

    # -- commands ------------------------------------------------------------------------

    def stream_state(self, held: Held, streaming: bool) -> wire.Message:
        held.streaming = streaming
        return wire.Message(wire.Name.CHANGE_STREAM_STATE, {
            "source_id": held.source_id, "source_name": held.name,
            "new_state": 1 if streaming else -1}, self.request_id())

    def start(self, held: Held, recording: Recording) -> wire.Message:
        held.recordings[recording.id] = recording
        return wire.Message(wire.Name.START_RECORDING, {
            "session": recording_json(recording), "source_name": held.name},
            self.request_id())

    def stop(self, recording_id: str, end: datetime) -> wire.Message:
        for held in self.held.values():
            held.recordings.pop(recording_id, None)
        return wire.Message(wire.Name.STOP_RECORDING, {
            "session_id": recording_id, "end_time": wire.iso(end)}, self.request_id())

    def close_all(self, held: Held) -> wire.Message:
        """Every recording of a deleted source, over at once: what it sent so far stays."""
        held.recordings.clear()
        return wire.Message(wire.Name.CLOSE_ALL_ACTIVE_RECORDING, {
            "source_id": held.source_id, "end_time": wire.iso(datetime.now(UTC))},
            self.request_id())

    def stop_gone(self, recording_id: str, recording: Recording | None) -> wire.Message:
        """`stop_recording` for a recording that stopped (at its end) or is gone."""
        end = NOTHING_WANTED if recording is None else \
            recording.end_ts or recording.start_ts
        return self.stop(recording_id, end)

    # -- catching up ---------------------------------------------------------------------

    def catch_up(self, sources: Mapping[str, Source],
                 active: Iterable[Recording]) -> tuple[list[wire.Message], list[str]]:
        """The commands that tell the edge what changed, given the sources it holds as
        the database has them now (`sources`, by id; a missing one was deleted) and the
        active edge-fed recordings of those sources; and the ids of the recordings it
        was sending that are no longer active (the caller reads them and calls
        `stop_gone`)."""
        by_source: dict[str, list[Recording]] = {}
        for recording in active:
            if recording.source_id is not None:
                by_source.setdefault(recording.source_id, []).append(recording)
        out: list[wire.Message] = []
        ended: list[str] = []
        for held in list(self.held.values()):
            source = sources.get(held.source_id)
            if source is None:  # deleted: nothing is wanted of it any more
                if held.streaming:
                    out.append(self.stream_state(held, False))
                if held.recordings:
                    out.append(self.close_all(held))
                del self.held[held.source_id]
                continue
            if held.streaming is not source.streaming:
                out.append(self.stream_state(held, source.streaming))
            now = {r.id: r for r in by_source.get(held.source_id, ())}
            for recording_id, recording in now.items():
                if recording_id not in held.recordings:
                    out.append(self.start(held, recording))
            ended.extend(r for r in held.recordings if r not in now)
        return out, ended
