"""The kinds of error a request can meet, shared by every package.

A domain package says what went wrong (`NotFound`, `Conflict`, …), usually through an
error of its own that subclasses one kind (`AssetNotFound(AssetError, NotFound)`), and
never how a protocol says it: `api/errors.py` maps each kind to an HTTP status in one
table. So a package can be used from a CLI, a worker or another protocol unchanged, and
one surface's status for a condition is the same everywhere.
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "Corrupt",
    "DomainError",
    "Forbidden",
    "Gone",
    "Invalid",
    "Malformed",
    "NoSpace",
    "NotFound",
    "TooLarge",
    "TooMany",
    "Unauthorized",
    "Unavailable",
    "UpstreamFailed",
    "UpstreamTimeout",
]


class DomainError(Exception):
    """A refusal or failure the client is told about. `message` is written for it;
    `limit`, when a configured bound refused the request, names that setting."""

    def __init__(self, message: str, *, limit: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.limit = limit


class Malformed(DomainError):
    """The request cannot be read: bad syntax, a part missing."""


class Invalid(DomainError):
    """The request was read, but a value in it is refused."""


class Unauthorized(DomainError):
    """No credential, or one that is no longer (or never was) good."""


class Forbidden(DomainError):
    """This client, or what it asks for, is not allowed."""


class NotFound(DomainError):
    """What the request names does not exist."""


class Conflict(DomainError):
    """The thing is not in a state that allows this now (a name taken, a wrong state)."""


class Gone(DomainError):
    """It existed and has expired or been given up, for good."""


class TooLarge(DomainError):
    """A body, upload or result past its bound."""


class TooMany(DomainError):
    """A quota of this client (or key) is used up."""


class Corrupt(DomainError):
    """Data arrived damaged: a checksum that does not match."""


class UpstreamFailed(DomainError):
    """A server hlsd fetches from answered with an error or could not be reached."""


class UpstreamTimeout(DomainError):
    """A server hlsd fetches from did not answer in time."""


class Unavailable(DomainError):
    """Not possible now (nothing configured for it, a queue full); later may work."""


class NoSpace(DomainError):
    """A storage bound is reached: new work is refused."""
