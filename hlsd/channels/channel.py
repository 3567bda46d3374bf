"""A channel as stored (`ChannelSpec`) and as played (`Channel`): pure, no I/O.

URIs, relative to ``/live/{channel}/``: the master at ``index.m3u8``, variant ``N``'s
playlist at ``N/index.m3u8``, and its segments at ``N/<clip key>/<tick>/<index>.ts``:
segment `index` of a program (or a slate stretch) whose clip goes on air at `tick`, in
90 kHz units modulo 2^33. hlsd serves every segment moved to that air time, so the
timestamps run on across clips and loops, and a URI names the same bytes on every node.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hlsd.channels.ladder import Rung, variant_map
from hlsd.channels.program import Program
from hlsd.channels.schedule import Revision, lay_out, slate_part
from hlsd.channels.timeline import Slot, Timeline, Window
from hlsd.hls import (
    MasterPlaylist,
    MediaPlaylist,
    MediaSegment,
    Rendered,
    VariantStream,
    render_master,
    render_media,
    rendered,
)

__all__ = ["Channel", "ChannelSpec", "Served", "Slate", "Unknown", "air_tick"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MASTER = "index.m3u8"


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelSpec:
    """Everything a channel's playlists are computed from; stored as one JSON document."""

    name: str
    created_us: int
    target_duration: int
    window_us: int
    ladder: tuple[Rung, ...]
    revisions: tuple[Revision, ...]
    programs: Mapping[str, Program]
    version: int = 0
    """Bumped by every stored change (compare-and-set between nodes)."""

    @property
    def slate_segment_frames(self) -> int:
        # Fixed by the target duration, which never changes: slate URIs depend on it.
        return 25 * min(self.target_duration, 6)

    def to_json(self) -> dict[str, Any]:
        return {"created_us": self.created_us, "target_duration": self.target_duration,
                "window_us": self.window_us, "ladder": [r.to_json() for r in self.ladder],
                "revisions": [r.to_json() for r in self.revisions],
                "programs": {k: p.to_json() for k, p in sorted(self.programs.items())}}

    @classmethod
    def from_json(cls, name: str, version: int, data: Mapping[str, Any]) -> ChannelSpec:
        return cls(name=name, version=version, created_us=data["created_us"],
                   target_duration=data["target_duration"], window_us=data["window_us"],
                   ladder=tuple(Rung.from_json(r) for r in data["ladder"]),
                   revisions=tuple(Revision.from_json(r) for r in data["revisions"]),
                   programs={k: Program.from_json(p) for k, p in data["programs"].items()})

    def timeline(self) -> Timeline:
        plans = [lay_out(r, self.programs, slate_segment_frames=self.slate_segment_frames)
                 for r in self.revisions]
        return Timeline(plans, window_us=self.window_us)


_WRAP = 1 << 33


def air_tick(us: int) -> int:
    """An instant as an MPEG-TS timestamp: 90 kHz units, modulo 2^33."""
    return (us * 9 // 100) % _WRAP


@dataclass(frozen=True, kw_only=True, slots=True)
class Served:
    """A program's segment, to be served moved to its air time (`tick` is its clip's)."""

    program: Program
    variant: int
    """Which of the program's variants."""
    rung: Rung
    index: int
    uri: str
    duration_us: int
    offset_us: int
    """Where it starts in its program: a slate standing in for it starts there too."""
    tick: int
    clip_us: int
    """How long its clip lasts: nothing of it may sound past that."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Slate:
    rung: Rung
    frames: int
    offset_frames: int
    tick: int
    clip_us: int


class Unknown(LookupError):
    """No such variant or segment in this channel."""


@dataclass(eq=False)
class Channel:
    """A spec compiled for playback. Playlists are rendered once per window change."""

    spec: ChannelSpec
    timeline: Timeline = field(init=False)
    _maps: dict[str, tuple[int, ...]] = field(init=False, default_factory=dict)
    _master: Rendered = field(init=False)
    _rendered: dict[int, tuple[int, Rendered]] = field(
        init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.timeline = self.spec.timeline()
        self._maps = {key: variant_map(p, self.spec.ladder)
                      for key, p in self.spec.programs.items()}
        self._master = rendered(render_master(MasterPlaylist(
            variants=tuple(VariantStream(
                uri=f"{n}/{MASTER}", bandwidth=r.bandwidth,
                average_bandwidth=r.average_bandwidth, codecs=r.codecs,
                resolution=r.resolution, frame_rate=r.frame_rate)
                for n, r in enumerate(self.spec.ladder)),
            independent_segments=True)))

    def master(self) -> Rendered:
        return self._master

    def media(self, variant: int, now_us: int) -> Rendered | None:
        """Variant `variant`'s live playlist at `now_us`; None before anything aired.
        Per request this finds the segment on air (two bisections); the window is laid
        out and rendered only when a segment has finished airing since."""
        if not 0 <= variant < len(self.spec.ladder):
            raise Unknown(f"no variant {variant}")
        airing = self.timeline.on_air(now_us)
        if airing is None:
            return None
        last = airing.msn - 1
        cached = self._rendered.get(variant)
        if cached is not None and cached[0] == last:
            return cached[1]
        window = self.timeline.window_through(last)
        if window is None:
            return None
        playlist = rendered(render_media(self._model(variant, window)))
        self._rendered[variant] = (last, playlist)
        return playlist

    def _model(self, variant: int, window: Window) -> MediaPlaylist:
        segments = []
        for slot in window.slots:
            key = slot.clip.key
            program = self.spec.programs.get(key)
            duration_us = slot.duration_us if program is None else \
                program.variants[self._maps[key][variant]].durations_us[slot.index]
            segments.append(MediaSegment(
                uri=f"{key}/{air_tick(slot.start_us - slot.offset_us)}/{slot.index}.ts",
                duration=duration_us / 1_000_000,
                discontinuity=slot.discontinuity,
                program_date_time=_EPOCH + timedelta(microseconds=slot.start_us)))
        return MediaPlaylist(
            target_duration=self.spec.target_duration, segments=tuple(segments),
            media_sequence=window.media_sequence,
            discontinuity_sequence=window.discontinuity_sequence,
            independent_segments=True)

    def segment(self, variant: int, key: str, tick: int, index: int,
                now_us: int) -> Served | Slate:
        """What ``<variant>/<key>/<tick>/<index>.ts`` is, if it is in a playlist now or
        still available after leaving one (RFC 8216 §6.2.2); `Unknown` otherwise."""
        if not 0 <= variant < len(self.spec.ladder):
            raise Unknown(f"no variant {variant}")
        slot = self._find(key, tick, index, now_us)
        if slot is None:
            raise Unknown("no such segment (or no longer available)")
        rung = self.spec.ladder[variant]
        program = self.spec.programs.get(key)
        if program is None:
            frames, offset = slate_part(key, index,
                                        segment_frames=self.spec.slate_segment_frames)
            return Slate(rung=rung, frames=frames, offset_frames=offset, tick=tick,
                         clip_us=slot.clip.duration_us)
        chosen = self._maps[key][variant]
        source = program.variants[chosen]
        return Served(program=program, variant=chosen, rung=rung, index=index,
                      uri=source.uris[index],
                      duration_us=source.durations_us[index], offset_us=slot.offset_us,
                      tick=tick, clip_us=sum(source.durations_us))

    def cache_key(self, variant: int, key: str, tick: int, index: int) -> str:
        """What a served segment is cached under: its URI, qualified by this channel's
        making (a channel deleted and made again under its name is another)."""
        return f"{self.spec.name}@{self.spec.created_us}/{variant}/{key}/{tick}/{index}.ts"

    def _find(self, key: str, tick: int, index: int, now_us: int) -> Slot | None:
        """The slot a segment URI names, among those a player may still ask for: the
        window, what left it less than a window ago, and the next one (a node whose
        clock runs ahead)."""
        airing = self.timeline.on_air(now_us)
        if airing is None:
            return None
        floor = now_us - 2 * self.spec.window_us - self.spec.target_duration * 1_000_000
        first = self.timeline.plans[0].base_msn
        msn = airing.msn + 1
        while msn >= first:
            slot = self.timeline.slot(msn)
            if slot.start_us + slot.duration_us < floor:
                return None
            if (slot.index == index and slot.clip.key == key
                    and air_tick(slot.start_us - slot.offset_us) == tick):
                return slot
            msn -= 1
        return None
