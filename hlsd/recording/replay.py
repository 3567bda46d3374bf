"""Recordings as HLS: playlists built from the committed segment rows, and segment bytes
from the object store with a rolling read-ahead.

A stopped recording is a VOD playlist with ENDLIST; one still recording is an EVENT
playlist that grows (RFC 8216 §4.3.3.5). Playlists are rendered once per change: a
stopped recording's for as long as it is cached, a growing one's until the recorder
commits another segment (or `GROWING_TTL` passes, for recorders in other processes).

URIs: one variant plays at ``index.m3u8`` with its segments beside it; several get a
master at ``index.m3u8`` and ``<position>/index.m3u8`` each. A segment's URI is the last
part of its object key.
"""

from __future__ import annotations

import asyncio
import math
import posixpath
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hlsd.db import NotFound, RecordedSegment, RecordedVariant, Recording, repo
from hlsd.db.repo import Sessions
from hlsd.hls import (
    InitSection,
    MasterPlaylist,
    MediaPlaylist,
    MediaSegment,
    PlaylistType,
    Rendered,
    VariantStream,
    render_master,
    render_media,
    rendered,
)
from hlsd.infra.cache import Cache, Caches
from hlsd.infra.singleflight import SingleFlight
from hlsd.storage import ObjectStore

PLAYLIST = "index.m3u8"
GROWING_TTL = 2.0
"""Seconds a growing recording's playlist is trusted without word from the recorder."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ExportPlan:
    """What an MP4 export of one variant joins."""

    runs: tuple[tuple[str, ...], ...]
    """Media segment object keys in play order, split at each discontinuity."""
    inits: dict[str, str]
    """Media segment key → the init section key it needs (fMP4)."""
    size: int
    """Bytes of the segments in `runs`."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ReplayVariant:
    folder: str
    """Where its playlist and segments are, relative to the recording (``""`` or the
    variant's position)."""
    playlist: Rendered
    keys: dict[str, str]
    """Segment (and init section) URI → object key."""
    order: tuple[str, ...]
    """Media segment URIs in play order, for reading ahead."""
    positions: dict[str, int]
    """Media segment URI → its place in `order`."""
    export: ExportPlan


@dataclass(frozen=True, kw_only=True, slots=True)
class Replay:
    recording: Recording
    master: Rendered | None
    variants: dict[str, ReplayVariant]
    """By folder."""
    duration: float
    """Of the longest variant, in seconds."""
    best: str | None
    """The folder of the highest-bandwidth variant (what an export takes by default);
    None before the first segment."""
    loaded: float

    @property
    def growing(self) -> bool:
        return self.recording.active


class ReplayCatalog:
    """`cache` holds stored segment bytes by object key (they never change under it).
    The replays themselves are kept (in `caches`, ``replay-playlists``) until the
    recorder says one changed (`changed`), or, for a growing one, `GROWING_TTL`."""

    def __init__(self, *, sessions: Sessions, store: ObjectStore, cache: Cache[str, bytes],
                 caches: Caches, prefetch: int, max_replays: int = 256,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._sessions = sessions
        self._store = store
        self._cache = cache
        self._prefetch = prefetch
        self._clock = clock
        self._replays: Cache[str, Replay] = caches.new("replay-playlists",
                                                       max_entries=max_replays, timed=True,
                                                       clock=clock)
        self._reads: SingleFlight[str, bytes] = SingleFlight()
        self._background: set[asyncio.Task[bytes]] = set()

    def changed(self, recording_id: str) -> None:
        """The recorder committed to (or deleted) this recording: rebuild on next use."""
        self._replays.pop(recording_id)

    async def replay(self, recording_id: str) -> Replay | None:
        """The recording's playlists, or None for an unknown id."""
        replay = self._replays.get(recording_id)
        if replay is not None:
            return replay
        try:
            recording = await repo.get_recording(self._sessions, recording_id)
            segments = await repo.list_segments(self._sessions, recording_id)
        except NotFound:
            self._replays.pop(recording_id)
            return None
        variants = await repo.list_variants(self._sessions, recording_id)
        replay = _build(recording, variants, segments, self._clock())
        # A growing recording may be written by a recorder in another process, which
        # cannot call `changed` here: trusted for GROWING_TTL only.
        self._replays.put(recording_id, replay, expires=replay.loaded + GROWING_TTL
                          if replay.growing else None)
        return replay

    def local_path(self, key: str) -> Path | None:
        """The file holding the object, when the store keeps files (no read-ahead needed)."""
        return self._store.local_path(key)

    async def read(self, variant: ReplayVariant, uri: str) -> bytes:
        """A segment's bytes from the cache or the store, and the next few read ahead.
        `ObjectNotFound` when it is gone (the recording was deleted under the player)."""
        key = variant.keys[uri]
        data = await self.fetch(key)
        at = variant.positions.get(uri)
        if at is not None:
            for following in variant.order[at + 1:at + 1 + self._prefetch]:
                ahead = variant.keys[following]
                if self._cache.get(ahead) is None and ahead not in self._reads:
                    task = asyncio.create_task(self.fetch(ahead))
                    self._background.add(task)
                    task.add_done_callback(_settle(self._background))
        return data

    async def fetch(self, key: str) -> bytes:
        """An object's bytes, through the replay cache; concurrent asks share one read."""
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        return await self._reads.run(key, lambda: self._load(key))

    async def _load(self, key: str) -> bytes:
        data = await self._store.get(key)
        self._cache.put(key, data)
        return data

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)


def _settle(tasks: set[asyncio.Task[bytes]]) -> Callable[[asyncio.Task[bytes]], None]:
    def done(task: asyncio.Task[bytes]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # a failed read-ahead is retried by the player's own request
    return done


def _build(recording: Recording, variants: Sequence[RecordedVariant],
           segments: Sequence[RecordedSegment], now: float) -> Replay:
    by_variant: dict[str, list[RecordedSegment]] = {}
    for seg in segments:
        by_variant.setdefault(seg.variant, []).append(seg)
    listed = [v for v in variants if by_variant.get(v.name)]
    folders = variant_folders(listed)
    multivariant = bool(folders) and "" not in folders.values()
    built: dict[str, ReplayVariant] = {}
    stream_infs: list[VariantStream] = []
    best: str | None = None
    for variant in listed:
        rows = by_variant[variant.name]
        folder = folders[variant.name]
        built[folder] = _variant(folder, rows, growing=recording.active)
        stream_infs.append(VariantStream(
            uri=f"{folder}/{PLAYLIST}", bandwidth=variant.bandwidth or _peak_bandwidth(rows),
            average_bandwidth=variant.average_bandwidth, codecs=variant.codecs,
            resolution=(variant.width, variant.height)
            if variant.width and variant.height else None,
            frame_rate=variant.frame_rate))
        if len(stream_infs) == 1 or stream_infs[-1].bandwidth > max(
                s.bandwidth for s in stream_infs[:-1]):
            best = folder
    master = rendered(render_master(MasterPlaylist(
        variants=tuple(stream_infs), independent_segments=True))) if multivariant else None
    return Replay(
        recording=recording, master=master, variants=built,
        duration=max((sum(s.duration for s in by_variant[v.name]) for v in listed),
                     default=0.0),
        best=best, loaded=now)


def variant_folders(variants: Sequence[RecordedVariant]) -> dict[str, str]:
    """Variant name → the folder it replays under: ``""`` for the one variant of a
    single-variant recording, else its position."""
    if len(variants) == 1 and variants[0].name == "":
        return {"": ""}
    return {v.name: str(v.position) for v in variants}


def _variant(folder: str, rows: list[RecordedSegment], *, growing: bool) -> ReplayVariant:
    keys: dict[str, str] = {}
    order = []
    items = []
    current_init: str | None = None
    for seg in rows:
        uri = posixpath.basename(seg.object_key)
        keys[uri] = seg.object_key
        order.append(uri)
        init = None
        if seg.init_key and seg.init_key != current_init:
            init_uri = posixpath.basename(seg.init_key)
            keys[init_uri] = seg.init_key
            init = InitSection(uri=init_uri)
            current_init = seg.init_key
        items.append(MediaSegment(uri=uri, duration=seg.duration,
                                  discontinuity=seg.discontinuity,
                                  program_date_time=seg.program_date_time, init=init))
    playlist = MediaPlaylist(
        target_duration=max(1, max(round(s.duration) for s in rows)),
        segments=tuple(items),
        playlist_type=PlaylistType.EVENT if growing else PlaylistType.VOD,
        endlist=not growing, independent_segments=True)
    return ReplayVariant(folder=folder, playlist=rendered(render_media(playlist)), keys=keys,
                         order=tuple(order), positions={u: i for i, u in enumerate(order)},
                         export=_export_plan(rows))


def _export_plan(rows: list[RecordedSegment]) -> ExportPlan:
    runs: list[list[str]] = []
    for seg in rows:
        if seg.discontinuity or not runs:
            runs.append([])
        runs[-1].append(seg.object_key)
    return ExportPlan(runs=tuple(tuple(run) for run in runs),
                      inits={s.object_key: s.init_key for s in rows if s.init_key},
                      size=sum(s.size for s in rows))


def _peak_bandwidth(rows: list[RecordedSegment]) -> int:
    rates = [s.size * 8 / s.duration for s in rows if s.duration > 0]
    return max(1, math.ceil(max(rates))) if rates else 1
