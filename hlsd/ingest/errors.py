"""What an ingest path tells its client when it refuses a push."""

from __future__ import annotations


class IngestError(Exception):
    """A push the client must be told about; `status` is the HTTP status to send, and
    `limit`, when a configured bound refused it, names that setting."""

    def __init__(self, message: str, *, status: int, limit: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.limit = limit

    def body(self) -> dict[str, str]:
        """The JSON answer: ``{"error": …}``, and ``"limit"`` when a bound refused it."""
        out = {"error": self.message}
        if self.limit is not None:
            out["limit"] = self.limit
        return out
