"""What a media playlist says of Low-Latency HLS (rfc8216bis §3.2, §4.4.3.7-8, §4.4.4.9,
§4.4.5.2-4): its Partial Segments, EXT-X-PART-INF, EXT-X-SERVER-CONTROL, preload hints,
rendition reports and EXT-X-SKIP, read from the text with their lines.

Reading reports only what needs the order of the lines: an EXT-X-PART BYTERANGE that
continues nothing, a segment tag written between a segment's parts, an EXT-X-SKIP after
segments. The rules on the values are in `_lowlatency_rules`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from hlsd.hls.check._document import Document
from hlsd.hls.check._lines import Attribute, Tag, UriLine
from hlsd.hls.check._violation import Violation
from hlsd.hls.values import is_decimal_integer, parse_byterange

__all__ = [
    "LowLatency",
    "Position",
    "PreloadHint",
    "RenditionReport",
    "ScannedPart",
    "ServerControl",
    "SkipTag",
    "read_low_latency",
]

_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?")
# Tags that apply to a whole Parent Segment, so to its first part too (§4.4.4.9).
_PARENT_TAGS = frozenset({
    "EXT-X-DISCONTINUITY", "EXT-X-KEY", "EXT-X-MAP", "EXT-X-PROGRAM-DATE-TIME",
})
_Attrs = Mapping[str, Attribute]


@dataclass(frozen=True, slots=True)
class Position:
    """A place in a live stream: part `part` of the segment with Media Sequence Number
    `msn`, or the whole segment when `part` is None (a segment without parts, or one
    whose parts are all there). Compare with `key`."""

    msn: int
    part: int | None = None

    @property
    def key(self) -> tuple[int, float]:
        # A whole segment comes after every part of it.
        return self.msn, float("inf") if self.part is None else float(self.part)

    def __str__(self) -> str:
        return f"MSN {self.msn}" if self.part is None else f"MSN {self.msn} part {self.part}"


@dataclass(frozen=True, slots=True)
class ScannedPart:
    """One EXT-X-PART at `line`. `msn` is its Parent Segment's Media Sequence Number and
    `index` its Part Index there (§3.2: its place among the parent's parts listed).
    Missing or unreadable values are "" or None, reported by the attribute rules."""

    uri: str
    line: int
    duration: float | None
    msn: int
    index: int
    independent: bool = False
    gap: bool = False
    byterange: str | None = None

    @property
    def position(self) -> Position:
        return Position(self.msn, self.index)


@dataclass(frozen=True, slots=True)
class ServerControl:
    """EXT-X-SERVER-CONTROL (§4.4.3.8); absent attributes are None (or False)."""

    line: int
    can_block_reload: bool = False
    can_skip_until: float | None = None
    can_skip_dateranges: bool = False
    hold_back: float | None = None
    part_hold_back: float | None = None


@dataclass(frozen=True, slots=True)
class PreloadHint:
    """EXT-X-PRELOAD-HINT (§4.4.5.3): `type` as written (PART, MAP)."""

    type: str
    uri: str
    line: int
    byterange_start: int | None = None
    byterange_length: int | None = None


@dataclass(frozen=True, slots=True)
class RenditionReport:
    """EXT-X-RENDITION-REPORT (§4.4.5.4); an attribute left out is None (the server may
    leave out one whose value is this playlist's own)."""

    uri: str | None
    line: int
    last_msn: int | None = None
    last_part: int | None = None


@dataclass(frozen=True, slots=True)
class SkipTag:
    """EXT-X-SKIP (§4.4.5.2): `segments` is SKIPPED-SEGMENTS, None when unreadable."""

    line: int
    segments: int | None
    recently_removed_dateranges: str | None = None


@dataclass
class LowLatency:
    """What `read_low_latency` finds: the Low-Latency half of a `MediaScan`."""

    parts: list[ScannedPart] = field(default_factory=list)
    part_target: float | None = None
    part_inf_line: int | None = None
    server_control: ServerControl | None = None
    preload_hints: list[PreloadHint] = field(default_factory=list)
    rendition_reports: list[RenditionReport] = field(default_factory=list)
    skip: SkipTag | None = None
    violations: list[Violation] = field(default_factory=list)


def _decimal(attrs: _Attrs, name: str) -> float | None:
    attribute = attrs.get(name)
    if attribute is None or attribute.quoted or not _DECIMAL.fullmatch(attribute.value):
        return None  # a wrong type is the attribute rules' finding
    return float(attribute.value)


def _integer(attrs: _Attrs, name: str) -> int | None:
    attribute = attrs.get(name)
    if attribute is None or attribute.quoted or not is_decimal_integer(attribute.value):
        return None
    return int(attribute.value)


def _text(attrs: _Attrs, name: str) -> str | None:
    attribute = attrs.get(name)
    return None if attribute is None else attribute.value


def _yes(attrs: _Attrs, name: str) -> bool:
    return _text(attrs, name) == "YES"


def read_low_latency(document: Document, first_msn: int, found: LowLatency) -> None:
    """The Low-Latency tags of a media playlist whose first listed segment has Media
    Sequence Number `first_msn` (after any EXT-X-SKIP), into `found` (a `MediaScan`),
    their violations added to its own."""
    closed = 0  # segments (URI lines) seen so far: the parent of the next part
    parent: list[ScannedPart] = []  # the parts seen since the last URI line
    segment_seen = False  # a URI line, EXTINF or EXT-X-PART, for EXT-X-SKIP's place
    for item in document.items:
        if isinstance(item, UriLine):
            closed += 1
            parent = []
            segment_seen = True
            continue
        attrs = document.attrs(item)
        name = item.name
        if name == "EXT-X-PART":
            part = _part(found, item, attrs, first_msn + closed, parent)
            parent.append(part)
            found.parts.append(part)
            segment_seen = True
        elif name == "EXTINF":
            segment_seen = True
        elif name in _PARENT_TAGS and parent:
            found.violations.append(Violation(
                "part-tag-order",
                f"#{name} applies to the parent segment, so to its first part: it must "
                f"come before the first EXT-X-PART of MSN {first_msn + closed}", item.line))
        elif name == "EXT-X-SKIP":
            if segment_seen:
                found.violations.append(Violation(
                    "skip-position", "#EXT-X-SKIP replaces the first segments: it must come "
                    "before every segment and part", item.line))
            skipped = _text(attrs, "SKIPPED-SEGMENTS")
            found.skip = SkipTag(
                item.line,
                int(skipped) if skipped is not None and is_decimal_integer(skipped) else None,
                _text(attrs, "RECENTLY-REMOVED-DATERANGES"))
        else:
            _playlist_tag(found, item, attrs)


def _playlist_tag(found: LowLatency, tag: Tag, attrs: _Attrs) -> None:
    name = tag.name
    if name == "EXT-X-PART-INF":
        found.part_inf_line = tag.line
        found.part_target = _decimal(attrs, "PART-TARGET")
    elif name == "EXT-X-SERVER-CONTROL":
        found.server_control = ServerControl(
            line=tag.line,
            can_block_reload=_yes(attrs, "CAN-BLOCK-RELOAD"),
            can_skip_until=_decimal(attrs, "CAN-SKIP-UNTIL"),
            can_skip_dateranges=_yes(attrs, "CAN-SKIP-DATERANGES"),
            hold_back=_decimal(attrs, "HOLD-BACK"),
            part_hold_back=_decimal(attrs, "PART-HOLD-BACK"),
        )
    elif name == "EXT-X-PRELOAD-HINT":
        found.preload_hints.append(PreloadHint(
            type=_text(attrs, "TYPE") or "", uri=_text(attrs, "URI") or "", line=tag.line,
            byterange_start=_integer(attrs, "BYTERANGE-START"),
            byterange_length=_integer(attrs, "BYTERANGE-LENGTH")))
    elif name == "EXT-X-RENDITION-REPORT":
        found.rendition_reports.append(RenditionReport(
            uri=_text(attrs, "URI"), line=tag.line, last_msn=_integer(attrs, "LAST-MSN"),
            last_part=_integer(attrs, "LAST-PART")))


def _part(found: LowLatency, tag: Tag, attrs: _Attrs, msn: int,
          parent: list[ScannedPart]) -> ScannedPart:
    uri = _text(attrs, "URI") or ""
    byterange = _text(attrs, "BYTERANGE")
    if byterange is not None:
        problem = _byterange_problem(uri, byterange, parent)
        if problem is not None:
            found.violations.append(Violation("part-byterange", problem, tag.line))
    return ScannedPart(uri=uri, line=tag.line, duration=_decimal(attrs, "DURATION"), msn=msn,
                       index=len(parent), independent=_yes(attrs, "INDEPENDENT"),
                       gap=_yes(attrs, "GAP"), byterange=byterange)


def _byterange_problem(uri: str, byterange: str, parent: list[ScannedPart]) -> str | None:
    try:
        value = parse_byterange(byterange)
    except ValueError:
        return f'BYTERANGE must be "<length>[@<offset>]", not "{byterange}"'
    if value.offset is not None:
        return None
    previous = parent[-1] if parent else None
    if previous is None or previous.byterange is None or previous.uri != uri:
        return ("a BYTERANGE without an offset continues the previous part of the same "
                "parent segment, which must be a range of the same URI")
    return None
