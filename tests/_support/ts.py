"""A small MPEG-TS packet walker for tests: continuity counters across segments.

It reads the 4-byte header of every 188-byte packet (and the adaptation field's
discontinuity_indicator) as a demuxer does, independently of hlsd's own code.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = ["TsPacket", "continuity_errors", "counters", "packets"]

PACKET = 188
NULL_PID = 0x1FFF


@dataclass(frozen=True, slots=True)
class TsPacket:
    pid: int
    payload: bool
    counter: int
    discontinuity: bool  # the adaptation field's discontinuity_indicator


def packets(data: bytes) -> Iterator[TsPacket]:
    if len(data) % PACKET:
        raise ValueError(f"{len(data)} bytes is not a whole number of TS packets")
    for at in range(0, len(data), PACKET):
        header = data[at:at + 6]
        if header[0] != 0x47:
            raise ValueError(f"no sync byte at {at}")
        control = (header[3] >> 4) & 3
        flagged = bool(control & 2 and header[4] > 0 and header[5] & 0x80)
        yield TsPacket(pid=((header[1] & 0x1F) << 8) | header[2], payload=bool(control & 1),
                       counter=header[3] & 0x0F, discontinuity=flagged)


def counters(data: bytes) -> dict[int, tuple[int, int]]:
    """Each PID's first and last continuity counter in `data`."""
    seen: dict[int, tuple[int, int]] = {}
    for p in packets(data):
        if p.pid != NULL_PID:
            seen[p.pid] = (seen.get(p.pid, (p.counter, 0))[0], p.counter)
    return seen


def continuity_errors(segments: Sequence[bytes]) -> list[str]:
    """Every counter that does not follow its PID's previous packet, reading the
    segments as one stream (ISO/IEC 13818-1 §2.4.3.3: +1 mod 16 per packet with
    payload, unchanged without; a flagged discontinuity is accepted)."""
    last: dict[int, int] = {}
    errors = []
    for n, data in enumerate(segments):
        for p in packets(data):
            if p.pid == NULL_PID:
                continue
            if p.pid in last and not p.discontinuity:
                want = (last[p.pid] + 1) % 16 if p.payload else last[p.pid]
                if p.counter != want:
                    errors.append(f"segment {n} pid {p.pid:#x}: {p.counter}, not {want}")
            last[p.pid] = p.counter
    return errors
