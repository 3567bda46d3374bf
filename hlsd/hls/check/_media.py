"""Rules for one Media Playlist on its own (RFC 8216 §4.3.2-4.3.3, §6.2.1).

`scan_media` reads the segments out of the text and reports what is wrong with them,
then its Low-Latency HLS tags (`_lowlatency`, with the rules of `_lowlatency_rules`);
`_live` compares two scans of the same playlist over time.
"""

from __future__ import annotations

import re
from datetime import datetime

from hlsd.hls.check._document import Document, read
from hlsd.hls.check._lines import Tag, UriLine
from hlsd.hls.check._lowlatency import read_low_latency
from hlsd.hls.check._lowlatency_rules import check_low_latency
from hlsd.hls.check._scan import DECIMAL_PRECISION, InitRef, MediaScan, ScannedSegment
from hlsd.hls.check._tags import MASTER_ONLY
from hlsd.hls.values import (
    is_decimal_integer,
    parse_byterange,
    parse_datetime,
    rounded_seconds,
)

__all__ = ["scan_media"]

_EXTINF = re.compile(r"([0-9]+(?:\.[0-9]*)?),(.*)")
_BYTERANGE = re.compile(r"[0-9]+(?:@[0-9]+)?")


def _integer(scan: MediaScan, document: Document, name: str, rule: str) -> int | None:
    tag = document.first(name)
    if tag is None:
        return None
    if tag.value is None or not is_decimal_integer(tag.value):
        scan.add(rule, f"#{name} must be a decimal integer, not {tag.value!r}", tag.line)
        return None
    return int(tag.value)


def scan_media(text: str) -> MediaScan:
    """Read a media playlist and check the rules that need no other playlist."""
    document = read(text)
    scan = MediaScan(violations=list(document.violations))
    for tag in document.tags(*MASTER_ONLY):
        scan.add("tag-wrong-playlist", f"#{tag.name} belongs in a master playlist", tag.line)

    target = _integer(scan, document, "EXT-X-TARGETDURATION", "target-duration")
    if document.first("EXT-X-TARGETDURATION") is None:
        scan.add("target-duration-missing", "#EXT-X-TARGETDURATION is required")
    scan.target_duration = target
    scan.media_sequence = _integer(scan, document, "EXT-X-MEDIA-SEQUENCE", "tag-value") or 0
    skip = document.first("EXT-X-SKIP")
    skipped = document.attrs(skip).get("SKIPPED-SEGMENTS") if skip is not None else None
    if skipped is not None and is_decimal_integer(skipped.value):
        scan.skipped = int(skipped.value)
    scan.discontinuity_sequence = (
        _integer(scan, document, "EXT-X-DISCONTINUITY-SEQUENCE", "tag-value") or 0
    )
    kind = document.first("EXT-X-PLAYLIST-TYPE")
    if kind is not None:
        scan.playlist_type = kind.value
        if kind.value not in ("VOD", "EVENT"):
            scan.add("tag-value", f"#EXT-X-PLAYLIST-TYPE must be VOD or EVENT, not {kind.value!r}",
                     kind.line)
    scan.endlist = document.first("EXT-X-ENDLIST") is not None
    if scan.playlist_type == "VOD" and not scan.endlist:
        scan.add("endlist-missing", "a PLAYLIST-TYPE:VOD playlist needs #EXT-X-ENDLIST")
    if document.first("EXT-X-DATERANGE") and not document.first("EXT-X-PROGRAM-DATE-TIME"):
        scan.add("daterange-needs-pdt",
                 "a playlist with #EXT-X-DATERANGE needs an #EXT-X-PROGRAM-DATE-TIME")
    scan.i_frames_only = document.first("EXT-X-I-FRAMES-ONLY") is not None
    _scan_segments(scan, document)
    read_low_latency(document, scan.first_msn, scan)
    scan.violations.extend(check_low_latency(scan, has_program_date_time=(
        document.first("EXT-X-PROGRAM-DATE-TIME") is not None)))
    return scan


class _Pending:
    """Tags seen since the last URI line, which apply to the next segment."""

    def __init__(self) -> None:
        self.extinf: Tag | None = None
        self.duration: float | None = None
        self.byterange: Tag | None = None
        self.discontinuity = False
        self.program_date_time: datetime | None = None


def _scan_segments(scan: MediaScan, document: Document) -> None:
    pending = _Pending()
    # EXT-X-MAP and EXT-X-KEY apply to every segment after them, up to the next one.
    init: InitRef | None = None
    encrypted = False
    last_time: datetime | None = None
    order_tags = ("EXT-X-MEDIA-SEQUENCE", "EXT-X-DISCONTINUITY-SEQUENCE")
    seen_discontinuity = False
    for item in document.items:
        if isinstance(item, UriLine):
            _close_segment(scan, pending, item, init, encrypted)
            pending = _Pending()
            continue
        name = item.name
        if name in order_tags and (scan.segments or pending.extinf or seen_discontinuity):
            scan.add("tag-after-segment", f"#{name} must come before the first segment",
                     item.line)
        if name == "EXTINF":
            if pending.extinf is not None:
                scan.add("extinf-duplicate", "two #EXTINF tags for one segment", item.line)
            pending.extinf = item
            pending.duration = _duration(scan, item)
        elif name == "EXT-X-BYTERANGE":
            pending.byterange = item
            if not _BYTERANGE.fullmatch(item.value or ""):
                scan.add("tag-value", f"malformed #EXT-X-BYTERANGE {item.value!r}", item.line)
        elif name == "EXT-X-DISCONTINUITY":
            pending.discontinuity = seen_discontinuity = True
        elif name == "EXT-X-PROGRAM-DATE-TIME":
            stamp = _datetime(scan, item)
            if stamp is not None:
                if last_time is not None and stamp <= last_time:
                    scan.add("program-date-time",
                             f"{item.value} does not come after {last_time.isoformat()}",
                             item.line)
                last_time = pending.program_date_time = stamp
        elif name == "EXT-X-MAP":
            _check_map(scan, document, item)
            attrs = document.attrs(item)
            uri, byterange = attrs.get("URI"), attrs.get("BYTERANGE")
            init = None if uri is None else InitRef(
                uri.value, None if byterange is None else byterange.value)
        elif name == "EXT-X-KEY":
            method = document.attrs(item).get("METHOD")
            encrypted = method is not None and method.value != "NONE"
    dangling = pending.extinf or pending.byterange
    if dangling is not None:
        scan.add("uri-missing", "segment tags are not followed by a URI line", dangling.line)


def _close_segment(scan: MediaScan, pending: _Pending, uri: UriLine, init: InitRef | None,
                   encrypted: bool) -> None:
    if pending.extinf is None:
        scan.add("extinf-missing", f"segment {uri.uri} has no #EXTINF", uri.line)
    elif (
        pending.duration is not None
        and scan.target_duration is not None
        and rounded_seconds(pending.duration) > scan.target_duration
    ):
        scan.add("target-duration",
                 f"segment {uri.uri} lasts {pending.duration} s, which rounds above the "
                 f"target duration {scan.target_duration}", pending.extinf.line)
    byterange = pending.byterange.value if pending.byterange is not None else None
    if byterange is not None and "@" not in byterange:
        previous = scan.segments[-1] if scan.segments else None
        if previous is None or previous.byterange is None or previous.uri != uri.uri:
            scan.add("byterange",
                     "a byte range without an offset must follow a range of the same "
                     "resource", uri.line)
    scan.segments.append(ScannedSegment(
        uri=uri.uri,
        line=uri.line,
        duration=pending.duration,
        discontinuity=pending.discontinuity,
        program_date_time=pending.program_date_time,
        byterange=byterange,
        init=init,
        encrypted=encrypted,
        # An integer EXTINF is rounded to the nearest second (RFC 8216 §4.3.2.1).
        precision=0.5 if _integer_duration(pending.extinf) else DECIMAL_PRECISION,
    ))


def _integer_duration(extinf: Tag | None) -> bool:
    return extinf is not None and "." not in (extinf.value or "").split(",", 1)[0]


def _duration(scan: MediaScan, tag: Tag) -> float | None:
    match = _EXTINF.fullmatch(tag.value or "")
    if match is None:
        scan.add("extinf-format", f"#EXTINF must be <duration>,[<title>], not {tag.value!r}",
                 tag.line)
        return None
    return float(match.group(1))


def _datetime(scan: MediaScan, tag: Tag) -> datetime | None:
    try:
        return parse_datetime(tag.value or "")
    except ValueError:
        scan.add("program-date-time-format", f"{tag.value!r} is not an ISO 8601 date-time",
                 tag.line)
        return None


def _check_map(scan: MediaScan, document: Document, tag: Tag) -> None:
    byterange = document.attrs(tag).get("BYTERANGE")
    if byterange is None:
        return
    try:
        value = parse_byterange(byterange.value)
    except ValueError:
        value = None
    # There is no previous range for an EXT-X-MAP range to continue from.
    if value is None or value.offset is None:
        scan.add("map-byterange", "EXT-X-MAP BYTERANGE must be <length>@<offset>", tag.line)
