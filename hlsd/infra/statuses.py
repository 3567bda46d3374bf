"""The HTTP status of each kind of domain error (`hlsd.errors`): the one table every HTTP
layer answers by, the framework's routes (`api/errors.py`) and the playback paths
(`delivery/`) alike. Domain errors never carry a status themselves."""

from __future__ import annotations

from hlsd import errors

__all__ = ["RETRY_AFTER", "STATUS", "status_of"]

RETRY_AFTER = "5"
"""Seconds a client is told to wait when a backend is down."""

STATUS: dict[type[errors.DomainError], int] = {
    errors.Malformed: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Gone: 410,
    errors.TooLarge: 413,
    errors.Invalid: 422,
    errors.TooMany: 429,
    errors.Corrupt: 460,  # tus's "Checksum Mismatch"
    errors.UpstreamFailed: 502,
    errors.Unavailable: 503,
    errors.UpstreamTimeout: 504,
    errors.NoSpace: 507,
}
"""The HTTP status of each kind of domain error; an error of no kind is a 500."""


def status_of(exc: errors.DomainError) -> int:
    """The status of `exc`'s kind (the first kind among its bases)."""
    for cls in type(exc).__mro__:
        status = STATUS.get(cls)
        if status is not None:
            return status
    return 500
