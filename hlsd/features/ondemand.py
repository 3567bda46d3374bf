"""On-demand HLS from upstream media behind tokens (the Go-HLS-Streamer surface), and
the packagers channels share: sources, segment caches, `/api/token…`, `/hls/…`."""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass

from hlsd.api import gostreamer, hls_gated
from hlsd.api._asgi import Cors
from hlsd.channels import SourceKind
from hlsd.channels.sources import library_file
from hlsd.features.common import Common
from hlsd.features.feature import Feature
from hlsd.vod.disk_lru import DiskLRU
from hlsd.vod.library import LibraryFiles
from hlsd.vod.memory_lru import MemoryLRU
from hlsd.vod.packager import Package, Packager
from hlsd.vod.sources import RangeSettings, SourceStore
from hlsd.vod.streams import OnDemandStreams

__all__ = ["OnDemand", "build"]

log = logging.getLogger(__name__)

_MAX_SEGMENT_ENTRIES = 200_000


@dataclass(frozen=True, kw_only=True)
class OnDemand:
    feature: Feature
    streams: OnDemandStreams
    packagers: dict[SourceKind, Packager]
    """What channels package their sources with: library files always, upstream media
    when `url.media_prefix` is set."""


def build(common: Common, *, cors: Cors) -> OnDemand:
    settings, metrics = common.settings, common.metrics
    up = settings.upstream
    sources = DiskLRU(settings.cache_dir / "media", name="sources",
                      max_bytes=settings.cache.size, max_entries=settings.cache.limit)
    subtitles = DiskLRU(settings.cache_dir / "vtt", name="subtitles",
                        max_bytes=settings.cache.limit * up.max_vtt_bytes,
                        max_entries=settings.cache.limit)
    segments = DiskLRU(settings.static_dir, name="segments",
                       max_bytes=settings.cache.killsize.static,
                       max_entries=_MAX_SEGMENT_ENTRIES)
    hot = MemoryLRU(name="hot-segments", max_bytes=settings.packager.memory_cache,
                    max_entry=settings.packager.memory_cache // 8)
    metrics.watch_caches((sources, subtitles, segments, hot), (common.temp_budget,))
    store = SourceStore(fetcher=common.fetcher, media_cache=sources, vtt_cache=subtitles,
                        media_prefix=settings.url.media_prefix, vtt_prefix=settings.url.vtt,
                        max_bytes=up.max_bytes, max_vtt_bytes=up.max_vtt_bytes,
                        ranges=RangeSettings(block_size=up.range_block) if up.ranges else None)

    def segment_built(package: Package, seconds: float) -> None:
        mode = "transcode" if package.transcodes else "remux"
        metrics.segments_built.labels(mode).inc()
        metrics.segment_build_seconds.observe(seconds)

    def packager(sources: SourceStore | LibraryFiles, incoming: str) -> Packager:
        pk = settings.packager
        return Packager(sources=sources, segments=segments, hot=hot,
                        executor=common.executor, incoming_dir=settings.static_dir / incoming,
                        segment_duration=pk.segment_duration, read_ahead=pk.read_ahead,
                        max_packages=pk.max_open_sources, max_builds=pk.threads + 1,
                        on_segment_built=segment_built)

    upstream = packager(store, ".incoming")
    library = packager(LibraryFiles(functools.partial(library_file, settings.library_dir)),
                       ".incoming-library")
    packagers = {SourceKind.FILE: library}
    if settings.url.media_prefix:
        packagers[SourceKind.UPSTREAM] = upstream
    streams = OnDemandStreams(signer=common.signer, packager=upstream,
                              expiry=settings.cache.expiry,
                              max_id_length=settings.packager.max_id_length)
    handshake = settings.handshake.get_secret_value() if settings.handshake else None
    expiry = settings.cache.expiry

    async def janitor() -> None:
        """Expire idle sources, segments and packages (``cache.expiry``)."""
        while True:
            await asyncio.sleep(min(60.0, max(1.0, expiry / 4)))
            try:
                gone = sum(cache.expire(expiry) for cache in (segments, sources, subtitles))
                gone += upstream.expire(expiry) + library.expire(expiry)
                if gone:
                    log.info("expired %d idle cache entries", gone)
            except OSError:
                log.exception("cache expiry failed")

    feature = Feature(
        name="on-demand",
        routers=[gostreamer.router(streams=streams, handshake=handshake,
                                   default_expiry=expiry, metrics=metrics)],
        playback=[(hls_gated.PREFIX, hls_gated.GatedHls(
            streams=streams, packager=upstream, metrics=metrics, cors=cors))],
        tasks=[janitor], close=[upstream.close, library.close])
    return OnDemand(feature=feature, streams=streams, packagers=packagers)
