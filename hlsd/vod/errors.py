"""Failures of on-demand sources, each of one kind (`hlsd.errors`).

`vod/` knows no HTTP; `api/` answers each kind with its status.
"""

from __future__ import annotations

from hlsd import errors


class SourceError(errors.DomainError):
    """A source that could not be had, or used."""


class NotConfigured(SourceError, errors.Unavailable):
    """No upstream URL is configured for on-demand sources."""


class InvalidSourceId(SourceError, errors.Invalid):
    pass


class UpstreamNotFound(SourceError, errors.NotFound):
    pass


class UpstreamFailed(SourceError, errors.UpstreamFailed):
    """The upstream answered with an error, or could not be reached."""


class UpstreamRefused(SourceError, errors.Forbidden):
    """The URL (from a request) leads where hlsd does not fetch from (``fetch.allow``)."""


class UpstreamTimeout(SourceError, errors.UpstreamTimeout):
    pass


class UnusableMedia(SourceError, errors.Invalid):
    """The body is not media, or is truncated or corrupt."""


class SourceTooLarge(SourceError, errors.TooLarge):
    """The upstream body is larger than hlsd takes (``upstream.max_bytes``, the source
    cache): a 413, as every "too large" is (`infra.bounded.TooLarge`)."""


class InsufficientStorage(SourceError, errors.NoSpace):
    """A disk ceiling (``cache.killsize``) was reached: new work is refused."""


class NoSuchSegment(SourceError, errors.NotFound):
    pass
