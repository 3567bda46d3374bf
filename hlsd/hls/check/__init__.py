"""HLS rule checks: any playlist text (and WebVTT segment) against RFC 8216 / rfc8216bis.

Pure, no I/O. `check_playlist` checks a master or media playlist, and with `previous`
(an earlier fetch of the same media playlist) how it changed, as a live playlist may
only change (§6.2.1-6.2.2); `assert_valid` raises on any finding (every test of the
project runs it on every playlist it fetches). Each `Violation` has a stable rule id,
a line number where one line is to blame, a `Severity` and a section (`reference`:
of RFC 8216, of rfc8216bis for Low-Latency HLS, or Apple's), from `RULES`.
`scan_media` and `master_references` read what a fetching checker needs to go on:
segments, init sections, target duration, Low-Latency parts (`ScannedPart`),
`ServerControl`, `PreloadHint`s and `RenditionReport`s, and the media playlists a master
names (`hlsd check`, in `hlsd.client.checker`, fetches them). `check_media_playlist`
with `DeliveryDirectives` checks an answer against what its request asked for
(blocking reloads, delta updates).

Most ids mark a MUST of the spec (errors). A few mark a SHOULD that hlsd holds itself
to: "codecs-missing", "resolution-missing", "average-bandwidth" (warnings); pass them
in `assert_valid(ignore=...)` when checking playlists hlsd did not write. The `m3u8`
library reads every playlist too; its failures are rule "m3u8-parse".
"""

from hlsd.hls.check._catalogue import RULES, Rule, Severity, Spec
from hlsd.hls.check._lowlatency import (
    Position,
    PreloadHint,
    RenditionReport,
    ScannedPart,
    ServerControl,
    SkipTag,
)
from hlsd.hls.check._lowlatency_live import DeliveryDirectives, SkipRequest
from hlsd.hls.check._master import Reference, ReferenceKind, master_references
from hlsd.hls.check._media import scan_media
from hlsd.hls.check._playlists import (
    assert_valid,
    check_master_playlist,
    check_media_playlist,
    check_playlist,
)
from hlsd.hls.check._scan import InitRef, MediaScan, ScannedSegment
from hlsd.hls.check._violation import Violation
from hlsd.hls.check._webvtt import check_webvtt_segment

__all__ = [
    "RULES",
    "DeliveryDirectives",
    "InitRef",
    "MediaScan",
    "Position",
    "PreloadHint",
    "Reference",
    "ReferenceKind",
    "RenditionReport",
    "Rule",
    "ScannedPart",
    "ScannedSegment",
    "ServerControl",
    "Severity",
    "SkipRequest",
    "SkipTag",
    "Spec",
    "Violation",
    "assert_valid",
    "check_master_playlist",
    "check_media_playlist",
    "check_playlist",
    "check_webvtt_segment",
    "master_references",
    "scan_media",
]
