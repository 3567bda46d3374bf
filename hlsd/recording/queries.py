"""What the APIs ask of recordings without changing them: listings, one recording with
its figures, its segments with the folder each replays under. (Starting, stopping and
deleting are the `Recorder`'s.) An unknown recording or source is `NotFound`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hlsd.db import RecordedSegment, Recording, repo
from hlsd.db.repo import Sessions
from hlsd.recording.replay import variant_folders

__all__ = ["RecordedSegment", "Recording", "RecordingQueries", "Segments", "Summary"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Summary:
    recording: Recording
    segments: int
    bytes: int
    duration: float
    """Seconds: its longest variant's."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Segments:
    recording: Recording
    segments: Sequence[RecordedSegment]
    """In (variant, sequence) order."""
    folders: Mapping[str, str]
    """Variant name → the folder it replays under (`replay.variant_folders`)."""


class RecordingQueries:
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def every(self) -> Sequence[Recording]:
        """Every recording, oldest start first."""
        return await repo.list_recordings(self._sessions)

    async def of_stream(self, stream: str) -> Sequence[Recording]:
        return await repo.list_stream_recordings(self._sessions, stream)

    async def of_source(self, source_id: str) -> Sequence[Recording]:
        """A LiveMix source's recordings; `NotFound` for an unknown source."""
        return await repo.list_source_recordings(self._sessions, source_id)

    async def get(self, recording_id: str) -> Recording:
        return await repo.get_recording(self._sessions, recording_id)

    async def summary(self, recording_id: str) -> Summary:
        recording = await repo.get_recording(self._sessions, recording_id)
        segments = await repo.list_segments(self._sessions, recording_id)
        duration = await repo.total_duration(self._sessions, recording_id)
        return Summary(recording=recording, segments=len(segments),
                       bytes=sum(s.size for s in segments), duration=duration)

    async def segments(self, recording_id: str) -> Segments:
        recording = await repo.get_recording(self._sessions, recording_id)
        segments = await repo.list_segments(self._sessions, recording_id)
        variants = await repo.list_variants(self._sessions, recording_id)
        return Segments(recording=recording, segments=segments,
                        folders=variant_folders(variants))
