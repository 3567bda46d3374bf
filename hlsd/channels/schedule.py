"""A channel's schedule, its revisions, and how a revision is laid out in time.

A schedule either loops its items in order (one item loops that item) or places them
at wall-clock times with a filler in the gaps. Every change is a new `Revision` that
takes over at a boundary in the future, carrying the sequence numbers on: what players
have already seen never changes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hlsd.channels.program import Program, SourceKind, source_key
from hlsd.channels.timeline import Clip, Plan

__all__ = ["SLATE_PREFIX", "Item", "Mode", "Revision", "ScheduleError", "Source", "lay_out",
           "slate_clip", "slate_part"]

SLATE_PREFIX = "slate-"
"""Clip keys of slate stretches: ``slate-<frames>``."""
_FRAME_US = 40_000
"""Slate is made of whole 25 fps frames, so gaps are measured in them."""
_TAIL_FRAMES = 25 * 60
"""After a timed schedule's last item, slate repeats in stretches of a minute."""


class ScheduleError(ValueError):
    """A schedule that cannot be laid out (overlapping items, a missing program)."""


class Mode(enum.Enum):
    LOOP = "loop"
    """Play the items in order, then again from the first, forever."""
    TIMED = "timed"
    """Play each item at its `start`; the filler plays in between and after the last."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Source:
    kind: SourceKind
    ref: str

    @property
    def key(self) -> str:
        return source_key(self.kind, self.ref)

    def to_json(self) -> dict[str, str]:
        return {self.kind.value: self.ref}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Source:
        if len(data) != 1:
            raise ValueError("a source is one of {\"url\"}, {\"library\"} or {\"upstream\"}")
        ((kind, ref),) = data.items()
        if not isinstance(ref, str) or not ref:
            raise ValueError(f"source {kind!r} needs a non-empty string")
        return cls(kind=SourceKind(kind), ref=ref)


@dataclass(frozen=True, kw_only=True, slots=True)
class Item:
    id: str
    source: Source
    start_us: int | None = None
    """Its air time, in a timed schedule."""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source.to_json(), "start_us": self.start_us}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Item:
        return cls(id=data["id"], source=Source.from_json(data["source"]),
                   start_us=data.get("start_us"))


@dataclass(frozen=True, kw_only=True, slots=True)
class Revision:
    """A schedule and where it takes over: at `effective_us`, numbered from
    `base_msn` / `base_dsn`, starting (in a loop) with item `start_item`."""

    effective_us: int
    base_msn: int = 0
    base_dsn: int = 0
    opening_discontinuity: bool = True
    mode: Mode
    items: tuple[Item, ...]
    filler: Source | None = None
    """Plays in a timed schedule's gaps (whole, as often as it fits); None is slate."""
    start_item: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"effective_us": self.effective_us, "base_msn": self.base_msn,
                "base_dsn": self.base_dsn, "opening_discontinuity": self.opening_discontinuity,
                "mode": self.mode.value, "items": [i.to_json() for i in self.items],
                "filler": self.filler.to_json() if self.filler else None,
                "start_item": self.start_item}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Revision:
        return cls(effective_us=data["effective_us"], base_msn=data["base_msn"],
                   base_dsn=data["base_dsn"],
                   opening_discontinuity=data["opening_discontinuity"],
                   mode=Mode(data["mode"]),
                   items=tuple(Item.from_json(i) for i in data["items"]),
                   filler=Source.from_json(data["filler"]) if data["filler"] else None,
                   start_item=data["start_item"])

    def sources(self) -> set[Source]:
        found = {item.source for item in self.items}
        if self.filler is not None:
            found.add(self.filler)
        return found


def slate_clip(frames: int, *, segment_frames: int) -> Clip:
    """`frames` of slate cut into near-equal segments of at most `segment_frames`."""
    count = -(-frames // segment_frames)
    return Clip(key=f"{SLATE_PREFIX}{frames}",
                durations_us=tuple(f * _FRAME_US for f in _split(frames, count)))


def slate_part(key: str, index: int, *, segment_frames: int) -> tuple[int, int]:
    """(frames, offset in frames) of segment `index` of slate clip `key`; ValueError
    for a name no slate clip has."""
    frames = int(key.removeprefix(SLATE_PREFIX)) if key.startswith(SLATE_PREFIX) else 0
    if frames <= 0:
        raise ValueError(f"no slate {key!r}")
    parts = _split(frames, -(-frames // segment_frames))
    if not 0 <= index < len(parts):
        raise ValueError(f"slate {key!r} has no segment {index}")
    return parts[index], sum(parts[:index])


def _split(frames: int, count: int) -> list[int]:
    base, extra = divmod(frames, count)
    return [base + (1 if i < extra else 0) for i in range(count)]


def lay_out(revision: Revision, programs: Mapping[str, Program], *,
            slate_segment_frames: int) -> Plan:
    """The plan of `revision`; ScheduleError when an item's program is missing, or timed
    items overlap."""
    def clip(source: Source, item: str | None) -> Clip:
        program = programs.get(source.key)
        if program is None:
            raise ScheduleError(f"no program for {source.kind.value} {source.ref!r}")
        return Clip(key=program.key, durations_us=program.durations_us, item=item)

    def plan(prefix: tuple[Clip, ...], cycle: tuple[Clip, ...]) -> Plan:
        return Plan(start_us=revision.effective_us, base_msn=revision.base_msn,
                    base_dsn=revision.base_dsn,
                    opening_discontinuity=revision.opening_discontinuity,
                    prefix=prefix, cycle=cycle)

    if revision.mode is Mode.LOOP:
        if not revision.items:
            raise ScheduleError("a looping schedule needs at least one item")
        ids = [item.id for item in revision.items]
        first = ids.index(revision.start_item) if revision.start_item in ids else 0
        ordered = (*revision.items[first:], *revision.items[:first])
        return plan((), tuple(clip(i.source, i.id) for i in ordered))

    filler = clip(revision.filler, None) if revision.filler is not None else None
    prefix: list[Clip] = []
    cursor = revision.effective_us
    for item in sorted(revision.items, key=lambda i: i.start_us or 0):
        assert item.start_us is not None
        if item.start_us < cursor - _FRAME_US // 2:
            if item.start_us < revision.effective_us:
                continue  # its time had passed when this revision took over
            raise ScheduleError(f"item {item.id} starts before the item ahead of it ends")
        while filler is not None and item.start_us - cursor >= filler.duration_us:
            prefix.append(filler)
            cursor += filler.duration_us
        gap = round((item.start_us - cursor) / _FRAME_US)
        if gap > 0:
            prefix.append(slate_clip(gap, segment_frames=slate_segment_frames))
            cursor += gap * _FRAME_US
        played = clip(item.source, item.id)
        prefix.append(played)
        cursor += played.duration_us
    tail = filler or slate_clip(_TAIL_FRAMES, segment_frames=slate_segment_frames)
    return plan(tuple(prefix), (tail,))
