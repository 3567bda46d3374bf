"""The Low-Latency HLS lines of a media playlist (rfc8216bis §4.4.3.7-8, §4.4.4.9,
§4.4.5.2-4), with the MUSTs of each checked: `hlsd.hls.render` writes them in place.

Durations are compared as they are written (to the millisecond), so a value that reads
as legal is legal.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from hlsd.hls.model import (
    MediaPlaylist,
    PartialSegment,
    PreloadHint,
    RenditionReport,
    ServerControl,
    Skip,
)
from hlsd.hls.values import (
    format_byterange,
    format_decimal_integer,
    format_duration,
    quoted_string,
    uri_value,
)

__all__ = ["has_parts", "header_lines", "part_lines", "skip_line", "tail_lines"]

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def _millis(what: str, seconds: float) -> int:
    """A duration as written (`format_duration`), in milliseconds."""
    text = format_duration(seconds)
    whole, _, frac = text.partition(".")
    if not whole:
        raise ValueError(f"{what} is not a duration: {seconds!r}")
    return int(whole) * 1000 + int((frac + "000")[:3])


def has_parts(playlist: MediaPlaylist) -> bool:
    return bool(playlist.pending is not None and playlist.pending.parts) or any(
        segment.parts for segment in playlist.segments)


def header_lines(playlist: MediaPlaylist) -> Iterator[str]:
    """EXT-X-SERVER-CONTROL and EXT-X-PART-INF, checked against the playlist."""
    control, part_inf = playlist.server_control, playlist.part_inf
    if has_parts(playlist) and part_inf is None:
        raise ValueError("a playlist with EXT-X-PART tags needs EXT-X-PART-INF")
    if part_inf is not None:
        target = _millis("PART-TARGET", part_inf.part_target)
        if target <= 0:
            raise ValueError("PART-TARGET must be more than 0 seconds")
        if control is None or control.part_hold_back is None:
            raise ValueError("a playlist with EXT-X-PART-INF needs "
                             "EXT-X-SERVER-CONTROL:PART-HOLD-BACK")
    if control is not None:
        yield _server_control_line(control, playlist.target_duration,
                                   part_inf.part_target if part_inf else None)
    if part_inf is not None:
        yield f"#EXT-X-PART-INF:PART-TARGET={format_duration(part_inf.part_target)}"


def _server_control_line(control: ServerControl, target_duration: int,
                         part_target: float | None) -> str:
    attributes = []
    if control.can_block_reload:
        attributes.append("CAN-BLOCK-RELOAD=YES")
    if control.can_skip_until is not None:
        if _millis("CAN-SKIP-UNTIL", control.can_skip_until) < 6000 * target_duration:
            raise ValueError("CAN-SKIP-UNTIL must be at least six target durations")
        attributes.append(f"CAN-SKIP-UNTIL={format_duration(control.can_skip_until)}")
    if control.can_skip_dateranges:
        if control.can_skip_until is None:
            raise ValueError("CAN-SKIP-DATERANGES needs CAN-SKIP-UNTIL")
        attributes.append("CAN-SKIP-DATERANGES=YES")
    if control.hold_back is not None:
        if _millis("HOLD-BACK", control.hold_back) < 3000 * target_duration:
            raise ValueError("HOLD-BACK must be at least three target durations")
        attributes.append(f"HOLD-BACK={format_duration(control.hold_back)}")
    if control.part_hold_back is not None:
        if part_target is None:
            raise ValueError("PART-HOLD-BACK needs EXT-X-PART-INF")
        hold = _millis("PART-HOLD-BACK", control.part_hold_back)
        if hold < 2 * _millis("PART-TARGET", part_target):
            raise ValueError("PART-HOLD-BACK must be at least twice the part target")
        attributes.append(f"PART-HOLD-BACK={format_duration(control.part_hold_back)}")
    if not attributes:
        raise ValueError("EXT-X-SERVER-CONTROL needs at least one attribute")
    return "#EXT-X-SERVER-CONTROL:" + ",".join(attributes)


def skip_line(playlist: MediaPlaylist, skip: Skip) -> str:
    """EXT-X-SKIP: only in a delta update the playlist offers (CAN-SKIP-UNTIL), never
    with EXT-X-ENDLIST (rfc8216bis §6.2.5.1)."""
    control = playlist.server_control
    if control is None or control.can_skip_until is None:
        raise ValueError("EXT-X-SKIP needs EXT-X-SERVER-CONTROL:CAN-SKIP-UNTIL")
    if playlist.endlist:
        raise ValueError("a playlist with EXT-X-ENDLIST is never a delta update")
    count = format_decimal_integer("SKIPPED-SEGMENTS", skip.skipped_segments)
    line = f"#EXT-X-SKIP:SKIPPED-SEGMENTS={count}"
    removed = skip.recently_removed_dateranges
    if removed is not None:
        if not control.can_skip_dateranges:
            raise ValueError("RECENTLY-REMOVED-DATERANGES needs CAN-SKIP-DATERANGES=YES")
        if any(not ident or "\t" in ident for ident in removed):
            raise ValueError("a removed EXT-X-DATERANGE ID must be non-empty, without a tab")
        # Each ID checked as a quoted-string; the tab between them is the one control
        # character the spec asks for here.
        ids = "\t".join(quoted_string("EXT-X-DATERANGE ID", i)[1:-1] for i in removed)
        line += f',RECENTLY-REMOVED-DATERANGES="{ids}"'
    return line


def part_lines(parts: tuple[PartialSegment, ...], part_target: float | None
               ) -> Iterator[str]:
    """The EXT-X-PART tags of one parent segment. Its last part is let off the 85 %
    rule: final in a whole segment, and maybe final in one still being produced."""
    if not parts:
        return
    if part_target is None:
        raise ValueError("a playlist with EXT-X-PART tags needs EXT-X-PART-INF")
    target = _millis("PART-TARGET", part_target)
    for n, part in enumerate(parts):
        uri = uri_value("EXT-X-PART URI", part.uri)
        duration = _millis("EXT-X-PART DURATION", part.duration)
        if duration > target:
            raise ValueError(f"part {uri} lasts {format_duration(part.duration)} s, "
                             f"more than the part target {format_duration(part_target)} s")
        last = n == len(parts) - 1
        exempt = (part.independent or part.gap or last
                  or (not last and parts[n + 1].gap))
        if not exempt and duration * 20 < target * 17:
            raise ValueError(f"part {uri} lasts less than 85 % of the part target and "
                             "is neither independent nor the last of its segment")
        attributes = [f"DURATION={format_duration(part.duration)}"]
        if part.independent:
            attributes.append("INDEPENDENT=YES")
        if part.byterange is not None:
            previous = parts[n - 1] if n else None
            if part.byterange.offset is None and (
                    previous is None or previous.byterange is None or previous.uri != part.uri):
                raise ValueError(f"part {uri}: a byte range without an offset must follow "
                                 "a range of the same resource in the same segment")
            attributes.append(
                f'BYTERANGE="{format_byterange("EXT-X-PART BYTERANGE", part.byterange)}"')
        if part.gap:
            attributes.append("GAP=YES")
        attributes.append(f"URI={quoted_string('EXT-X-PART URI', uri)}")
        yield "#EXT-X-PART:" + ",".join(attributes)


def tail_lines(playlist: MediaPlaylist) -> Iterator[str]:
    """EXT-X-PRELOAD-HINT and EXT-X-RENDITION-REPORT tags, after the last segment."""
    hints = playlist.preload_hints
    if hints and playlist.endlist:
        raise ValueError("a playlist with EXT-X-ENDLIST cannot hold EXT-X-PRELOAD-HINT")
    if len({hint.type for hint in hints}) < len(hints):
        raise ValueError("at most one EXT-X-PRELOAD-HINT of each TYPE")
    for hint in hints:
        yield _hint_line(hint)
    for report in playlist.rendition_reports:
        yield _report_line(report)


def _hint_line(hint: PreloadHint) -> str:
    uri = quoted_string("EXT-X-PRELOAD-HINT URI", uri_value("EXT-X-PRELOAD-HINT URI",
                                                              hint.uri))
    attributes = [f"TYPE={hint.type.value}", f"URI={uri}"]
    if hint.byterange_start is not None:
        start = format_decimal_integer("BYTERANGE-START", hint.byterange_start)
        attributes.append(f"BYTERANGE-START={start}")
    if hint.byterange_length is not None:
        length = format_decimal_integer("BYTERANGE-LENGTH", hint.byterange_length)
        attributes.append(f"BYTERANGE-LENGTH={length}")
    return "#EXT-X-PRELOAD-HINT:" + ",".join(attributes)


def _report_line(report: RenditionReport) -> str:
    uri = uri_value("EXT-X-RENDITION-REPORT URI", report.uri)
    if _SCHEME.match(uri):
        raise ValueError(f"EXT-X-RENDITION-REPORT URI must be relative: {uri!r}")
    attributes = [f"URI={quoted_string('EXT-X-RENDITION-REPORT URI', uri)}",
                  f"LAST-MSN={format_decimal_integer('LAST-MSN', report.last_msn)}"]
    if report.last_part is not None:
        attributes.append(f"LAST-PART={format_decimal_integer('LAST-PART', report.last_part)}")
    return "#EXT-X-RENDITION-REPORT:" + ",".join(attributes)
