"""Every rule id a check reports, with its severity and the spec section behind it.

An error breaks a MUST of the spec (a player may stall, skip or refuse the stream); a
warning breaks a SHOULD, or a rule of good practice that players commonly rely on.
`tests/hls/check/test_catalogue.py` fails when a rule id reported anywhere is missing
here, so every finding can be printed with its severity and section.

Most rules are RFC 8216's. Low-Latency HLS is not in RFC 8216: its rules cite
draft-pantos-hls-rfc8216bis (the 2nd edition, "rfc8216bis"; section numbers of draft 22,
which have held since the low-latency sections were added), and Apple's documents where
only Apple states the rule.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["RULES", "Rule", "Severity", "Spec", "rule"]


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


class Spec(enum.Enum):
    """The document a rule comes from."""

    RFC8216 = "RFC 8216"
    RFC8216BIS = "rfc8216bis"
    # Apple's "Enabling Low-Latency HLS" and its HLS authoring specification.
    APPLE = "Apple LL-HLS"


@dataclass(frozen=True, slots=True)
class Rule:
    """`section` is a section of `spec` ("6.2.2"), None for a rule no section states."""

    severity: Severity
    section: str | None
    spec: Spec = Spec.RFC8216

    @property
    def reference(self) -> str | None:
        """"RFC 8216 §6.2.2", "rfc8216bis §4.4.4.9", "Apple LL-HLS"; None when nothing
        states the rule."""
        if self.section is not None:
            return f"{self.spec.value} §{self.section}"
        return None if self.spec is Spec.RFC8216 else self.spec.value


def _error(section: str | None, spec: Spec = Spec.RFC8216) -> Rule:
    return Rule(Severity.ERROR, section, spec)


def _warning(section: str | None, spec: Spec = Spec.RFC8216) -> Rule:
    return Rule(Severity.WARNING, section, spec)


_BIS = Spec.RFC8216BIS


RULES: Mapping[str, Rule] = {
    # Every playlist: lines, tags and attribute lists (§4, §4.1, §4.2, §4.3, §7).
    "utf-8": _error("4.1"),
    "bom": _error("4.1"),
    "control-character": _error("4.1"),
    "nfc": _error("4.1"),
    "whitespace": _error("4.1"),
    "extm3u": _error("4.3.1.1"),
    "attribute-syntax": _error("4.2"),
    "attribute-type": _error("4.2"),
    "attribute-missing": _error("4.3"),
    "attribute-value": _error("4.3"),
    "duplicate-tag": _error("4.3"),
    "tag-value": _error("4.3"),
    "tag-wrong-playlist": _error("4.3.4"),
    "version": _error("7"),
    "version-removed": _error("7"),
    # The m3u8 library is no part of the spec, but a playlist it cannot read fails in
    # the many tools built on it.
    "m3u8-parse": _warning(None),
    # Media playlists (§4.3.2, §4.3.3).
    "extinf-missing": _error("4.3.2.1"),
    "extinf-duplicate": _error("4.3.2.1"),
    "extinf-format": _error("4.3.2.1"),
    "uri-missing": _error("4.3.2"),
    "byterange": _error("4.3.2.2"),
    "map-byterange": _error("4.3.2.5"),
    "program-date-time-format": _error("4.3.2.6"),
    # Not a MUST of RFC 8216, but times that run backwards confuse every player's clock.
    "program-date-time": _warning("4.3.2.6"),
    "daterange-needs-pdt": _error("4.3.2.7"),
    "target-duration": _error("4.3.3.1"),
    "target-duration-missing": _error("4.3.3.1"),
    "tag-after-segment": _error("4.3.3.2"),
    "endlist-missing": _error("4.3.3.5"),
    "live-endlist": _error("4.3.3.4"),
    "live-playlist-type": _error("4.3.3.5"),
    # Master playlists (§4.3.4).
    "name-duplicate": _error("4.3.4.1.1"),
    "default-multiple": _error("4.3.4.1.1"),
    "default-autoselect": _error("4.3.4.1"),
    "forced-type": _error("4.3.4.1"),
    "subtitles-uri": _error("4.3.4.1"),
    "closed-captions-uri": _error("4.3.4.1"),
    "instream-id-missing": _error("4.3.4.1"),
    "stream-inf-missing": _error("4.3.4.2"),
    "stream-inf-uri": _error("4.3.4.2"),
    "uri-unexpected": _error("4.3.4.2"),
    "bandwidth-missing": _error("4.3.4.2"),
    "closed-captions-none": _error("4.3.4.2"),
    "codecs-missing": _warning("4.3.4.2"),
    "resolution-missing": _warning("4.3.4.2"),
    "average-bandwidth": _warning("4.3.4.2"),
    "group-missing": _error("4.3.4.2.1"),
    # Successive fetches of one media playlist (§6.2.1, §6.2.2).
    "target-duration-changed": _error("6.2.1"),
    "playlist-type-changed": _error("6.2.1"),
    "segment-uri-changed": _error("6.2.1"),
    "segment-changed": _error("6.2.1"),
    "program-date-time-changed": _error("6.2.1"),
    "segment-removed": _error("6.2.1"),
    "playlist-changed": _error("6.2.1"),
    "event-segment-removed": _error("4.3.3.5"),
    "media-sequence-decreased": _error("6.2.2"),
    "discontinuity-sequence-decreased": _error("6.2.2"),
    "discontinuity-sequence": _error("6.2.2"),
    "live-window-too-short": _error("6.2.2"),
    # A live playlist no reload found changed: players run dry and stall.
    "live-stalled": _warning(None),
    # WebVTT segments (§3.5).
    "webvtt-header": _error("3.5"),
    "webvtt-timestamp-map": _error("3.5"),
    "webvtt-cue-timing": _error("3.5"),
    # What only fetching finds: playlists and segments over HTTP (`hlsd check`).
    "playlist-unavailable": _error(None),
    "playlist-content-type": _error("4"),
    "playlist-kind": _error("4.3.4.2"),
    "segment-unavailable": _error(None),
    "segment-content-type": _warning(None),
    "segment-unreadable": _error("3"),
    "segment-over-target": _error("4.3.3.1"),
    "segment-duration": _warning("4.3.2.1"),
    # Low-Latency HLS in one media playlist (rfc8216bis §3.2, §4.4.3.7-8, §4.4.4.9,
    # §4.4.5.2-4, §6.2.2, §6.2.5; its Low-Latency Server Configuration Profile, B.1).
    "part-inf-missing": _error("4.4.3.7", _BIS),
    # PART-INF is only required with parts; one without them in a live playlist means
    # the server stopped making parts, and players wait for parts that never come.
    "part-inf-unused": _warning("4.4.3.7", _BIS),
    "part-target": _error("4.4.3.7", _BIS),
    "part-over-target": _error("4.4.4.9", _BIS),
    "part-too-short": _error("4.4.4.9", _BIS),
    "part-byterange": _error("4.4.4.9", _BIS),
    "part-tag-order": _error("4.4.4.9", _BIS),
    "part-i-frames": _warning("4.4.4.9", _BIS),
    "part-sum": _error("3.2", _BIS),
    "part-not-removed": _warning("6.2.2", _BIS),
    "part-removal-order": _error("6.2.2", _BIS),
    "part-hold-back-missing": _error("4.4.3.8", _BIS),
    "part-hold-back": _error("4.4.3.8", _BIS),
    "part-hold-back-short": _warning("4.4.3.8", _BIS),
    "hold-back": _error("4.4.3.8", _BIS),
    "can-skip-until": _error("4.4.3.8", _BIS),
    "can-skip-dateranges": _error("4.4.3.8", _BIS),
    # Blocking Playlist Reload is "a required component of Low-Latency HLS" (Apple).
    "can-block-reload-missing": _error(None, Spec.APPLE),
    "preload-hint-endlist": _error("4.4.5.3", _BIS),
    "preload-hint-duplicate": _warning("6.2.6", _BIS),
    "preload-hint-missing": _warning("B.1", _BIS),
    # No section places EXT-X-PRELOAD-HINT or EXT-X-RENDITION-REPORT; both describe the
    # live edge, and every published playlist (Apple's, the spec's) writes them last.
    "preload-hint-order": _warning(None),
    "rendition-report-order": _warning(None),
    "rendition-report-uri": _error("4.4.5.4", _BIS),
    "ll-program-date-time": _warning("B.1", _BIS),
    "skip-without-can-skip-until": _error("6.2.5.1", _BIS),
    "skip-endlist": _error("6.2.5.1", _BIS),
    "skip-position": _error("4.4.5.2", _BIS),
    # SKIPPED-SEGMENTS=0 is legal, but a delta update that skips nothing is a full
    # playlist in disguise: clients without delta support are sent the wrong kind.
    "skip-segments": _warning("4.4.5.2", _BIS),
    "skip-too-far": _error("6.2.5.1", _BIS),
    # Low-Latency HLS between fetches, and against the Delivery Directives asked for.
    "last-part-decreased": _error("6.2.1", _BIS),
    "part-changed": _error("6.2.1", _BIS),
    # A server MAY drop a hinted part when its plans change (§6.2.6): a warning.
    "preload-hint-unfulfilled": _warning("4.4.5.3", _BIS),
    "delta-misaligned": _error("6.2.5.1", _BIS),
    "blocking-reload-early": _error("6.2.5.2", _BIS),
    "skip-unrequested": _error("6.2.5.1", _BIS),
    "delta-update-missing": _error("6.2.5.1", _BIS),
    "skip-dateranges-missing": _error("4.4.5.2", _BIS),
    # What only fetching finds of Low-Latency HLS (`hlsd check`).
    "part-unavailable": _error("6.2.1", _BIS),
    "preload-hint-unavailable": _error("6.2.6", _BIS),
}

_UNKNOWN = _error(None)


def rule(rule_id: str) -> Rule:
    """The rule of an id; an id missing from `RULES` counts as an error."""
    return RULES.get(rule_id, _UNKNOWN)
