"""Low-Latency HLS rules of one media playlist (rfc8216bis §3.2, §4.4.3.7-8, §4.4.4.9,
§4.4.5.2-4, §6.2.2, §6.2.5.1 and the Low-Latency Server Configuration Profile, B.1).

Written values are rounded, so comparisons of durations allow a millisecond (Apple's
own example writes PART-HOLD-BACK=1.0 for three parts of 0.33334 s). Whether a part
that should carry INDEPENDENT=YES does cannot be seen in a playlist: it is not checked.
"""

from __future__ import annotations

import re
from collections import Counter

from hlsd.hls.check._lowlatency import ScannedPart
from hlsd.hls.check._scan import MediaScan
from hlsd.hls.check._violation import Violation

__all__ = ["check_low_latency", "edge_line", "parts_by_segment"]

_ROUNDING = 0.001
_EPSILON = 1e-9  # float noise only: a part over its target is over it
_SHORTEST_SHARE = 0.85  # §4.4.4.9
_NOT_RELATIVE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:|//")


def check_low_latency(scan: MediaScan, *, has_program_date_time: bool) -> list[Violation]:
    """What is wrong with the Low-Latency HLS tags of `scan` on their own."""
    found = [
        *_part_inf(scan), *_part_durations(scan), *_part_sums(scan), *_part_removal(scan),
        *_server_control(scan), *_hints(scan), *_reports(scan), *_skip(scan),
    ]
    if scan.parts and not has_program_date_time:
        found.append(Violation(
            "ll-program-date-time", "a playlist with parts has no EXT-X-PROGRAM-DATE-TIME: "
            "clients that check the Low-Latency profile play it at regular latency"))
    return found


def parts_by_segment(scan: MediaScan) -> dict[int, list[ScannedPart]]:
    """The parts of each segment, by MSN, in order."""
    grouped: dict[int, list[ScannedPart]] = {}
    for part in scan.parts:
        grouped.setdefault(part.msn, []).append(part)
    return grouped


def edge_line(scan: MediaScan) -> int:
    """The line of the last part or segment: what describes the live edge comes after."""
    lines = [scan.parts[-1].line] if scan.parts else []
    if scan.segments:
        lines.append(scan.segments[-1].line)
    return max(lines, default=0)


def _part_inf(scan: MediaScan) -> list[Violation]:
    found = []
    if scan.parts and scan.part_inf_line is None:
        found.append(Violation("part-inf-missing", "a playlist with EXT-X-PART tags needs "
                                                   "EXT-X-PART-INF", scan.parts[0].line))
    if scan.part_inf_line is not None and scan.part_target is not None and scan.part_target <= 0:
        found.append(Violation("part-target", "PART-TARGET must be a positive number of "
                                              "seconds", scan.part_inf_line))
    if (scan.part_inf_line is not None and not scan.parts and scan.segments
            and not scan.endlist):
        found.append(Violation("part-inf-unused", "a live playlist has EXT-X-PART-INF but no "
                                                  "EXT-X-PART", scan.part_inf_line))
    if scan.parts and scan.i_frames_only:
        found.append(Violation("part-i-frames", "an EXT-X-I-FRAMES-ONLY playlist should not "
                                                "have parts", scan.parts[0].line))
    return found


def _part_durations(scan: MediaScan) -> list[Violation]:
    target = scan.part_target
    if target is None or target <= 0:
        return []
    found = []
    shortest = _SHORTEST_SHARE * target
    for number, part in enumerate(scan.parts):
        if part.duration is None:
            continue
        if part.duration > target + _EPSILON:
            found.append(Violation(
                "part-over-target",
                f"part {part.uri} lasts {part.duration:g} s, more than the PART-TARGET of "
                f"{target:g} s", part.line))
        elif part.duration < shortest - _EPSILON and not _may_be_short(scan, number):
            found.append(Violation(
                "part-too-short",
                f"part {part.uri} lasts {part.duration:g} s, less than 85% of the PART-TARGET "
                f"of {target:g} s, and is neither INDEPENDENT=YES, GAP=YES, before a gap "
                "nor the last part of its segment", part.line))
    return found


def _may_be_short(scan: MediaScan, number: int) -> bool:
    """The exceptions of §4.4.4.9; the last part of the segment being made may turn out
    to be its final one, so it is let be (the next reload sees it again)."""
    part = scan.parts[number]
    following = scan.parts[number + 1] if number + 1 < len(scan.parts) else None
    return (part.independent or part.gap or (following is not None and following.gap)
            or following is None or following.msn != part.msn)


def _part_sums(scan: MediaScan) -> list[Violation]:
    """The parts of a whole segment hold the same media, with the same timing (§3.2)."""
    found = []
    grouped = parts_by_segment(scan)
    for msn, parts in grouped.items():
        index = msn - scan.first_msn
        if msn >= scan.next_msn or index < 0:
            continue  # the segment being made
        segment = scan.segments[index]
        durations = [part.duration for part in parts]
        if segment.duration is None or None in durations:
            continue
        total = sum(duration or 0.0 for duration in durations)
        tolerance = segment.precision + _ROUNDING * len(parts)
        # The oldest parts listed may have lost their first ones already: parts are
        # removed one by one, in order (§6.2.2), so only "no more than" holds there.
        oldest = msn == min(grouped)
        if total > segment.duration + tolerance or (
                not oldest and total < segment.duration - tolerance):
            found.append(Violation(
                "part-sum",
                f"the {len(parts)} parts of MSN {msn} ({segment.uri}) last {total:.5g} s, "
                f"but its EXTINF says {segment.duration:g} s", segment.line))
    return found


def _part_removal(scan: MediaScan) -> list[Violation]:
    found = []
    grouped = parts_by_segment(scan)
    with_parts = False
    for offset, segment in enumerate(scan.segments):
        has = scan.first_msn + offset in grouped
        if with_parts and not has:
            found.append(Violation(
                "part-removal-order", f"segment {segment.uri} has no parts but an earlier "
                "one has: parts must be removed in the order they appear", segment.line))
            break
        with_parts |= has
    if scan.target_duration is None or not scan.parts:
        return found
    far = _far_parts(scan, grouped, 3.0 * scan.target_duration)
    if far:
        found.append(Violation(
            "part-not-removed",
            f"{len(far)} part(s) end more than three target durations "
            f"({3 * scan.target_duration} s) before the end of the playlist, the first "
            f"{far[0].uri}: they should have been removed", far[0].line))
    return found


def _far_parts(scan: MediaScan, grouped: dict[int, list[ScannedPart]],
               limit: float) -> list[ScannedPart]:
    """The parts that end more than `limit` seconds before the end of the playlist.
    Each is measured back from the end of its segment, since the first parts of the
    oldest segment with parts may be gone."""
    ends, elapsed = {}, 0.0
    for offset, segment in enumerate(scan.segments):
        elapsed += segment.duration or 0.0
        ends[scan.first_msn + offset] = elapsed
    making = grouped.get(scan.next_msn, [])
    end = elapsed + sum(part.duration or 0.0 for part in making)
    far = []
    for msn, parts in grouped.items():
        if msn not in ends:
            continue
        after = 0.0
        for part in reversed(parts):
            if end - ends[msn] + after > limit + _ROUNDING:
                far.append(part)
            after += part.duration or 0.0
    return sorted(far, key=lambda part: part.line)


def _server_control(scan: MediaScan) -> list[Violation]:
    found = []
    control = scan.server_control
    line = None if control is None else control.line
    target, part_target = scan.target_duration, scan.part_target
    if scan.part_inf_line is not None and (control is None or control.part_hold_back is None):
        found.append(Violation("part-hold-back-missing", "a playlist with EXT-X-PART-INF needs "
                               "EXT-X-SERVER-CONTROL with PART-HOLD-BACK",
                               line or scan.part_inf_line))
    if scan.parts and not scan.endlist and not scan.can_block_reload:
        found.append(Violation("can-block-reload-missing", "a Low-Latency playlist (with "
                               "parts) needs EXT-X-SERVER-CONTROL with CAN-BLOCK-RELOAD=YES",
                               line or scan.parts[0].line))
    if control is None:
        return found
    hold = control.part_hold_back
    if hold is not None and part_target is not None and part_target > 0:
        if hold < 2 * part_target - _ROUNDING:
            found.append(Violation("part-hold-back", f"PART-HOLD-BACK={hold:g} is less than "
                                   f"twice the PART-TARGET of {part_target:g} s", line))
        elif hold < 3 * part_target - _ROUNDING:
            found.append(Violation("part-hold-back-short", f"PART-HOLD-BACK={hold:g} is less "
                                   f"than three times the PART-TARGET of {part_target:g} s "
                                   "(Apple's authoring specification makes it a MUST)", line))
    if target is not None:
        if control.hold_back is not None and control.hold_back < 3 * target - _ROUNDING:
            found.append(Violation("hold-back", f"HOLD-BACK={control.hold_back:g} is less "
                                   f"than three target durations ({3 * target} s)", line))
        skip = control.can_skip_until
        if skip is not None and skip < 6 * target - _ROUNDING:
            found.append(Violation("can-skip-until", f"CAN-SKIP-UNTIL={skip:g} is less than "
                                   f"six target durations ({6 * target} s)", line))
    if control.can_skip_dateranges and control.can_skip_until is None:
        found.append(Violation("can-skip-dateranges", "CAN-SKIP-DATERANGES needs "
                                                      "CAN-SKIP-UNTIL", line))
    return found


def _hints(scan: MediaScan) -> list[Violation]:
    found = []
    hints = scan.preload_hints
    if scan.endlist and hints:
        found.append(Violation("preload-hint-endlist", "a playlist with EXT-X-ENDLIST must "
                               "not have EXT-X-PRELOAD-HINT", hints[0].line))
    seen: Counter[str] = Counter()
    edge = edge_line(scan)
    for hint in hints:
        seen[hint.type] += 1
        if seen[hint.type] == 2:
            found.append(Violation("preload-hint-duplicate", f"a second EXT-X-PRELOAD-HINT "
                                   f"of TYPE={hint.type}: clients use the first", hint.line))
        if hint.line < edge:
            found.append(Violation("preload-hint-order", f"the hint for {hint.uri} comes "
                                   "before the last part or segment it follows", hint.line))
    if scan.parts and not scan.endlist and not any(h.type == "PART" for h in hints):
        found.append(Violation("preload-hint-missing", "a live playlist with parts has no "
                               "EXT-X-PRELOAD-HINT TYPE=PART for the next part"))
    return found


def _reports(scan: MediaScan) -> list[Violation]:
    found = []
    edge = edge_line(scan)
    for report in scan.rendition_reports:
        if report.uri is not None and _NOT_RELATIVE.match(report.uri):
            found.append(Violation("rendition-report-uri", f"the URI {report.uri} must be "
                                   "relative to this playlist's", report.line))
        if report.line < edge:
            found.append(Violation("rendition-report-order", "EXT-X-RENDITION-REPORT comes "
                                   "before the last part or segment", report.line))
    return found


def _skip(scan: MediaScan) -> list[Violation]:
    skip = scan.skip
    if skip is None:
        return []
    found = []
    control = scan.server_control
    boundary = None if control is None else control.can_skip_until
    if boundary is None:
        found.append(Violation("skip-without-can-skip-until", "a delta update (EXT-X-SKIP) "
                               "from a playlist without CAN-SKIP-UNTIL", skip.line))
    if scan.endlist:
        found.append(Violation("skip-endlist", "a playlist with EXT-X-ENDLIST must not be "
                               "a delta update (EXT-X-SKIP)", skip.line))
    if skip.segments == 0:
        found.append(Violation("skip-segments", "EXT-X-SKIP skips no segment", skip.line))
    target = scan.target_duration
    if boundary is not None and target is not None:
        listed = sum(segment.duration or 0.0 for segment in scan.segments)
        # The last segment skipped starts at most a (rounded) target duration before the
        # first one listed; if even its start is within the Skip Boundary, it was kept.
        if listed + target + 0.5 < boundary - _ROUNDING:
            found.append(Violation(
                "skip-too-far", f"the segments listed last {listed:.3f} s, so segments "
                f"within the Skip Boundary of {boundary:g} s were skipped", skip.line))
    return found
