"""``hlsd check --segments``: the first and last few segments of a media playlist are
fetched; each must answer, with a media type, and play as long as its EXTINF says
(measured with PyAV: `hlsd.media.measure`), never longer than the target duration.
WebVTT segments get the WebVTT rules instead. Encrypted segments are only fetched.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import httpx

from hlsd.client.checker_fetch import BodyTooLarge, FetchFailed, fetch
from hlsd.client.checker_report import PlaylistReport, Report
from hlsd.hls import ByteRange
from hlsd.hls.check import InitRef, MediaScan, ScannedSegment, Violation, check_webvtt_segment
from hlsd.hls.values import parse_byterange, rounded_seconds

if TYPE_CHECKING:
    from hlsd.client.checker import CheckOptions

__all__ = ["check_segments"]

_MEDIA_TYPES = frozenset({"application/mp4", "application/octet-stream",
                          "binary/octet-stream", "text/vtt"})
# A measure and its EXTINF may differ by rounding and by how a tool counts the last
# frame; past the larger of these, players drift.
_TOLERANCE_SECONDS = 0.25
_TOLERANCE_SHARE = 0.1
_NO_INIT = b""


async def check_segments(client: httpx.AsyncClient, report: Report, playlist: PlaylistReport,
                         base: str, scan: MediaScan, options: CheckOptions) -> None:
    """Check the segments at both ends of `scan` (URIs relative to `base`)."""
    ranges = _byte_ranges(scan.segments)
    inits: dict[InitRef, bytes | None] = {}
    skipped = 0
    for index in _ends(len(scan.segments), options.segments_per_end):
        segment = scan.segments[index]
        byterange = ranges[index]
        if byterange is not None and byterange.offset is None:
            continue  # a range that continues nothing: reported by the playlist rules
        url = urljoin(base, segment.uri)
        body = await _fetched(client, report, playlist, url, f"segment {segment.uri}",
                              segment.line, options, byterange)
        if body is None:
            continue
        playlist.segments += 1
        if segment.encrypted:
            skipped += 1
            continue
        if body.removeprefix(b"\xef\xbb\xbf").startswith(b"WEBVTT"):
            for violation in check_webvtt_segment(body.decode("utf-8", errors="replace")):
                playlist.add(violation, url=url)
            continue
        init = await _init(client, report, playlist, base, segment, options, inits)
        if init is not None:
            await _measure(playlist, segment, body, init, scan.target_duration)
    if skipped:
        report.notes.append(f"{playlist.url}: {skipped} encrypted segment(s) fetched, "
                            "not measured")


def _ends(count: int, per_end: int) -> list[int]:
    """Indexes of the first and last `per_end` segments, each once, in order."""
    return sorted(set(range(min(per_end, count))) | set(range(max(0, count - per_end), count)))


def _byte_ranges(segments: list[ScannedSegment]) -> list[ByteRange | None]:
    """Each segment's byte range with its offset worked out (RFC 8216 §4.3.2.2: a range
    without one starts where the previous range of the same resource ended); the offset
    stays None where that cannot be known."""
    ranges: list[ByteRange | None] = []
    previous: tuple[str, int] | None = None  # (uri, end) of the last range
    for segment in segments:
        if segment.byterange is None:
            ranges.append(None)
            previous = None
            continue
        try:
            value = parse_byterange(segment.byterange)
        except ValueError:
            ranges.append(ByteRange(length=0, offset=None))
            previous = None
            continue
        offset = value.offset
        if offset is None and previous is not None and previous[0] == segment.uri:
            offset = previous[1]
        ranges.append(ByteRange(length=value.length, offset=offset))
        previous = None if offset is None else (segment.uri, offset + value.length)
    return ranges


async def _fetched(client: httpx.AsyncClient, report: Report, playlist: PlaylistReport,
                   url: str, what: str, line: int, options: CheckOptions,
                   byterange: ByteRange | None) -> bytes | None:
    """The bytes at `url` ("segment seg-1.ts", named `what`), or None with the reason
    reported at `line` of the playlist (a note when it is only too large to check)."""
    try:
        fetched = await fetch(client, url, limit=options.max_segment_bytes,
                              deadline=options.segment_deadline, byterange=byterange)
    except BodyTooLarge as exc:
        report.notes.append(f"{playlist.url}: {what} not checked: {exc}")
        return None
    except FetchFailed as exc:
        playlist.add(Violation("segment-unavailable", f"{what}: {exc}", line))
        return None
    if not fetched.ok:
        playlist.add(Violation("segment-unavailable",
                               f"{what} answered HTTP {fetched.status}", line))
        return None
    media_type = (fetched.content_type or "").split(";", 1)[0].strip().lower()
    if not (media_type.startswith(("video/", "audio/")) or media_type in _MEDIA_TYPES):
        said = f"Content-Type {media_type}" if media_type else "no Content-Type"
        playlist.add(Violation("segment-content-type",
                               f"{what} came with {said}, not a media type", line))
    return fetched.body


async def _init(client: httpx.AsyncClient, report: Report, playlist: PlaylistReport, base: str,
                segment: ScannedSegment, options: CheckOptions,
                inits: dict[InitRef, bytes | None]) -> bytes | None:
    """The segment's initialization section (empty without EXT-X-MAP), fetched once;
    None when it cannot be had (reported once)."""
    ref = segment.init
    if ref is None:
        return _NO_INIT
    if ref not in inits:
        try:
            byterange = None if ref.byterange is None else parse_byterange(ref.byterange)
        except ValueError:
            byterange = None  # reported as map-byterange by the playlist rules
        inits[ref] = await _fetched(client, report, playlist, urljoin(base, ref.uri),
                                    f"initialization section {ref.uri}", segment.line,
                                    options, byterange)
    return inits[ref]


async def _measure(playlist: PlaylistReport, segment: ScannedSegment, body: bytes,
                   init: bytes, target: int | None) -> None:
    from hlsd.media.errors import MediaError  # PyAV loads only for --segments
    from hlsd.media.measure import measure_segment

    try:
        measured = await asyncio.to_thread(measure_segment, body, init)
    except MediaError as exc:
        playlist.add(Violation("segment-unreadable", f"segment {segment.uri}: {exc}",
                               segment.line))
        return
    seconds = measured.duration
    if target is not None and rounded_seconds(seconds) > target:
        playlist.add(Violation(
            "segment-over-target",
            f"segment {segment.uri} plays {seconds:.3f} s ({measured.track}), which rounds "
            f"above the target duration {target}", segment.line))
    extinf = segment.duration
    if extinf is not None and abs(seconds - extinf) > max(_TOLERANCE_SECONDS,
                                                          _TOLERANCE_SHARE * extinf):
        playlist.add(Violation(
            "segment-duration",
            f"segment {segment.uri} plays {seconds:.3f} s ({measured.track}), but its "
            f"EXTINF says {extinf:g} s", segment.line))
