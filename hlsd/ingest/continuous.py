"""The contract between a continuous ingest's transport and the rest of hlsd.

RTMP, SRT and one chunked HTTP upload each carry an encoder's media as one unending
byte stream (FLV for RTMP, MPEG-TS for the others). A transport only speaks its
protocol: it asks `Publishers.open` for a session with what the publisher said (the
stream, the key, who it is), then writes the bytes it receives into that session until
the publisher leaves. Everything else (the publish key, the hub's publish policy, the
demux → CMAF segmenter pipeline, the producer) is behind `open`, implemented once for
all of them (`hlsd.ingest.pipeline`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from hlsd import errors
from hlsd.streams import PublisherKind

__all__ = ["Container", "IngestSession", "PublishBusy", "PublishForbidden", "PublishFull",
           "PublishInvalid", "PublishRefused", "PublishRequest", "PublishUnauthorized",
           "Publishers", "RefusalReason", "SessionEnded"]


class Container(enum.StrEnum):
    """What the byte stream is, as PyAV names its demuxer."""

    FLV = "flv"
    MPEGTS = "mpegts"


@dataclass(frozen=True, kw_only=True, slots=True)
class PublishRequest:
    stream: str
    """The stream id asked for (not yet checked: `open` refuses an invalid one)."""
    key: str | None
    """The publish key the publisher gave, if any."""
    host: str
    """The publisher's address."""
    port: int
    kind: PublisherKind
    """`PublisherKind.RTMP`, `SRT` or `HTTP_TS`."""
    container: Container
    local: bool | None = None
    """Whether the publisher is on this host (with no ``live.publish_keys``, only those
    may publish); None: decided from `host` (a transport without proxies in front)."""


class RefusalReason(enum.StrEnum):
    UNAUTHORIZED = "unauthorized"
    """No key, or a wrong one, or (with no keys configured) a publisher not on loopback."""
    BAD_NAME = "bad_name"
    """A stream id no stream may have."""
    BUSY = "busy"
    """Published by another publisher, and the policy is to reject."""
    FULL = "full"
    """This node, or this key, carries as many streams as it may."""


class PublishRefused(errors.DomainError):
    """`open` refused the publisher; `message` says why, in words fit to send back (a
    wrong or missing key, a stream published by someone else, a bad stream id, a full
    node). The `reason` names the kind for protocols that have codes for them; the
    subclasses below carry the error kind too (HTTP answers with its status)."""

    def __init__(self, message: str, *, reason: RefusalReason,
                 limit: str | None = None) -> None:
        super().__init__(message, limit=limit)
        self.reason = reason


class PublishUnauthorized(PublishRefused, errors.Unauthorized):
    """No publish key where one is needed."""


class PublishForbidden(PublishRefused, errors.Forbidden):
    """A wrong key, or a publisher not on this host when no keys are configured."""


class PublishInvalid(PublishRefused, errors.Invalid):
    """A stream id no stream may have."""


class PublishBusy(PublishRefused, errors.Conflict):
    """Another publisher holds the stream."""


class PublishFull(PublishRefused, errors.TooMany):
    """This node, or this key, publishes as many streams as it may."""


class SessionEnded(Exception):
    """The session cannot take more bytes: the media was refused (an unsupported codec,
    data that does not demux), another publisher took the stream over, or the server is
    closing. The transport closes its connection; the message says why."""


class IngestSession(Protocol):
    async def write(self, data: bytes) -> None:
        """Take the next bytes of the stream, in order. Waits while the pipeline is a
        bounded amount behind (the transport stops reading its socket meanwhile, so the
        publisher feels the backpressure); `SessionEnded` once it cannot go on."""
        ...

    async def close(self, error: str | None = None) -> str | None:
        """The publisher left (`error`: why, when it was not a clean end). Idempotent.
        What was segmented so far stays; the stream ends. Returns why the media could
        not all be taken (it did not demux, an unsupported codec), found only now that
        the segmenter has read the end: None when it was."""
        ...


class Publishers(Protocol):
    async def open(self, request: PublishRequest) -> IngestSession:
        """A session for one publisher, or `PublishRefused`."""
        ...
