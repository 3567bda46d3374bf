"""A `StreamSnapshot` on the wire between worker processes: a JSON-serialisable header
and the byte blobs it names by index (segments, the open segment's parts, init
sections), so the media goes as it is, never through JSON.

Times are ISO 8601 with their offset, durations and clock readings floats. A rendition
lists its distinct init sections once (``init_sections``) and refers to them by index,
so those its segments shared are one object again once read (a playlist names a
segment's EXT-X-MAP where its section is not the one before's). A closed segment's parts
carry their sizes: their bytes are the segment's, in order.

`snapshot_from_wire` trusts nothing it reads: peers are our own workers, but a header
that is not what `snapshot_to_wire` makes (a wrong type, an index out of range, sizes
that do not add up) is a `ValueError`, never a broken stream.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hlsd.streams.rendition import RenditionInfo
from hlsd.streams.segment import InitSegment, Part, Segment, duration_problem, viewing
from hlsd.streams.snapshot import OpenSegmentSnapshot, RenditionSnapshot, StreamSnapshot
from hlsd.streams.stream import PublisherKind

__all__ = ["WIRE_VERSION", "snapshot_from_wire", "snapshot_to_wire"]

WIRE_VERSION = 1
"""The header's layout: a worker refuses a snapshot of another."""


# -- writing --------------------------------------------------------------------------


def snapshot_to_wire(snapshot: StreamSnapshot) -> tuple[dict[str, Any], list[bytes]]:
    """`snapshot` as a JSON-serialisable header and the blobs it names by index."""
    blobs: list[bytes] = []
    header = {
        "version": WIRE_VERSION, "name": snapshot.name, "publisher": snapshot.publisher,
        "kind": snapshot.kind.value, "session": snapshot.session, "ended": snapshot.ended,
        "last_activity": float(snapshot.last_activity),
        "ended_at": _float_or_none(snapshot.ended_at),
        "renditions": [_RenditionWriter(blobs).write(r) for r in snapshot.renditions],
    }
    return header, blobs


class _RenditionWriter:
    def __init__(self, blobs: list[bytes]) -> None:
        self._blobs = blobs
        self._sections: list[dict[str, Any]] = []
        self._indexes: dict[int, int] = {}
        """id() of an init section → its index: the same object, the same index."""

    def write(self, r: RenditionSnapshot) -> dict[str, Any]:
        info = r.info
        opened = r.opened
        out: dict[str, Any] = {
            "name": r.name, "session": r.session,
            "info": {"bandwidth": info.bandwidth, "average_bandwidth": info.average_bandwidth,
                     "codecs": info.codecs,
                     "resolution": list(info.resolution) if info.resolution else None,
                     "frame_rate": _float_or_none(info.frame_rate)},
            "target_duration": r.target_duration, "part_target": _float_or_none(r.part_target),
            "ended": r.ended, "updated": _float_or_none(r.updated),
            "next_sequence": r.next_sequence, "next_part": r.next_part,
            "part_extension": r.part_extension,
            "discontinuity_pending": r.discontinuity_pending,
            "keyframe_awaited": r.keyframe_awaited, "media_sequence": r.media_sequence,
            "discontinuity_sequence": r.discontinuity_sequence,
            "init": self._init(r.init), "kept_inits": [self._init(i) for i in r.inits],
            "segments": [self._segment(s) for s in r.segments],
            "opened": None if opened is None else {
                "sequence": opened.sequence, "name": opened.name,
                "program_date_time": _time(opened.program_date_time),
                "discontinuity": opened.discontinuity, "init": self._init(opened.init),
                "parts": [{"number": p.number, "name": p.name, "duration": float(p.duration),
                           "data": self._blob(p.data), "independent": p.independent}
                          for p in opened.parts]},
        }
        out["init_sections"] = self._sections  # complete once everything above is written
        return out

    def _segment(self, s: Segment) -> dict[str, Any]:
        return {"sequence": s.sequence, "name": s.name, "duration": float(s.duration),
                "program_date_time": _time(s.program_date_time), "data": self._blob(s.read()),
                "discontinuity": s.discontinuity, "init": self._init(s.init),
                "parts": [{"number": p.number, "name": p.name, "duration": float(p.duration),
                           "size": p.size, "independent": p.independent} for p in s.parts]}

    def _init(self, init: InitSegment | None) -> int | None:
        if init is None:
            return None
        index = self._indexes.get(id(init))
        if index is None:
            index = self._indexes[id(init)] = len(self._sections)
            self._sections.append({"name": init.name, "data": self._blob(init.data)})
        return index

    def _blob(self, data: bytes | memoryview | None) -> int:
        assert data is not None  # a snapshot holds its bytes
        self._blobs.append(bytes(data))
        return len(self._blobs) - 1


def _time(value: datetime) -> str:
    if value.utcoffset() is None:
        raise ValueError(f"a program date time must be timezone-aware, not {value!r}")
    return value.isoformat()


def _float_or_none(value: float | None) -> float | None:
    return None if value is None else float(value)


# -- reading --------------------------------------------------------------------------


def snapshot_from_wire(header: object, blobs: Sequence[object]) -> StreamSnapshot:
    """The snapshot `snapshot_to_wire` wrote; `ValueError` for anything else."""
    top = _Fields(header, "snapshot")
    if top.integer("version") != WIRE_VERSION:
        raise ValueError(f"snapshot: not of wire version {WIRE_VERSION}")
    checked: list[bytes] = []
    for n, blob in enumerate(blobs):
        if not isinstance(blob, bytes):
            raise ValueError(f"snapshot: blob {n} is not bytes")
        checked.append(blob)
    data = _Blobs(checked)
    renditions = tuple(_read_rendition(top.child_at(item, n, "rendition"), data)
                       for n, item in enumerate(top.items("renditions")))
    names = [r.name for r in renditions]
    if len(set(names)) != len(names):
        raise ValueError("snapshot: a rendition is listed twice")
    return StreamSnapshot(
        name=top.text("name"), publisher=top.text("publisher"),
        kind=_kind(top.text("kind")), session=top.text("session"),
        ended=top.flag("ended"), last_activity=top.number("last_activity"),
        ended_at=top.optional_number("ended_at"), renditions=renditions)


def _kind(value: str) -> PublisherKind:
    try:
        return PublisherKind(value)
    except ValueError:
        raise ValueError(f"snapshot: kind {value!r} is no publisher's kind") from None


class _Inits:
    """A rendition's init sections, each one object however many refer to it."""

    def __init__(self, r: _Fields, data: _Blobs) -> None:
        self._sections = tuple(
            InitSegment(name=fields.text("name"), data=data.take(fields, "data"))
            for fields in (r.child_at(item, n, "init section")
                           for n, item in enumerate(r.items("init_sections"))))

    def at(self, index: int, where: str) -> InitSegment:
        if index >= len(self._sections):
            raise ValueError(f"{where}: init section {index} is not listed")
        return self._sections[index]

    def of(self, fields: _Fields) -> InitSegment | None:
        index = fields.optional_integer("init")
        return None if index is None else self.at(index, f"{fields.where}: init")


def _read_rendition(r: _Fields, data: _Blobs) -> RenditionSnapshot:
    inits = _Inits(r, data)
    kept = tuple(inits.at(_whole(item, f"{r.where}: kept init {n}"), f"{r.where}: kept init")
                 for n, item in enumerate(r.items("kept_inits")))
    segments = tuple(_read_segment(r.child_at(item, n, "segment"), data, inits)
                     for n, item in enumerate(r.items("segments")))
    opened = r.optional_child("opened")
    target = r.optional_integer("target_duration")
    if target is not None and target < 1:
        raise ValueError(f"{r.where}: a target duration is a second at least")
    part_target = r.optional_number("part_target")
    if part_target is not None and part_target <= 0:
        raise ValueError(f"{r.where}: a part target is more than nothing")
    return RenditionSnapshot(
        name=r.text("name"), session=r.text("session"), info=_read_info(r.child("info")),
        target_duration=target, part_target=part_target, ended=r.flag("ended"),
        updated=r.optional_number("updated"), next_sequence=r.integer("next_sequence"),
        next_part=r.integer("next_part"), part_extension=r.text("part_extension"),
        discontinuity_pending=r.flag("discontinuity_pending"),
        keyframe_awaited=r.flag("keyframe_awaited"),
        media_sequence=r.integer("media_sequence"),
        discontinuity_sequence=r.integer("discontinuity_sequence"),
        init=inits.of(r), inits=kept, segments=segments,
        opened=None if opened is None else OpenSegmentSnapshot(
            sequence=opened.integer("sequence"), name=opened.text("name"),
            program_date_time=opened.time("program_date_time"),
            discontinuity=opened.flag("discontinuity"), init=inits.of(opened),
            parts=tuple(_read_open_part(opened.child_at(item, n, "part"), n, data)
                        for n, item in enumerate(opened.items("parts")))))


def _read_info(info: _Fields) -> RenditionInfo:
    resolution = info.optional_items("resolution")
    if resolution is not None and len(resolution) != 2:
        raise ValueError(f"{info.where}: a resolution is two whole numbers")
    return RenditionInfo(
        bandwidth=info.optional_integer("bandwidth"),
        average_bandwidth=info.optional_integer("average_bandwidth"),
        codecs=info.optional_text("codecs"),
        resolution=None if resolution is None else (
            _whole(resolution[0], f"{info.where}: width"),
            _whole(resolution[1], f"{info.where}: height")),
        frame_rate=info.optional_number("frame_rate"))


def _read_segment(s: _Fields, data: _Blobs, inits: _Inits) -> Segment:
    body = data.take(s, "data")
    parts: list[Part] = []
    offset = 0
    for n, item in enumerate(s.items("parts")):
        p = s.child_at(item, n, "part")
        size = p.integer("size")
        parts.append(Part(number=p.integer("number"), index=n, name=p.text("name"),
                          duration=p.duration("duration"), offset=offset, size=size,
                          data=None, independent=p.flag("independent")))
        offset += size
    if parts and offset != len(body):
        raise ValueError(f"{s.where}: its parts' sizes do not add up to its own")
    return Segment(sequence=s.integer("sequence"), name=s.text("name"),
                   duration=s.duration("duration"), size=len(body),
                   program_date_time=s.time("program_date_time"), data=body,
                   discontinuity=s.flag("discontinuity"), init=inits.of(s),
                   parts=viewing(body, parts))


def _read_open_part(p: _Fields, index: int, data: _Blobs) -> Part:
    body = data.take(p, "data")
    # Its offset is the open segment's to give (`OpenSegment.carried` adds it again).
    return Part(number=p.integer("number"), index=index, name=p.text("name"),
                duration=p.duration("duration"), offset=0, size=len(body), data=body,
                independent=p.flag("independent"))


def _whole(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where} is not a whole number, not negative")
    return value


class _Blobs:
    def __init__(self, blobs: Sequence[bytes]) -> None:
        self._blobs = blobs

    def take(self, fields: _Fields, key: str) -> bytes:
        index = fields.integer(key)
        if index >= len(self._blobs):
            raise ValueError(f"{fields.where}: {key}: blob {index} is not there")
        return self._blobs[index]


class _Fields:
    """One JSON object of the header, read field by field with its type checked."""

    def __init__(self, value: object, where: str) -> None:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: not an object")
        self._value: dict[object, object] = value
        self.where = where

    def _get(self, key: str) -> object:
        if key not in self._value:
            raise ValueError(f"{self.where}: {key} is missing")
        return self._value[key]

    def _wrong(self, key: str, what: str) -> ValueError:
        return ValueError(f"{self.where}: {key} is not {what}")

    def integer(self, key: str) -> int:
        """A whole number, not negative (every count and index is)."""
        return _whole(self._get(key), f"{self.where}: {key}")

    def optional_integer(self, key: str) -> int | None:
        return None if self._get(key) is None else self.integer(key)

    def number(self, key: str) -> float:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._wrong(key, "a number")
        try:
            number = float(value)
        except OverflowError:
            raise self._wrong(key, "a finite number") from None
        if not math.isfinite(number):
            raise self._wrong(key, "a finite number")
        return number

    def optional_number(self, key: str) -> float | None:
        return None if self._get(key) is None else self.number(key)

    def duration(self, key: str) -> float:
        value = self.number(key)
        if (problem := duration_problem(value)) is not None:
            raise ValueError(f"{self.where}: {key} {problem}")
        return value

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise self._wrong(key, "a string")
        return value

    def optional_text(self, key: str) -> str | None:
        return None if self._get(key) is None else self.text(key)

    def flag(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            raise self._wrong(key, "true or false")
        return value

    def time(self, key: str) -> datetime:
        text = self.text(key)
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise self._wrong(key, "an ISO 8601 time") from None
        if value.utcoffset() is None:
            raise self._wrong(key, "a time with its offset")
        return value

    def items(self, key: str) -> list[object]:
        value = self._get(key)
        if not isinstance(value, list):
            raise self._wrong(key, "a list")
        return value

    def optional_items(self, key: str) -> list[object] | None:
        return None if self._get(key) is None else self.items(key)

    def child(self, key: str) -> _Fields:
        return _Fields(self._get(key), f"{self.where}: {key}")

    def optional_child(self, key: str) -> _Fields | None:
        return None if self._get(key) is None else self.child(key)

    def child_at(self, value: object, n: int, what: str) -> _Fields:
        return _Fields(value, f"{self.where}: {what} {n}")
