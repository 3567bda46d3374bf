"""Rules for WebVTT subtitle segments as HLS uses them (RFC 8216 §3.5, W3C WebVTT).

HLS relies on the X-TIMESTAMP-MAP header to place cues on the MPEG-2 timeline of the
other renditions; a malformed one shifts every subtitle or drops them all.
"""

from __future__ import annotations

import re

from hlsd.hls.check._violation import Violation

__all__ = ["check_webvtt_segment"]

_TIMESTAMP = r"(?:[0-9]{2,}:)?[0-5][0-9]:[0-5][0-9]\.[0-9]{3}"
_HEADER = re.compile(r"WEBVTT(?:[ \t].*)?")
_CUE_TIMING = re.compile(rf"({_TIMESTAMP})[ \t]+-->[ \t]+({_TIMESTAMP})(?:[ \t].*)?")
_MAP_PART = re.compile(rf"MPEGTS:([0-9]+)|LOCAL:({_TIMESTAMP})")
_MAP_PREFIX = "X-TIMESTAMP-MAP="
# MPEG-2 timestamps are 33-bit counts of a 90 kHz clock.
_MPEGTS_MAX = 2**33 - 1


def _seconds(timestamp: str) -> float:
    seconds = 0.0
    for part in timestamp.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def check_webvtt_segment(text: str) -> list[Violation]:
    """Check the WEBVTT signature, the X-TIMESTAMP-MAP header and the cue timings."""
    lines = re.split(r"\r\n|\r|\n", text.removeprefix("\ufeff"))
    if not _HEADER.fullmatch(lines[0]):
        return [Violation("webvtt-header", "a WebVTT file must start with WEBVTT", 1)]
    found: list[Violation] = []
    in_header = True
    maps = 0
    for number, line in enumerate(lines[1:], 2):
        if not line:
            in_header = False
        elif in_header and line.startswith(_MAP_PREFIX):
            maps += 1
            if maps > 1:
                found.append(Violation("webvtt-timestamp-map",
                                       "X-TIMESTAMP-MAP appears twice", number))
            found.extend(_check_timestamp_map(line.removeprefix(_MAP_PREFIX), number))
        elif "-->" in line:
            in_header = False
            found.extend(_check_cue_timing(line, number))
    return found


def _check_timestamp_map(value: str, number: int) -> list[Violation]:
    parts = value.split(",")
    matches = [_MAP_PART.fullmatch(part) for part in parts]
    mpegts = [m.group(1) for m in matches if m is not None and m.group(1) is not None]
    local = [m.group(2) for m in matches if m is not None and m.group(2) is not None]
    if len(parts) != 2 or len(mpegts) != 1 or len(local) != 1:
        return [Violation(
            "webvtt-timestamp-map",
            f"X-TIMESTAMP-MAP must be MPEGTS:<integer>,LOCAL:<hh:mm:ss.mmm>, not {value!r}",
            number,
        )]
    if int(mpegts[0]) > _MPEGTS_MAX:
        return [Violation("webvtt-timestamp-map",
                          f"MPEGTS {mpegts[0]} does not fit in 33 bits", number)]
    return []


def _check_cue_timing(line: str, number: int) -> list[Violation]:
    match = _CUE_TIMING.fullmatch(line)
    if match is None:
        return [Violation("webvtt-cue-timing", f"malformed cue timing {line!r}", number)]
    if _seconds(match.group(1)) > _seconds(match.group(2)):
        return [Violation("webvtt-cue-timing", f"cue ends before it starts: {line!r}", number)]
    return []
