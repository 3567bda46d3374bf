"""WebVTT subtitles: parse a whole file, render the segment for one media span."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from hlsd.media.errors import MediaError
from hlsd.media.timeline import TS_OFFSET_TICKS

_TIMESTAMP = r"(?:(\d+):)?([0-5]\d):([0-5]\d)[.,](\d{3})"
_TIMING = re.compile(rf"^\s*{_TIMESTAMP}\s+-->\s+{_TIMESTAMP}(.*)$")
_BLANK_LINES = re.compile(r"\n[ \t]*\n")
# Blocks that are not cues; ignored wherever they appear.
_SKIPPED_BLOCKS = ("NOTE", "STYLE", "REGION")
# Segments place cues with the same origin as the media segments: the local time
# 00:00:00.000 is the media's TS_OFFSET on the MPEG-TS clock.
HEADER = f"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{TS_OFFSET_TICKS},LOCAL:00:00:00.000\n"


@dataclass(frozen=True, kw_only=True)
class Cue:
    """A cue; times in seconds on the normalized media timeline (as SegmentSpan)."""

    start: float
    end: float
    text: str
    identifier: str | None = None
    settings: str = ""


def parse_webvtt(data: bytes) -> tuple[Cue, ...]:
    """All cues of a WebVTT file, in file order; MediaError if it is not WebVTT."""
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    first, _, _ = text.partition("\n")
    if not (first == "WEBVTT" or first.startswith(("WEBVTT ", "WEBVTT\t"))):
        raise MediaError("not a WebVTT file")
    blocks = _BLANK_LINES.split(text)[1:]  # the first block is the header
    return tuple(cue for block in blocks if (cue := _parse_block(block)) is not None)


def _parse_block(block: str) -> Cue | None:
    lines = block.strip("\n").split("\n")
    if not lines or not lines[0].strip():
        return None
    if "-->" not in lines[0]:
        if lines[0].split(maxsplit=1)[0] in _SKIPPED_BLOCKS or len(lines) < 2:
            return None
        identifier: str | None = lines[0]
        lines = lines[1:]
    else:
        identifier = None
    match = _TIMING.match(lines[0])
    if match is None:
        return None
    start, end = _seconds(match.groups()[0:4]), _seconds(match.groups()[4:8])
    if end < start:
        return None
    payload: list[str] = []
    for line in lines[1:]:
        if "-->" in line:
            break  # a cue's text may not hold a timing line: the rest is broken input
        payload.append(line)
    return Cue(start=start, end=end, text="\n".join(payload), identifier=identifier,
               settings=match.group(9).strip())


def _seconds(parts: tuple[str | None, ...]) -> float:
    hours, minutes, seconds, millis = (int(p) if p else 0 for p in parts)
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def format_timestamp(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def overlaps(cue: Cue, start: float, end: float) -> bool:
    """Whether ``cue`` shows during [start, end); an instant cue counts where it falls."""
    if cue.end <= cue.start:
        return start <= cue.start < end
    return cue.start < end and cue.end > start


def render_vtt_segment(cues: Iterable[Cue], start: float, end: float) -> bytes:
    """The WebVTT segment for the media span [start, end): every cue showing in it.

    Cues keep their own times, so one that crosses a boundary is in both segments,
    as HLS players expect; they drop the repeat.
    """
    out = [HEADER]
    for cue in cues:
        if not overlaps(cue, start, end):
            continue
        timing = f"{format_timestamp(cue.start)} --> {format_timestamp(cue.end)}"
        if cue.settings:
            timing += " " + cue.settings
        head = f"{cue.identifier}\n" if cue.identifier else ""
        out.append(f"\n{head}{timing}\n{cue.text}\n")
    return "".join(out).encode("utf-8")
