"""What the recorder and the exporter refuse, each of one kind (`hlsd.errors`)."""

from __future__ import annotations

from hlsd import errors


class RecordingError(errors.DomainError):
    """A request about recordings that is refused."""


class BadStart(RecordingError, errors.Invalid):
    """A start too far in the past or ahead, or given twice."""


class NothingToExport(RecordingError, errors.NotFound):
    """No segments yet, or no such variant."""


class ExportTooLarge(RecordingError, errors.TooLarge):
    """More bytes than an export may hold (``recording.max_export_bytes``)."""
