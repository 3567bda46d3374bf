"""The edge's segment cache: every segment its hub commits, kept whole on disk with its
metadata, bounded by bytes and by age (the oldest go first), and found again after a
restart. It is what a recording started on the control reaches back into, and what is
resent after a dropped link.

Each segment is two files in the cache folder, ``<cid>.seg`` (the bytes) and
``<cid>.json`` (its `CachedSegment`), each written atomically, the metadata last: a
crash leaves at most a ``.seg`` without its ``.json``, which the next load removes. An
fMP4 init section is kept once per content (``init-<id>.mp4`` and its ``.json``), named
by a hash of its bytes, for as long as a cached segment needs it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from hlsd.infra.atomic import write_atomically
from hlsd.streams.segment import InitSegment, Segment, media_type

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CachedSegment:
    """One cached segment: what the link's media frame needs besides the bytes."""

    cid: int
    """Its number in the cache: the order the edge took segments in (never reused)."""
    stream: str
    variant: str
    name: str
    sequence: int
    start: datetime
    """Its PROGRAM-DATE-TIME."""
    duration: float
    discontinuity: bool
    content_type: str
    init: str | None
    """The id of its init section (fMP4), kept in the cache with it."""
    size: int
    cached_at: float
    """Wall-clock seconds it was cached at (the age bound counts from here)."""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["start"] = self.start.isoformat()
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> CachedSegment:
        return cls(**{**raw, "start": datetime.fromisoformat(raw["start"])})


@dataclass(frozen=True, slots=True)
class CachedInit:
    init_id: str
    stream: str
    variant: str
    content_type: str


def init_id(init: InitSegment) -> str:
    return hashlib.sha256(init.data).hexdigest()[:32]


MAX_SEGMENTS = 1 << 16
"""Segments held at most, whatever their size (a folder of tiny files stays listable)."""


class SegmentCache:
    name = "edge-segments"
    """Its name in `/metrics` (``hlsd_cache_*{cache="edge-segments"}``)."""

    def __init__(self, folder: Path, *, max_bytes: int, max_age: float,
                 clock: Callable[[], float] = time.time,
                 max_entries: int = MAX_SEGMENTS) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.max_age = max_age
        self._clock = clock
        self._segments: dict[int, CachedSegment] = {}
        """By cid, oldest first (cids only grow)."""
        self._names: dict[tuple[str, str, str], int] = {}
        self._inits: dict[str, CachedInit] = {}
        self._next = 1
        self.bytes = 0
        self.evicted = 0
        """Segments evicted so far (by any bound)."""

    # -- loading -------------------------------------------------------------------------

    def load(self) -> None:
        """Read what the folder holds (blocking): debris of a crash goes."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for debris in self.folder.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                debris.unlink()
        for meta in sorted(self.folder.glob("*.json")):
            try:
                raw = json.loads(meta.read_bytes())
                if meta.stem.startswith("init-"):
                    init = CachedInit(**raw)
                    self._inits[init.init_id] = init
                    continue
                segment = CachedSegment.from_json(raw)
                if not self._data(segment.cid).is_file():
                    raise ValueError("its bytes are missing")
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.warning("edge cache: %s dropped (%s)", meta.name, exc)
                with contextlib.suppress(OSError):
                    meta.unlink()
                continue
            self._add(segment)
        self._segments = dict(sorted(self._segments.items()))
        known = {f"{cid}" for cid in self._segments}
        for data in self.folder.glob("*.seg"):
            if data.stem not in known:
                with contextlib.suppress(OSError):
                    data.unlink()
        self._drop_unused_inits()
        self.evict()
        if self._segments:
            log.info("edge cache: %d segments (%d bytes) found in %s", len(self._segments),
                     self.bytes, self.folder)

    # -- adding --------------------------------------------------------------------------

    def has(self, stream: str, variant: str, name: str) -> bool:
        return (stream, variant, name) in self._names

    def put(self, stream: str, variant: str, segment: Segment, data: bytes) -> CachedSegment:
        """Cache `segment` of `stream` (blocking: the writes are durable). The caller
        checks `has` first; the one writer is the edge's watch task."""
        init = None
        if segment.init is not None:
            init = init_id(segment.init)
            if init not in self._inits:
                cached = CachedInit(init, stream, variant, media_type(segment.init.name,
                                                                      "video/mp4"))
                write_atomically(self._init_data(init), segment.init.data)
                write_atomically(self.folder / f"init-{init}.json",
                                 json.dumps(asdict(cached)).encode())
                self._inits[init] = cached
        entry = CachedSegment(
            cid=self._next, stream=stream, variant=variant, name=segment.name,
            sequence=segment.sequence, start=segment.program_date_time,
            duration=segment.duration, discontinuity=segment.discontinuity,
            content_type=media_type(segment.name, "video/mp2t"), init=init,
            size=len(data), cached_at=self._clock())
        write_atomically(self._data(entry.cid), data)
        write_atomically(self.folder / f"{entry.cid}.json",
                         json.dumps(entry.to_json()).encode())
        self._add(entry)
        self.evict()
        return entry

    def _add(self, segment: CachedSegment) -> None:
        self._segments[segment.cid] = segment
        self._names[(segment.stream, segment.variant, segment.name)] = segment.cid
        self.bytes += segment.size
        self._next = max(self._next, segment.cid + 1)

    @property
    def evictions(self) -> int:
        return self.evicted

    # -- bounds ----------------------------------------------------------------------------

    def evict(self) -> int:
        """Drop the oldest segments past either bound (blocking: files are removed);
        how many went."""
        cutoff = self._clock() - self.max_age
        gone = 0
        while self._segments:
            oldest = next(iter(self._segments.values()))
            if self.bytes <= self.max_bytes and oldest.cached_at >= cutoff \
                    and len(self._segments) <= self.max_entries:
                break
            self._remove(oldest)
            gone += 1
        if gone:
            self.evicted += gone
            self._drop_unused_inits()
        return gone

    def _remove(self, segment: CachedSegment) -> None:
        del self._segments[segment.cid]
        self._names.pop((segment.stream, segment.variant, segment.name), None)
        self.bytes -= segment.size
        for path in (self.folder / f"{segment.cid}.json", self._data(segment.cid)):
            with contextlib.suppress(OSError):
                path.unlink()

    def _drop_unused_inits(self) -> None:
        used = {s.init for s in self._segments.values()}
        for init in [i for i in self._inits if i not in used]:
            del self._inits[init]
            for path in (self.folder / f"init-{init}.json", self._init_data(init)):
                with contextlib.suppress(OSError):
                    path.unlink()

    # -- reading ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._segments)

    def __iter__(self) -> Iterator[CachedSegment]:
        """Every cached segment, oldest first."""
        return iter(list(self._segments.values()))

    def get(self, cid: int) -> CachedSegment | None:
        return self._segments.get(cid)

    def streams(self) -> list[str]:
        return sorted({s.stream for s in self._segments.values()})

    def read(self, cid: int) -> bytes:
        """A segment's bytes (blocking); `FileNotFoundError` once evicted."""
        return self._data(cid).read_bytes()

    def init(self, init: str) -> tuple[CachedInit, bytes] | None:
        """An init section and its bytes (blocking), while a segment needs it."""
        cached = self._inits.get(init)
        if cached is None:
            return None
        try:
            return cached, self._init_data(init).read_bytes()
        except OSError:
            return None

    def _data(self, cid: int) -> Path:
        return self.folder / f"{cid}.seg"

    def _init_data(self, init: str) -> Path:
        return self.folder / f"init-{init}.mp4"
