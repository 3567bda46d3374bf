"""Domain errors of the metadata layer. No HTTP here: `api/` maps their kinds
(`hlsd.errors`) to statuses."""

from __future__ import annotations

from hlsd import errors


class DbError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DbError, errors.NotFound):
    """The row a call names does not exist."""

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} {key!r} not found")
        self.kind = kind
        self.key = key


class Conflict(DbError, errors.Conflict):
    """The call would break a uniqueness rule (a source name already taken)."""


class SchemaMismatch(DbError):
    """The database holds a schema version this hlsd cannot use."""
