"""What an ingest path tells its client when it refuses a push: one error per kind
(`hlsd.errors`), so `api/` answers each with its status."""

from __future__ import annotations

from hlsd import errors


class IngestError(errors.DomainError):
    """A push the client must be told about; `limit`, when a configured bound refused
    it, names that setting."""

    def body(self) -> dict[str, str]:
        """The JSON answer: ``{"error": …}``, and ``"limit"`` when a bound refused it."""
        out = {"error": self.message}
        if self.limit is not None:
            out["limit"] = self.limit
        return out


class MalformedPush(IngestError, errors.Malformed):
    """A playlist, name or header that cannot be read, or a segment that cannot be had."""


class InvalidPush(IngestError, errors.Invalid):
    """A push read but refused for what it says."""


class PublishKeyMissing(IngestError, errors.Unauthorized):
    """No publish key given where one is required."""


class PushForbidden(IngestError, errors.Forbidden):
    """A wrong key, a publisher not on this host, a place segments may not come from."""


class UnknownSource(IngestError, errors.NotFound):
    """A push for a source that is not defined."""


class PushTooLate(IngestError, errors.Gone):
    """A segment the stream already went on without."""


class PushTooLarge(IngestError, errors.TooLarge):
    """An upload or segment past its bound."""


class PushQuota(IngestError, errors.TooMany):
    """A publish key pushes as many streams as it may."""


class IngestFull(IngestError, errors.Unavailable):
    """This node takes as many pushed streams as it may."""


class PendingFull(IngestError, errors.NoSpace):
    """No room for more uploads waiting for their playlist."""


class NotKept(IngestError, errors.Unavailable):
    """Taken, but not kept durably in time (an edge's cache): the publisher should send
    it again."""
