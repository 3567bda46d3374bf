"""Channels being watched: compiled once, checked for changes, and their segments.

Nothing here runs unless a player asks: an idle channel is a database row and costs
no CPU. A watched channel is compiled on its first request and kept (up to a bound);
its stored version is checked at most once per `refresh`, so a change made on another
node is picked up before it takes effect (changes are scheduled later than that).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from hlsd.channels.channel import Channel, Served, Slate
from hlsd.channels.program import Program, SourceKind
from hlsd.channels.service import ChannelError, ChannelService
from hlsd.channels.sources import (
    InvalidSourcePath,
    SourceRefused,
    SourceUnavailable,
    fetch_bounded,
    library_file,
    read_bounded,
)
from hlsd.infra.bounded import TooLarge
from hlsd.infra.cache import Cache, Caches
from hlsd.infra.logs import clip
from hlsd.infra.singleflight import SingleFlight
from hlsd.media.errors import MediaError
from hlsd.media.retime import TICKS_PER_SECOND, Piece, first_timestamp, mux_ts, retime_ts
from hlsd.media.slate import SLATE_BASE, SlateSpec, slate_segment
from hlsd.storage import ObjectStore, StorageError
from hlsd.vod.errors import SourceError
from hlsd.vod.packager import Packager

__all__ = ["Playout"]

log = logging.getLogger(__name__)

_FRAME_US = 40_000
_SLATE_ORIGIN = round(SLATE_BASE * TICKS_PER_SECOND)
_MAX_ORIGINS = 10_000
_MAX_MISSING = 10_000
_AUDIO_MARGIN_US = 100_000
"""Audio fragments this close to a segment's span are read too (their grid is not the
video's); only packets that begin within the span are kept."""


@dataclass(eq=False)
class _Compiled:
    channel: Channel
    checked: float


class Playout:
    def __init__(self, *, service: ChannelService, library: Path,
                 packagers: Mapping[SourceKind, Packager],
                 client: httpx.AsyncClient, store: ObjectStore, served: Cache[str, bytes],
                 slates: Cache[str, bytes], caches: Caches,
                 refresh: float, max_compiled: int, max_segment_bytes: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._service = service
        self._library = library
        self._packagers = packagers
        self._client = client
        self._store = store
        self._served = served
        self._slates = slates
        self._max_segment_bytes = max_segment_bytes
        self._origins: Cache[tuple[str, int], int] = caches.new("channel-origins",
                                                                 max_entries=_MAX_ORIGINS)
        """A program variant's first timestamp: a program's media never changes under
        its key, so this never goes stale."""
        self._refresh = refresh
        self._clock = clock
        self._compiled: Cache[str, _Compiled] = caches.new("channels-compiled",
                                                           max_entries=max_compiled)
        """Staleness: an entry is trusted for `refresh` after its last check, then its
        stored version is checked again (and it is compiled again if that changed)."""
        self._missing: Cache[str, bool] = caches.new("channels-missing",
                                                     max_entries=_MAX_MISSING, ttl=refresh,
                                                     clock=clock)
        """Names found to be no channel, for `refresh`: a burst of requests for a stream
        that does not exist asks the database once per refresh."""
        self._checks: SingleFlight[str, Channel | None] = SingleFlight()
        self._builds: SingleFlight[str, bytes] = SingleFlight()
        self.slates_for_lost_sources = 0
        """Segments of a source gone since it was scheduled, played as slate (counted)."""

    def now_us(self) -> int:
        return self._service.now_us()

    async def channel(self, name: str) -> Channel | None:
        """The channel `name` as it stands, or None when there is none."""
        entry = self._compiled.get(name)
        now = self._clock()
        if entry is not None and now - entry.checked < self._refresh:
            return entry.channel
        if name in self._missing:
            return None  # asked again within the refresh: the database is spared
        return await self._checks.run(name, lambda: self._check(name))

    async def _check(self, name: str) -> Channel | None:
        entry = self._compiled.get(name)
        version = await self._service.version(name)
        if version is None:
            self._compiled.pop(name)
            self._missing.put(name, True)
            return None
        self._missing.pop(name)
        if entry is None or entry.channel.spec.version != version:
            try:
                spec = await self._service.get(name)
            except ChannelError:
                return None  # deleted meanwhile
            # Compiling a long schedule takes milliseconds: not on the event loop.
            entry = _Compiled(channel=await asyncio.to_thread(Channel, spec=spec), checked=0.0)
        entry.checked = self._clock()
        self._compiled.put(name, entry)
        return entry.channel

    def forget(self, name: str) -> None:
        """Drop what is known of `name` (it was made, changed or deleted on this node)."""
        self._compiled.pop(name)
        self._missing.pop(name)

    async def segment(self, uri: str, part: Served | Slate) -> bytes:
        """A segment's bytes, moved to its air time, held in the bounded segment cache
        under its `uri`. A source that has gone since it was scheduled plays as slate of
        the same length: the playlist, computed from the schedule alone, stays as every
        node serves it."""
        cached = self._served.get(uri)
        if cached is not None:
            return cached

        async def build() -> bytes:
            data = await self._retimed(part)
            self._served.put(uri, data)
            return data

        return await self._builds.run(uri, build)

    async def _retimed(self, part: Served | Slate) -> bytes:
        if isinstance(part, Slate):
            return await self._slate(part)
        try:
            video = await self._media(part.program, part.variant, part.uri)
            origin = await self._origin(part.program, part.variant)
            pieces = [video, *await self._audio(part, origin)]
            return await asyncio.to_thread(mux_ts, pieces, part.tick - origin,
                                           end=origin + _ticks(part.clip_us))
        except SourceRefused:
            pass  # the refusal was logged where it was made: once
        except (SourceError, SourceUnavailable, TooLarge, InvalidSourcePath, MediaError,
                OSError, StorageError, httpx.HTTPError) as exc:
            log.warning("channel segment %s of %s %r is lost (%s); playing slate",
                        clip(part.uri), part.program.kind.value, clip(part.program.ref),
                        clip(exc))
        self.slates_for_lost_sources += 1
        return await self._slate(Slate(
            rung=part.rung, frames=max(1, round(part.duration_us / _FRAME_US)),
            offset_frames=round(part.offset_us / _FRAME_US), tick=part.tick,
            clip_us=part.clip_us))

    async def _media(self, program: Program, variant: int, uri: str,
                     init_uri: str | None = None) -> Piece:
        """A fragment as its demuxer reads it: an fMP4 one after its initialization
        section (cached: it is shared by them all)."""
        data = await self._source_segment(program, variant, uri)
        init_uri = init_uri or program.variants[variant].init
        if init_uri is None:
            return Piece(data=data)
        key = f"init/{program.key}/{init_uri}"
        init = self._served.get(key)
        if init is None:
            init = await self._source_segment(program, variant, init_uri)
            self._served.put(key, init)
        return Piece(data=init + data, source_format="mp4")

    async def _audio(self, part: Served, origin: int) -> list[Piece]:
        """A variant's separate audio for the span of its segment `part`: the audio
        fragments around it, keeping the packets that begin within the segment, so each
        plays once and in order across segments."""
        track = part.program.variants[part.variant].audio
        if track is None:
            return []
        durations = part.program.variants[part.variant].durations_us
        start = sum(durations[:part.index])
        end = start + durations[part.index]
        keep = (origin + _ticks(start), origin + _ticks(end))
        pieces = []
        at = 0
        for uri, length in zip(track.uris, track.durations_us, strict=True):
            if at < end + _AUDIO_MARGIN_US and at + length > start - _AUDIO_MARGIN_US:
                piece = await self._media(part.program, part.variant, uri, track.init)
                pieces.append(Piece(data=piece.data, source_format="mp4", keep=keep))
            at += length
        return pieces

    async def _source_segment(self, program: Program, variant: int, uri: str) -> bytes:
        if program.kind is SourceKind.LIBRARY:
            path = library_file(self._library, uri)
            return await asyncio.to_thread(read_bounded, path, self._max_segment_bytes,
                                           name=uri)
        if program.kind is SourceKind.URL:
            return (await fetch_bounded(self._client, uri, self._max_segment_bytes))[0]
        if program.kind is SourceKind.ASSET:
            return await self._store.get(uri)
        packager = self._packagers.get(program.kind)
        if packager is None:
            raise SourceUnavailable("on-demand upstream sources are not configured here")
        package = await packager.prepare(program.ref)
        return await packager.segment(package, int(uri))

    async def _origin(self, program: Program, variant: int) -> int:
        """Where the program's clock starts (its first segment's first timestamp): the
        one shift from it to air time keeps the whole clip's spacing exact."""
        key = (program.key, variant)
        origin = self._origins.get(key)
        if origin is None:
            first = await self._media(program, variant, program.variants[variant].uris[0])
            origin = await asyncio.to_thread(first_timestamp, first.data,
                                             source_format=first.source_format)
            self._origins.put(key, origin)
        return origin

    async def _slate(self, slate: Slate) -> bytes:
        rung = slate.rung
        size = _slate_size(rung.resolution)
        key = f"{size}/{rung.audio}/{slate.frames}/{slate.offset_frames}"
        raw = self._slates.get(key)
        if raw is None:
            spec = SlateSpec(width=size[0] if size else None,
                             height=size[1] if size else None, audio=rung.audio)
            raw = await asyncio.to_thread(slate_segment, spec, frames=slate.frames,
                                          offset_frames=slate.offset_frames)
            self._slates.put(key, raw)
        return await asyncio.to_thread(retime_ts, raw, slate.tick - _SLATE_ORIGIN,
                                       end=_SLATE_ORIGIN + _ticks(slate.clip_us))


def _slate_size(resolution: tuple[int, int] | None) -> tuple[int, int] | None:
    """The variant's picture size as slate can be: even, and within 1080p (a player
    scales a stand-in that is smaller than the programme)."""
    if resolution is None:
        return None
    width, height = resolution
    scale = min(1.0, (1920 * 1080 / max(1, width * height)) ** 0.5)
    return (max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2))


def _ticks(us: int) -> int:
    return us * TICKS_PER_SECOND // 1_000_000
