"""The names a push may use: stream ids, and paths within a stream (a file, or a
variant folder and a file), and the values a pushed playlist may hold."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hlsd.hls import MediaPlaylist
from hlsd.infra.logs import clip
from hlsd.ingest.errors import MalformedPush
from hlsd.streams.segment import MAX_SEGMENT_DURATION, duration_problem

STREAM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.~-]{0,127}$")
_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.~-]{0,127}$")
_MAX_DEPTH = 2


def validate_stream_id(stream: str) -> str:
    if not STREAM_ID.fullmatch(stream) or ".." in stream:
        raise MalformedPush("stream ids are 1-128 characters of A-Z a-z 0-9 _ . ~ -")
    return stream


def validate_path(path: str) -> str:
    parts = path.split("/")
    if len(parts) > _MAX_DEPTH or not all(_PART.fullmatch(p) and ".." not in p for p in parts):
        raise MalformedPush(f"invalid ingest path {clip(path)!r}: at most {_MAX_DEPTH} "
                            "parts of 1-128 characters of A-Z a-z 0-9 _ . ~ -")
    return path


_FIRST_PDT = datetime(1970, 1, 1, tzinfo=UTC)
_LAST_PDT = datetime(9999, 1, 1, tzinfo=UTC)
"""A pushed PROGRAM-DATE-TIME is taken between these: anything else is a broken clock,
and times past the last would overflow once the window's arithmetic adds to them."""


def out_of_bounds(playlist: MediaPlaylist) -> str | None:
    """What in a pushed playlist is past the live bounds, or None."""
    if playlist.target_duration > MAX_SEGMENT_DURATION:
        return (f"EXT-X-TARGETDURATION {playlist.target_duration} is more than "
                f"{MAX_SEGMENT_DURATION:.0f}")
    for seg in playlist.segments:
        if (problem := duration_problem(seg.duration)) is not None:
            return f"EXTINF of {clip(seg.uri)}: a segment's duration {problem}"
        pdt = seg.program_date_time
        if pdt is not None and not _FIRST_PDT <= pdt < _LAST_PDT:
            return (f"EXT-X-PROGRAM-DATE-TIME of {clip(seg.uri)} is not between "
                    f"{_FIRST_PDT.year} and {_LAST_PDT.year}")
    return None
