"""Every rule id a check reports, with its severity and the RFC 8216 section behind it.

An error breaks a MUST of the spec (a player may stall, skip or refuse the stream); a
warning breaks a SHOULD, or a rule of good practice that players commonly rely on.
`tests/hls/check/test_catalogue.py` fails when a rule id reported anywhere is missing
here, so every finding can be printed with its severity and section.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["RULES", "Rule", "Severity", "rule"]


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Rule:
    """`section` is a section of RFC 8216 ("6.2.2"), None for a rule it does not state."""

    severity: Severity
    section: str | None


def _error(section: str | None) -> Rule:
    return Rule(Severity.ERROR, section)


def _warning(section: str | None) -> Rule:
    return Rule(Severity.WARNING, section)


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
}

_UNKNOWN = _error(None)


def rule(rule_id: str) -> Rule:
    """The rule of an id; an id missing from `RULES` counts as an error."""
    return RULES.get(rule_id, _UNKNOWN)
