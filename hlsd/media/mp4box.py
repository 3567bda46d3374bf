"""The few things an MP4's moov box says that ffmpeg does not expose: a track's decode
time deltas and composition offsets, one per sample (ISO/IEC 14496-12 8.6.1).

With them a keyframe's presentation time follows from the sample table alone, so
indexing reads the moov and not the media data.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass
from typing import BinaryIO

from hlsd.media.source import Source, open_bytes, source_size

_MAX_MOOV = 64 << 20  # a few hours of samples; a bigger moov is left to ffmpeg alone
_CONTAINERS = frozenset({b"trak", b"mdia", b"minf", b"stbl"})


@dataclass(frozen=True, kw_only=True)
class TrackTiming:
    """Per sample, in decode order: the decode time delta to the next sample (stts)
    and the composition offset (ctts; all zero without one)."""

    deltas: array[int]
    offsets: array[int]

    @property
    def count(self) -> int:
        return len(self.deltas)


def track_timing(source: Source, track_id: int) -> TrackTiming | None:
    """The timing of track `track_id`, or None when the moov can't say (no moov before
    the end, too big, malformed, or a table that disagrees with itself)."""
    with open_bytes(source) as f:
        moov = _read_moov(f, source_size(source))
    if moov is None:
        return None
    try:
        for trak in _boxes(moov, 0, len(moov), b"trak"):
            tables = _track_tables(moov, trak)
            if tables.get(b"tkhd") is not None and _track_id(moov, tables[b"tkhd"]) == track_id:
                return _timing(moov, tables)
    except (struct.error, ValueError):
        return None
    return None


def _read_moov(f: BinaryIO, size: int) -> bytes | None:
    pos = 0
    while pos + 8 <= size:
        f.seek(pos)
        head = f.read(16)
        if len(head) < 8:
            return None
        box_size, box_type = int.from_bytes(head[:4], "big"), head[4:8]
        header = 8
        if box_size == 1:
            if len(head) < 16:
                return None
            box_size, header = int.from_bytes(head[8:16], "big"), 16
        elif box_size == 0:
            box_size = size - pos
        if box_size < header:
            return None
        if box_type == b"moov":
            if box_size > _MAX_MOOV or pos + box_size > size:
                return None
            f.seek(pos + header)
            body = f.read(box_size - header)
            return body if len(body) == box_size - header else None
        pos += box_size
    return None


def _boxes(data: bytes, start: int, end: int, wanted: bytes | None = None
           ) -> list[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the boxes in data[start:end]."""
    found = []
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError("malformed box")
        if wanted is None or kind == wanted:
            found.append((kind, pos + header, pos + size))
        pos += size
    return found


def _track_tables(data: bytes, trak: tuple[bytes, int, int]) -> dict[bytes, tuple[int, int]]:
    """The leaf boxes of a trak that matter here, by type (first of each)."""
    tables: dict[bytes, tuple[int, int]] = {}
    stack = [trak]
    while stack:
        _, start, end = stack.pop()
        for box in _boxes(data, start, end):
            if box[0] in _CONTAINERS:
                stack.append(box)
            elif box[0] in (b"tkhd", b"stts", b"ctts", b"stsz", b"stz2"):
                tables.setdefault(box[0], (box[1], box[2]))
    return tables


def _track_id(data: bytes, tkhd: tuple[int, int]) -> int:
    start = tkhd[0]
    version = data[start]
    track_id: int = struct.unpack_from(">I", data, start + (20 if version == 1 else 12))[0]
    return track_id


def _sample_count(data: bytes, tables: dict[bytes, tuple[int, int]]) -> int:
    if b"stsz" in tables:
        count: int = struct.unpack_from(">I", data, tables[b"stsz"][0] + 8)[0]
        return count
    if b"stz2" in tables:
        count = struct.unpack_from(">I", data, tables[b"stz2"][0] + 8)[0]
        return count
    raise ValueError("no sample sizes")


def _runs(data: bytes, box: tuple[int, int], signed: bool, total: int) -> array[int]:
    """A (count, value) run table expanded to one value per sample."""
    start, end = box
    (entries,) = struct.unpack_from(">I", data, start + 4)
    if start + 8 + 8 * entries > end:
        raise ValueError("truncated table")
    # ffmpeg reads ctts offsets as signed whatever the box version says: so do we
    pairs = struct.unpack_from(f">{2 * entries}{'i' if signed else 'I'}", data, start + 8)
    values = array("q")
    for i in range(0, len(pairs), 2):
        count = pairs[i] & 0xFFFFFFFF if signed else pairs[i]
        if len(values) + count > total:
            raise ValueError("table longer than the track")
        values.extend([pairs[i + 1]] * count)
    return values


def _timing(data: bytes, tables: dict[bytes, tuple[int, int]]) -> TrackTiming | None:
    if b"stts" not in tables:
        return None
    count = _sample_count(data, tables)
    deltas = _runs(data, tables[b"stts"], False, count)
    if b"ctts" in tables:
        offsets = _runs(data, tables[b"ctts"], True, count)
    else:
        offsets = array("q", bytes(8 * count))
    if len(deltas) != count or len(offsets) != count:
        return None
    return TrackTiming(deltas=deltas, offsets=offsets)
