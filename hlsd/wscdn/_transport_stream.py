"""What a websocket spectator is sent of a segment: MPEG-TS, as the hls-websocket-cdn
protocol requires.

Segments pushed over HTTP or a websocket are MPEG-TS already and go as they are. The
CMAF segments hlsd cuts itself (RTMP, SRT, continuous HTTP) are remuxed (no transcode)
once per segment, in a thread, and the result shared by every spectator and relay
reading it, from a bounded cache.
"""

from __future__ import annotations

import asyncio

from hlsd.infra.cache import Cache, Caches
from hlsd.infra.singleflight import SingleFlight
from hlsd.media.live_segmenter import cmaf_to_ts
from hlsd.streams import Segment

__all__ = ["TransportStreams"]

_CACHED_BYTES = 128 * 1024 * 1024
"""Remuxed segments kept: a few windows of a few streams (spectators read the newest)."""


class TransportStreams:
    def __init__(self, caches: Caches) -> None:
        self._cache: Cache[str, bytes] = caches.for_bytes(
            "websocket-mpegts", _CACHED_BYTES, max_entries=512)
        self._flight: SingleFlight[str, bytes] = SingleFlight()

    async def of(self, segment: Segment) -> bytes:
        """The MPEG-TS bytes of `segment` (a stream's session makes its name unique)."""
        if segment.init is None:
            if segment.data is not None:
                return segment.data
            return await asyncio.to_thread(segment.read)  # spilled to disk
        cached = self._cache.get(segment.name)
        if cached is not None:
            return cached
        return await self._flight.run(segment.name, lambda: self._remux(segment))

    async def _remux(self, segment: Segment) -> bytes:
        assert segment.init is not None
        init = segment.init.data
        data: bytes = await asyncio.to_thread(lambda: cmaf_to_ts(init, segment.read()))
        self._cache.put(segment.name, data)
        return data
