"""A channel's bitrate ladder: the variants every one of its sources carries.

A channel's master playlist never changes while players use it, so the ladder is fixed
when the channel is made: the renditions all of its programs share, matched by
resolution (audio-only programs by rank). An item added later must carry every rung.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hlsd.channels.program import Program, ProgramVariant

__all__ = ["LadderError", "Rung", "shared_ladder", "variant_map"]


class LadderError(ValueError):
    """Programs that share no rendition, or one that lacks a rung of the ladder."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Rung:
    """One variant of a channel's master playlist (EXT-X-STREAM-INF, RFC 8216 §4.3.4.2).

    BANDWIDTH is the highest any program declares for the rung, so it bounds them all.
    """

    bandwidth: int
    average_bandwidth: int | None = None
    codecs: str | None = None
    resolution: tuple[int, int] | None = None
    frame_rate: float | None = None
    audio: bool = True
    rank: int = 0
    """Its place among an audio-only program's variants (how those are matched)."""

    def describe(self) -> str:
        if self.resolution is not None:
            return f"{self.resolution[0]}x{self.resolution[1]}"
        return f"audio #{self.rank + 1}"

    def to_json(self) -> dict[str, Any]:
        return {"bandwidth": self.bandwidth, "average_bandwidth": self.average_bandwidth,
                "codecs": self.codecs,
                "resolution": list(self.resolution) if self.resolution else None,
                "frame_rate": self.frame_rate, "audio": self.audio, "rank": self.rank}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rung:
        resolution = data["resolution"]
        return cls(bandwidth=data["bandwidth"], average_bandwidth=data["average_bandwidth"],
                   codecs=data["codecs"],
                   resolution=(resolution[0], resolution[1]) if resolution else None,
                   frame_rate=data["frame_rate"], audio=data["audio"], rank=data["rank"])


def _match_key(variant: ProgramVariant, rank: int) -> Hashable:
    return variant.resolution if variant.resolution is not None else ("audio", rank)


def _keyed(program: Program) -> dict[Hashable, ProgramVariant]:
    """The program's variants by match key; of two at one resolution, the higher."""
    keyed: dict[Hashable, ProgramVariant] = {}
    for rank, variant in enumerate(program.variants):
        keyed.setdefault(_match_key(variant, rank), variant)
    return keyed


def shared_ladder(programs: Sequence[Program]) -> tuple[Rung, ...]:
    """The rungs every program carries, highest bandwidth first."""
    if not programs:
        raise LadderError("a channel needs at least one source")
    keyed = [_keyed(p) for p in programs]
    shared = [k for k in keyed[0] if all(k in other for other in keyed[1:])]
    if not shared:
        raise LadderError("the sources share no rendition (neither a resolution nor "
                          "audio-only variants): a channel plays one ladder throughout")
    rungs = []
    for key in shared:
        first = keyed[0][key]
        rungs.append(Rung(
            bandwidth=max(k[key].bandwidth for k in keyed),
            average_bandwidth=first.average_bandwidth, codecs=first.codecs,
            resolution=first.resolution, frame_rate=first.frame_rate,
            audio=first.has_audio,
            rank=key[1] if isinstance(key, tuple) and key[0] == "audio" else 0))
    return tuple(sorted(rungs, key=lambda r: -r.bandwidth))


def variant_map(program: Program, ladder: Sequence[Rung]) -> tuple[int, ...]:
    """For each rung, the index of the program's variant that plays it."""
    indexes: dict[Hashable, int] = {}
    for rank, variant in enumerate(program.variants):
        indexes.setdefault(_match_key(variant, rank), rank)
    found = []
    for rung in ladder:
        key: Hashable = rung.resolution if rung.resolution is not None else ("audio", rung.rank)
        if key not in indexes:
            raise LadderError(
                f"{program.kind.value} {program.ref!r} has no {rung.describe()} variant; "
                f"every item must carry the channel's: "
                + ", ".join(r.describe() for r in ladder))
        found.append(indexes[key])
    return tuple(found)
