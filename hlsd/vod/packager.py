"""Packages on-demand sources as HLS on the fly.

A source is probed and its keyframes indexed once; the playlists are computed from that
index and rendered once. Each segment is built (remuxed, or transcoded where it must
be) when first requested, in a worker thread, and kept in the segment cache. For
transcoded sources the next few segments are built ahead of the playhead.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import secrets
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from hlsd.hls import Rendered
from hlsd.infra.cache import Cache
from hlsd.infra.disk_budget import DiskFull
from hlsd.infra.disk_cache import DiskLRU
from hlsd.infra.logs import clip
from hlsd.infra.singleflight import SingleFlight
from hlsd.media import (
    Action,
    Cue,
    MediaError,
    MediaIndex,
    Source,
    build_index,
    build_segment,
    parse_webvtt,
    render_vtt_segment,
)
from hlsd.vod.errors import InsufficientStorage, NoSuchSegment, UnusableMedia
from hlsd.vod.playlists import render_package_playlists
from hlsd.vod.sources import SourceFiles

log = logging.getLogger(__name__)
T = TypeVar("T")


class PackageSources(Protocol):
    """Where a packager finds its sources by id: the upstream (`SourceStore`) or the
    library folder (`LibraryFiles`)."""

    def key_for(self, qid: str) -> str: ...

    async def ensure(self, qid: str) -> SourceFiles: ...

    def forget(self, key: str) -> None: ...


@dataclass(kw_only=True)
class Package:
    """One source, indexed, with its playlists rendered once."""

    key: str
    qid: str
    files: SourceFiles
    index: MediaIndex
    cues: tuple[Cue, ...] | None
    master: Rendered
    media: Rendered
    subtitles: Rendered | None

    @property
    def transcodes(self) -> bool:
        return Action.TRANSCODE in (self.index.video, self.index.audio)

    @property
    def segment_count(self) -> int:
        return len(self.index.segments)


class Packager:
    """`hot` holds segment bytes by a key naming their source and number (they never go
    stale); `packages` holds packages by source key, bounded in count (the packages in
    memory) and forgotten when idle (``cache.expiry``: build it with `idle`)."""

    def __init__(self, *, sources: PackageSources, segments: DiskLRU, hot: Cache[str, bytes],
                 packages: Cache[str, Package], executor: Executor, incoming_dir: Path,
                 segment_duration: float, read_ahead: int, max_builds: int,
                 on_segment_built: Callable[[Package, float], None] | None = None) -> None:
        self._sources = sources
        self._segments = segments
        self._hot = hot
        self._executor = executor
        self._incoming = incoming_dir
        self._segment_duration = segment_duration
        self._read_ahead = read_ahead
        self._packages = packages
        self._prepare_flights: SingleFlight[str, Package] = SingleFlight()
        self._build_flights: SingleFlight[str, bytes] = SingleFlight()
        self._builds = asyncio.Semaphore(max_builds)
        self._background: set[asyncio.Task[object]] = set()
        self._on_segment_built = on_segment_built
        self._incoming.mkdir(parents=True, exist_ok=True)
        for debris in self._incoming.glob("*.part"):
            debris.unlink(missing_ok=True)  # a crash mid-build left it

    # packages -------------------------------------------------------------

    async def prepare(self, qid: str) -> Package:
        """The package for `qid`: fetched, probed, indexed and rendered (once)."""
        key = self._sources.key_for(qid)
        package = self._packages.get(key)
        if package is not None:
            return package
        return await self._prepare_flights.run(key, lambda: self._prepare(qid))

    async def _prepare(self, qid: str) -> Package:
        files = await self._sources.ensure(qid)
        try:
            index = await self._in_thread(build_index, files.media, self._segment_duration)
            cues = None
            if files.vtt is not None:
                cues = await self._in_thread(_read_cues, files.vtt)
        except MediaError as exc:
            # Not media (or corrupt): keep no copy, so a fixed upstream is refetched.
            self._sources.forget(files.key)
            log.warning("source %r is unusable: %s", clip(qid), clip(exc))
            raise UnusableMedia(str(exc)) from exc
        master, media, subtitles = render_package_playlists(index, has_subtitles=cues is not None)
        package = Package(key=files.key, qid=qid, files=files, index=index, cues=cues,
                          master=master, media=media, subtitles=subtitles)
        self._packages.put(files.key, package)
        log.info("packaged %r: %d segments, video=%s audio=%s", clip(qid), package.segment_count,
                 index.video and index.video.value, index.audio and index.audio.value)
        return package

    def expire(self) -> int:
        """Forget packages idle for longer than their cache allows; how many went."""
        return self._packages.expire()

    # segments -------------------------------------------------------------

    async def segment(self, package: Package, n: int) -> bytes:
        """The bytes of media segment `n`: from memory, from disk, or built now."""
        if not 0 <= n < package.segment_count:
            raise NoSuchSegment(f"no segment {n}")
        key = _segment_key(package, n)
        data = self._hot.get(key)
        if data is None:
            data = await self._build_flights.run(key, lambda: self._load(package, n))
        if package.transcodes:
            self._build_ahead(package, n)
        return data

    async def _load(self, package: Package, n: int) -> bytes:
        path = self._segments.get(_segment_key(package, n))
        if path is None:
            return await self._build(package, n)
        data = await self._in_thread(path.read_bytes)
        self._hot.put(_segment_key(package, n), data)
        return data

    def subtitle_segment(self, package: Package, n: int) -> bytes:
        if package.cues is None or not 0 <= n < package.segment_count:
            raise NoSuchSegment(f"no subtitle segment {n}")
        span = package.index.segments[n]
        return render_vtt_segment(package.cues, span.start, span.end)

    async def _build(self, package: Package, n: int) -> bytes:
        async with self._builds:
            started = time.perf_counter()
            source = package.files.media
            if not source.exists():
                # The source cache evicted it since the package was made.
                package.files = await self._sources.ensure(package.qid)
                source = package.files.media
            part = self._incoming / f"{package.key}-{n}-{secrets.token_hex(4)}.part"
            try:
                data = await self._in_thread(_write_segment, source, package.index, n, part)
            except MediaError as exc:
                part.unlink(missing_ok=True)
                raise UnusableMedia(f"segment {n}: {exc}") from exc
            except BaseException:
                part.unlink(missing_ok=True)
                raise
            try:
                self._segments.put(_segment_key(package, n), part)
            except DiskFull as exc:
                log.warning("segment cache is full; refused segment %d of %r", n,
                            clip(package.qid))
                raise InsufficientStorage(str(exc)) from exc
            self._hot.put(_segment_key(package, n), data)
            if self._on_segment_built is not None:
                self._on_segment_built(package, time.perf_counter() - started)
            return data

    def _build_ahead(self, package: Package, n: int) -> None:
        for ahead in range(n + 1, min(n + 1 + self._read_ahead, package.segment_count)):
            key = _segment_key(package, ahead)
            if key in self._build_flights or self._builds.locked():
                continue
            if self._hot.get(key) is not None or self._segments.get(key) is not None:
                continue
            task = asyncio.ensure_future(
                self._build_flights.run(key, functools.partial(self._build, package, ahead)))
            self._background.add(task)
            task.add_done_callback(self._finish_background)

    def _finish_background(self, task: asyncio.Task[object]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("building ahead failed: %s", task.exception())

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    async def _in_thread(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)


def _segment_key(package: Package, n: int) -> str:
    return f"{package.key}/seg-{n}.ts"


def _write_segment(source: Source, index: MediaIndex, n: int, part: Path) -> bytes:
    data = build_segment(source, index, n)
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return data


def _read_cues(path: Path) -> tuple[Cue, ...]:
    return parse_webvtt(path.read_bytes())

