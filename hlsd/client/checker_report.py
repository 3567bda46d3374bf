"""What ``hlsd check`` found: findings per playlist, and the totals that decide the exit code."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from hlsd.hls.check import Severity, Violation

__all__ = ["Finding", "PlaylistKind", "PlaylistReport", "Report"]


class PlaylistKind(enum.Enum):
    MASTER = "master"
    MEDIA = "media"


@dataclass(frozen=True, slots=True)
class Finding:
    """A violation where it was found: `url` is the playlist its line belongs to (or a
    WebVTT segment, whose own lines are meant); `fetch` counts the playlist's fetches,
    1 for the first, 2 and on for reloads."""

    url: str
    violation: Violation
    fetch: int = 1

    @property
    def severity(self) -> Severity:
        return self.violation.severity

    def as_json(self) -> dict[str, Any]:
        v = self.violation
        return {"url": self.url, "line": v.line, "severity": v.severity.value,
                "rule": v.rule, "message": v.message, "section": v.section,
                "reference": v.reference, "fetch": self.fetch}


@dataclass
class PlaylistReport:
    """One playlist as checked. `kind` is None when it could not be read at all;
    `fetches` counts loads (reloads included), `segments` the segments fetched, `parts`
    the Low-Latency parts fetched (and hinted parts that arrived); `low_latency`: it was
    reloaded blocking (CAN-BLOCK-RELOAD=YES)."""

    url: str
    kind: PlaylistKind | None = None
    live: bool = False
    fetches: int = 0
    segments: int = 0
    parts: int = 0
    low_latency: bool = False
    findings: list[Finding] = field(default_factory=list)

    def add(self, violation: Violation, *, fetch: int = 1, url: str | None = None) -> None:
        self.findings.append(Finding(url or self.url, violation, fetch))

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "kind": None if self.kind is None else self.kind.value,
                "live": self.live, "low_latency": self.low_latency, "fetches": self.fetches,
                "segments": self.segments, "parts": self.parts,
                "findings": [finding.as_json() for finding in self.findings]}


@dataclass
class Report:
    """Every playlist checked, the master (or the one media playlist given) first;
    `notes` say what was left unchecked and why (bounds, encryption)."""

    url: str
    playlists: list[PlaylistReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def count(self, severity: Severity) -> int:
        return sum(finding.severity is severity
                   for playlist in self.playlists for finding in playlist.findings)

    @property
    def errors(self) -> int:
        return self.count(Severity.ERROR)

    @property
    def warnings(self) -> int:
        return self.count(Severity.WARNING)

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "errors": self.errors, "warnings": self.warnings,
                "playlists": [playlist.as_json() for playlist in self.playlists],
                "notes": list(self.notes)}
