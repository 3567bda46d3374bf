"""LiveMix's JSON shapes of a video source and a recording, as its API and its IPC
messages carry them: written here once for the LiveMix API (`hlsd.api.livemix`,
`hlsd.api.livemix_recordings`) and the edge link (`hlsd.cluster.control`), which send
the same objects."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hlsd.db import Recording, Source

__all__ = ["OFFLINE_AFTER", "iso", "online", "recording_json", "source_json"]

OFFLINE_AFTER = 3
"""Report intervals without a report after which a source is shown offline."""


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, as LiveMix (Go's time.Time) writes it."""
    return value.isoformat().replace("+00:00", "Z") if value else None


def online(source: Source, *, now: datetime, report_interval: float) -> bool:
    """Whether an edge reported the source within `OFFLINE_AFTER` report intervals."""
    reported = source.reported_at
    return reported is not None and \
        (now - reported).total_seconds() <= OFFLINE_AFTER * report_interval


def source_json(source: Source, *, now: datetime, report_interval: float) -> dict[str, Any]:
    """LiveMix's VideoSource: ``rr_target`` (the edge that reports it) and ``local_time``
    (that edge's clock) once an edge has reported it, and ``online``."""
    out: dict[str, Any] = {"id": source.id, "name": source.name,
                           "segment_length": source.segment_length,
                           "streaming": 1 if source.streaming else -1,
                           "created_at": iso(source.created_at),
                           "updated_at": iso(source.updated_at)}
    if source.description is not None:
        out["description"] = source.description
    if source.rr_target is not None:
        out["rr_target"] = source.rr_target
    if source.local_time is not None:
        out["local_time"] = iso(source.local_time)
    out["online"] = online(source, now=now, report_interval=report_interval)
    return out


def recording_json(recording: Recording) -> dict[str, Any]:
    """LiveMix's Recording (``source``, ``start_ts``, ``end_ts``, ``active`` as 1/-1),
    with hlsd's ``stream``."""
    out: dict[str, Any] = {
        "id": recording.id, "source": recording.source_id, "stream": recording.stream,
        "start_ts": iso(recording.start_ts), "end_ts": iso(recording.end_ts),
        "active": 1 if recording.active else -1,
        "created_at": iso(recording.created_at), "updated_at": iso(recording.updated_at),
    }
    if recording.alias is not None:
        out["alias"] = recording.alias
    if recording.description is not None:
        out["description"] = recording.description
    return out
