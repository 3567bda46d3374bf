"""Reading fMP4 fragments back in tests: each moof's tracks, their tfdt and samples
(ISO/IEC 14496-12 8.8), written independently of hlsd's box writer."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field


@dataclass
class TrackRun:
    track_id: int
    tfdt: int
    durations: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.tfdt + sum(self.durations)

    def sync(self, index: int) -> bool:
        return not self.flags[index] & 0x00010000


@dataclass
class Fragment:
    sequence: int
    runs: dict[int, TrackRun]
    mdat_size: int


def boxes(data: bytes, start: int = 0, end: int | None = None
          ) -> list[tuple[bytes, int, int]]:
    """(type, start, end) of the boxes in data[start:end]."""
    end = len(data) if end is None else end
    found = []
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size == 1:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
        assert size >= 8 and pos + size <= end, f"box {kind!r} at {pos} overruns"
        found.append((kind, pos, pos + size))
        pos += size
    assert pos == end, "trailing bytes after the last box"
    return found


def fragments(data: bytes) -> list[Fragment]:
    """Every moof + mdat pair in `data` (moof/mdat only)."""
    found: list[Fragment] = []
    top = boxes(data)
    for i, (kind, start, end) in enumerate(top):
        if kind == b"mdat":
            continue
        assert kind == b"moof", f"unexpected top-level box {kind!r}"
        assert top[i + 1][0] == b"mdat", "a moof without its mdat"
        mdat = top[i + 1]
        sequence = 0
        runs: dict[int, TrackRun] = {}
        for child, s, e in boxes(data, start + 8, end):
            if child == b"mfhd":
                sequence = struct.unpack_from(">I", data, s + 12)[0]
            elif child == b"traf":
                run = _traf(data, s + 8, e, moof_start=start, mdat=mdat)
                runs[run.track_id] = run
        found.append(Fragment(sequence=sequence, runs=runs, mdat_size=mdat[2] - mdat[1] - 8))
    return found


def _traf(data: bytes, start: int, end: int, *, moof_start: int,
          mdat: tuple[bytes, int, int]) -> TrackRun:
    run: TrackRun | None = None
    track_id = tfdt = 0
    for kind, s, e in boxes(data, start, end):
        version_flags = struct.unpack_from(">I", data, s + 8)[0]
        version, flags = version_flags >> 24, version_flags & 0xFFFFFF
        if kind == b"tfhd":
            track_id = struct.unpack_from(">I", data, s + 12)[0]
            assert flags & 0x020000, "tfhd without default-base-is-moof"
        elif kind == b"tfdt":
            tfdt = struct.unpack_from(">Q" if version else ">I", data, s + 12)[0]
        elif kind == b"trun":
            run = TrackRun(track_id=track_id, tfdt=tfdt)
            count = struct.unpack_from(">I", data, s + 12)[0]
            at = s + 16
            offset = None
            if flags & 0x1:
                offset = struct.unpack_from(">i", data, at)[0]
                at += 4
            if flags & 0x4:
                at += 4
            for _ in range(count):
                for bit, target in ((0x100, run.durations), (0x200, run.sizes),
                                    (0x400, run.flags), (0x800, run.offsets)):
                    if flags & bit:
                        signed = bit == 0x800 and version == 1
                        target.append(struct.unpack_from(">i" if signed else ">I", data, at)[0])
                        at += 4
            assert at == e, "trun size does not match its samples"
            assert offset is not None
            data_start = moof_start + offset
            assert mdat[1] + 8 <= data_start and data_start + sum(run.sizes) <= mdat[2]
    assert run is not None, "a traf without a trun"
    return run
