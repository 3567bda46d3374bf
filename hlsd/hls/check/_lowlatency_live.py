"""Low-Latency HLS between fetches of one media playlist, and against the Delivery
Directives a fetch asked for (rfc8216bis §4.4.5.3, §6.2.1-6.2.2, §6.2.5-6.2.6).

A live edge only moves forward: the last (MSN, part) never goes back, and a part once
listed keeps its URI, duration, independence and byte range until it is removed, oldest
first. The hinted part is the next one published. A delta update lines up with the
playlist the client already has. A blocking reload is answered once the part asked for
(or a later one) is there.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hlsd.hls.check._lowlatency import Position, PreloadHint, ScannedPart
from hlsd.hls.check._lowlatency_rules import parts_by_segment
from hlsd.hls.check._scan import DECIMAL_PRECISION, MediaScan
from hlsd.hls.check._violation import Violation
from hlsd.hls.values import parse_byterange

__all__ = [
    "DeliveryDirectives",
    "SkipRequest",
    "check_directives",
    "compare_low_latency",
    "delta_misaligned",
]


class SkipRequest(enum.Enum):
    """The values of the _HLS_skip directive (§6.2.5.1)."""

    YES = "YES"
    V2 = "v2"  # also skip old EXT-X-DATERANGE tags (CAN-SKIP-DATERANGES=YES)


@dataclass(frozen=True, slots=True)
class DeliveryDirectives:
    """What a playlist request asked of the server (§6.2.5): `_HLS_msn`, `_HLS_part`,
    `_HLS_skip`. All None: a plain request, which must not be answered with a delta."""

    msn: int | None = None
    part: int | None = None
    skip: SkipRequest | None = None


def compare_low_latency(previous: MediaScan, current: MediaScan) -> list[Violation]:
    """Low-Latency violations in `current` given that `previous` was fetched earlier."""
    found: list[Violation] = []
    before, now = previous.last_position, current.last_position
    if before is not None and now is not None and now.key < before.key:
        found.append(Violation("last-part-decreased",
                               f"the playlist reached {before} and now ends at {now}"))
    found.extend(_changed_parts(previous, current))
    found.extend(_closed_since(previous, current))
    hint = next((h for h in previous.preload_hints if h.type == "PART"), None)
    if hint is not None and before is not None:
        found.extend(_hint_followed(hint, before, current))
    return found


def _same(old: ScannedPart, new: ScannedPart) -> bool:
    return (old.uri, old.duration, old.independent, old.byterange) == (
        new.uri, new.duration, new.independent, new.byterange)


def _changed_parts(previous: MediaScan, current: MediaScan) -> list[Violation]:
    found: list[Violation] = []
    old_parts, new_parts = parts_by_segment(previous), parts_by_segment(current)
    oldest, newest = min(new_parts, default=None), max(new_parts, default=None)
    for msn, new in new_parts.items():
        old = old_parts.get(msn)
        if not old:
            continue
        # Parts are only appended, and removed from the first one on: only the oldest
        # segment with parts may have lost some of its first ones since.
        dropped = range(len(old)) if msn == oldest else range(1)
        if any(len(new) >= len(old) - gone
               and all(_same(a, b) for a, b in zip(old[gone:], new, strict=False))
               for gone in dropped):
            continue
        index = next((i for i, (a, b) in enumerate(zip(old, new, strict=False))
                      if not _same(a, b)), len(new))
        if index < len(new):
            found.append(Violation("part-changed", f"part {index} of MSN {msn} was "
                                   f"{_describe(old[index])} and is now "
                                   f"{_describe(new[index])}", new[index].line))
        elif msn != newest:  # at the live edge, last-part-decreased says it
            found.append(Violation("part-changed", f"part {index} of MSN {msn} "
                                   f"({old[index].uri}) is gone, but a later part is not"))
    return found


def _describe(part: ScannedPart) -> str:
    words = [part.uri, "?" if part.duration is None else f"{part.duration:g} s"]
    if part.byterange is not None:
        words.append(f"BYTERANGE={part.byterange}")
    if part.independent:
        words.append("INDEPENDENT=YES")
    return f"{words[0]} ({', '.join(words[1:])})"


def _closed_since(previous: MediaScan, current: MediaScan) -> list[Violation]:
    """The segment being made at the earlier fetch, whole now with its parts already
    gone: the parts seen then can add up to no more than its EXTINF (§3.2)."""
    msn = previous.next_msn
    index = msn - current.first_msn
    parts = previous.parts_of(msn)
    if not parts or current.parts_of(msn) or not 0 <= index < len(current.segments):
        return []
    segment = current.segments[index]
    total = sum(part.duration or 0.0 for part in parts)
    if segment.duration is None or total <= segment.duration + segment.precision + \
            DECIMAL_PRECISION * len(parts):
        return []
    return [Violation("part-sum", f"the parts of MSN {msn} seen before last {total:.5g} s, "
                      f"but its EXTINF says {segment.duration:g} s", segment.line)]


def _hint_followed(hint: PreloadHint, before: Position, current: MediaScan) -> list[Violation]:
    """The hinted part should be the next part published (§4.4.5.3: its URI MUST match
    the one added later)."""
    new = [part for part in current.parts if part.position.key > before.key]
    if not new:
        return []
    first = new[0]
    if first.uri == hint.uri and _starts_at(first, hint.byterange_start or 0):
        return []
    if first.uri != hint.uri and any(part.uri == hint.uri for part in new):
        return []
    start = "" if hint.byterange_start is None else f" from byte {hint.byterange_start}"
    return [Violation("preload-hint-unfulfilled", f"the previous playlist hinted {hint.uri}"
                      f"{start}, but the next part published is {first.uri}"
                      f"{'' if first.byterange is None else ' ' + first.byterange}",
                      first.line)]


def _starts_at(part: ScannedPart, start: int) -> bool:
    if part.byterange is None:
        return start == 0
    try:
        offset = parse_byterange(part.byterange).offset
    except ValueError:
        return True  # reported by part-byterange
    return offset is None or offset == start


def delta_misaligned(previous: MediaScan, current: MediaScan) -> Violation | None:
    """A delta update that does not line up with the full playlist fetched before it
    (§6.2.5.1): the segments it skips are ones the client has, and the first one it
    lists is the same segment at the same MSN."""
    if current.skip is None or previous.skip is not None:
        return None
    if current.first_msn > previous.next_msn:
        return Violation("delta-misaligned", f"the delta update skips up to MSN "
                         f"{current.first_msn - 1}, past the end of the previous playlist "
                         f"(MSN {previous.next_msn - 1})", current.skip.line)
    index = current.first_msn - previous.first_msn
    if current.segments and 0 <= index < len(previous.segments):
        listed, known = current.segments[0], previous.segments[index]
        if listed.uri != known.uri:
            return Violation("delta-misaligned", f"after skipping {current.skipped} segments "
                             f"the delta update lists {listed.uri} as MSN {current.first_msn}, "
                             f"which was {known.uri}", listed.line)
    return None


def check_directives(scan: MediaScan, asked: DeliveryDirectives) -> list[Violation]:
    """Whether `scan` answers a request with the Delivery Directives `asked`."""
    if scan.endlist:
        return []  # a server ignores every directive then (§6.2.5.1-2)
    found: list[Violation] = []
    if asked.msn is not None and not _satisfies(scan, Position(asked.msn, asked.part)):
        wanted = Position(asked.msn, asked.part)
        found.append(Violation("blocking-reload-early", f"a blocking reload asked for "
                               f"{wanted} but was answered with a playlist that ends at "
                               f"{scan.last_position or 'nothing'}"))
    if asked.skip is None and scan.skip is not None:
        found.append(Violation("skip-unrequested", "a delta update (EXT-X-SKIP) answered a "
                               "request without _HLS_skip", scan.skip.line))
    if asked.skip is not None and scan.skip is None and _skippable(scan):
        found.append(Violation("delta-update-missing", f"_HLS_skip={asked.skip.value} was "
                               "asked and segments lie past the Skip Boundary, but the "
                               "answer is not a delta update (no EXT-X-SKIP)"))
    if (asked.skip is SkipRequest.V2 and scan.skip is not None
            and scan.skip.recently_removed_dateranges is None):
        found.append(Violation("skip-dateranges-missing", "_HLS_skip=v2 was asked: "
                               "EXT-X-SKIP needs RECENTLY-REMOVED-DATERANGES", scan.skip.line))
    return found


def _satisfies(scan: MediaScan, wanted: Position) -> bool:
    """§6.2.5.2: the playlist has a segment with MSN `wanted.msn` or later, or (with a
    part) that part or a later one; a part index past the last part of a whole segment
    asks for the first part of the next one."""
    last_whole = scan.next_msn - 1
    if last_whole > wanted.msn or (wanted.part is None and last_whole == wanted.msn):
        return True
    if wanted.part is None:
        return False
    listed = scan.parts_of(wanted.msn)
    if any(part.index >= wanted.part for part in listed):
        return True
    if last_whole == wanted.msn and not listed:
        return True  # whole, its parts gone: which part index was last is not known
    return any(part.msn > wanted.msn for part in scan.parts)


def _skippable(scan: MediaScan) -> bool:
    """Whether a segment lies wholly further than the Skip Boundary from the end of the
    last whole segment, so that a delta update must skip it."""
    control = scan.server_control
    if control is None or control.can_skip_until is None or not scan.segments:
        return False
    total = sum(segment.duration or 0.0 for segment in scan.segments)
    first_end = scan.segments[0].duration or 0.0
    return total - first_end > control.can_skip_until + DECIMAL_PRECISION
