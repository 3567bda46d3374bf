"""Domain errors carry a kind, never a status; `api/errors.py` gives each kind its one
status, and every error hlsd raises to a client has a kind."""

from __future__ import annotations

import importlib
import pkgutil

import hlsd
from hlsd import errors
from hlsd.infra.statuses import STATUS, status_of


def _every_module() -> None:
    for module in pkgutil.walk_packages(hlsd.__path__, "hlsd."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)


def _subclasses(cls: type[errors.DomainError]) -> set[type[errors.DomainError]]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def _status(cls: type[errors.DomainError]) -> int:
    return status_of(cls.__new__(cls))


# What each error answered when it carried its own status (before the kinds): unchanged.
STATUSES_BEFORE = {
    "hlsd.assets.service.AssetNotFound": 404, "hlsd.assets.service.AssetConflict": 409,
    "hlsd.assets.service.AssetInvalid": 422, "hlsd.assets.service.AssetForbidden": 403,
    "hlsd.assets.service.AssetUnavailable": 503,
    "hlsd.assets.uploads.BadUpload": 400, "hlsd.assets.uploads.UploadNotFound": 404,
    "hlsd.assets.uploads.OffsetMismatch": 409, "hlsd.assets.uploads.UploadGone": 410,
    "hlsd.assets.uploads.TooLarge": 413, "hlsd.assets.uploads.ChecksumMismatch": 460,
    "hlsd.assets.uploads.UploadsFull": 507,
    "hlsd.auth.access.BadCredential": 401, "hlsd.auth.access.NotAllowed": 403,
    "hlsd.channels.service.ChannelNotFound": 404, "hlsd.channels.service.ChannelInvalid": 422,
    "hlsd.channels.service.ChannelConflict": 409, "hlsd.channels.service.SourceForbidden": 403,
    "hlsd.db.errors.NotFound": 404, "hlsd.db.errors.Conflict": 409,
    "hlsd.ingest.errors.MalformedPush": 400, "hlsd.ingest.errors.InvalidPush": 422,
    "hlsd.ingest.errors.PublishKeyMissing": 401, "hlsd.ingest.errors.PushForbidden": 403,
    "hlsd.ingest.errors.UnknownSource": 404, "hlsd.ingest.errors.PushTooLate": 410,
    "hlsd.ingest.errors.PushTooLarge": 413, "hlsd.ingest.errors.PushQuota": 429,
    "hlsd.ingest.errors.IngestFull": 503, "hlsd.ingest.errors.PendingFull": 507,
    "hlsd.ingest.errors.NotKept": 503,
    "hlsd.console.overview.TooManyFollowers": 503,
    "hlsd.console.thumbnails.NoThumbnail": 404,
    "hlsd.recording.errors.BadStart": 422, "hlsd.recording.errors.NothingToExport": 404,
    "hlsd.recording.errors.ExportTooLarge": 413,
    "hlsd.vod.errors.NotConfigured": 503, "hlsd.vod.errors.InvalidSourceId": 422,
    "hlsd.vod.errors.UpstreamNotFound": 404, "hlsd.vod.errors.UpstreamFailed": 502,
    "hlsd.vod.errors.UpstreamRefused": 403, "hlsd.vod.errors.UpstreamTimeout": 504,
    "hlsd.vod.errors.UnusableMedia": 422, "hlsd.vod.errors.InsufficientStorage": 507,
    "hlsd.vod.errors.NoSuchSegment": 404,
    "hlsd.vod.streams.StreamGone": 410, "hlsd.vod.streams.UnknownStream": 404,
    "hlsd.vod.streams.TokenMissing": 401, "hlsd.vod.streams.WrongToken": 403,
    # The shared infrastructure's (`infra/`), and too large a source (502 before: every
    # "too large" is a 413 now).
    "hlsd.infra.bounded.TooLarge": 413, "hlsd.infra.disk_budget.DiskFull": 507,
    "hlsd.infra.download.DownloadNotFound": 404, "hlsd.infra.download.DownloadTimedOut": 504,
    "hlsd.vod.errors.SourceTooLarge": 413,
    # Continuous ingest (RTMP, SRT, PUT /ingest/<stream>.ts): refusals and media that
    # cannot be segmented.
    "hlsd.ingest.continuous.PublishUnauthorized": 401,
    "hlsd.ingest.continuous.PublishForbidden": 403,
    "hlsd.ingest.continuous.PublishInvalid": 422, "hlsd.ingest.continuous.PublishBusy": 409,
    "hlsd.ingest.continuous.PublishFull": 429, "hlsd.media._live_model.MediaRefused": 422,
}


def test_every_kind_has_one_status() -> None:
    kinds = {cls for cls in errors.DomainError.__subclasses__()
             if cls.__module__ == errors.__name__}
    assert kinds == set(STATUS)
    assert _status(errors.DomainError) == 500  # an error of no kind is the server's


def test_every_error_raised_has_a_kind_and_keeps_its_status() -> None:
    _every_module()
    raised = {cls for cls in _subclasses(errors.DomainError)
              if cls.__module__ != errors.__name__ and not cls.__subclasses__()}
    assert {f"{cls.__module__}.{cls.__qualname__}": _status(cls) for cls in raised} == \
        STATUSES_BEFORE


def test_no_domain_error_carries_a_status() -> None:
    _every_module()
    for cls in _subclasses(errors.DomainError):
        assert not hasattr(cls, "status"), cls
    assert not hasattr(errors.NotFound("x"), "status")
