"""On-demand HLS from upstream media behind tokens (the Go-HLS-Streamer surface), and
the packagers channels share: sources, segment caches, `/api/token…`, `/hls/…`."""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass

from hlsd.api import gostreamer
from hlsd.channels import SourceKind
from hlsd.channels.sources import library_file
from hlsd.delivery import Mount, hls
from hlsd.features.common import Common
from hlsd.features.feature import Feature
from hlsd.infra.cache import Cache
from hlsd.infra.disk_cache import DiskLRU
from hlsd.vod.library import LibraryFiles
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


def build(common: Common) -> OnDemand:
    settings, metrics = common.settings, common.metrics
    up = settings.upstream
    caches = metrics.caches
    sources = caches.add(DiskLRU(settings.cache_dir / "media", name="sources",
                                 max_bytes=settings.cache.size,
                                 max_entries=settings.cache.limit))
    subtitles = caches.add(DiskLRU(settings.cache_dir / "vtt", name="subtitles",
                                   max_bytes=settings.cache.limit * up.max_vtt_bytes,
                                   max_entries=settings.cache.limit))
    segments = caches.add(DiskLRU(settings.static_dir, name="segments",
                                  max_bytes=settings.cache.killsize.static,
                                  max_entries=_MAX_SEGMENT_ENTRIES))
    # Segment bytes under their source's key and number: never stale.
    hot: Cache[str, bytes] = caches.for_bytes("hot-segments", settings.packager.memory_cache)
    store = SourceStore(fetcher=common.fetcher, media_cache=sources, vtt_cache=subtitles,
                        media_prefix=settings.url.media_prefix, vtt_prefix=settings.url.vtt,
                        max_bytes=up.max_bytes, max_vtt_bytes=up.max_vtt_bytes,
                        ranges=RangeSettings(block_size=up.range_block) if up.ranges else None)

    def segment_built(package: Package, seconds: float) -> None:
        mode = "transcode" if package.transcodes else "remux"
        metrics.segments_built.labels(mode).inc()
        metrics.segment_build_seconds.observe(seconds)

    def packager(sources: SourceStore | LibraryFiles, incoming: str, name: str) -> Packager:
        pk = settings.packager
        return Packager(sources=sources, segments=segments, hot=hot,
                        packages=caches.new(name, max_entries=pk.max_open_sources,
                                            idle=settings.cache.expiry),
                        executor=common.executor, incoming_dir=settings.static_dir / incoming,
                        segment_duration=pk.segment_duration, read_ahead=pk.read_ahead,
                        max_builds=pk.threads + 1, on_segment_built=segment_built)

    upstream = packager(store, ".incoming", "packages")
    library = packager(LibraryFiles(functools.partial(library_file, settings.library_dir)),
                       ".incoming-library", "library-packages")
    packagers = {SourceKind.FILE: library}
    if settings.url.media_prefix:
        packagers[SourceKind.UPSTREAM] = upstream
    streams = OnDemandStreams(signer=common.signer, packager=upstream,
                              expiry=settings.cache.expiry,
                              max_id_length=settings.packager.max_id_length, caches=caches)
    handshake = settings.handshake.get_secret_value() if settings.handshake else None
    expiry = settings.cache.expiry

    async def janitor() -> None:
        """Expire idle sources, segments and packages (``cache.expiry``)."""
        while True:
            await asyncio.sleep(min(60.0, max(1.0, expiry / 4)))
            try:
                gone = sum(cache.expire(expiry) for cache in (segments, sources, subtitles))
                gone += upstream.expire() + library.expire()
                if gone:
                    log.info("expired %d idle cache entries", gone)
            except OSError:
                log.exception("cache expiry failed")

    feature = Feature(
        name="on-demand",
        routers=[gostreamer.router(streams=streams, handshake=handshake,
                                   default_expiry=expiry, metrics=metrics)],
        playback=[Mount(hls.PREFIX, hls.HlsResolver(streams=streams, packager=upstream,
                                                    metrics=metrics))],
        tasks=[janitor], close=[upstream.close, library.close])
    return OnDemand(feature=feature, streams=streams, packagers=packagers)
