"""Failures of on-demand sources, each with the HTTP status a client should see.

`vod/` knows no HTTP; the status is a plain number that `api/` passes on.
"""

from __future__ import annotations


class SourceError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotConfigured(SourceError):
    """No upstream URL is configured for on-demand sources."""

    status = 503


class InvalidSourceId(SourceError):
    status = 422


class UpstreamNotFound(SourceError):
    status = 404


class UpstreamFailed(SourceError):
    """The upstream answered with an error, or could not be reached."""

    status = 502


class UpstreamRefused(SourceError):
    """The URL (from a request) leads where hlsd does not fetch from (``fetch.allow``)."""

    status = 403


class UpstreamTimeout(SourceError):
    status = 504


class UnusableMedia(SourceError):
    """The body is not media, or is truncated or corrupt."""

    status = 422


class InsufficientStorage(SourceError):
    """A disk ceiling (``cache.killsize``) was reached: new work is refused."""

    status = 507


class NoSuchSegment(SourceError):
    status = 404
