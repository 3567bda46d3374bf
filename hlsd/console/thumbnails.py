"""Live thumbnails: a small JPEG of the newest segment of a live stream (its first
variant), for the console's overview.

A picture is made once per segment (`media.still` in a media thread), kept in one
bounded cache (``console-thumbnails`` in ``/metrics``) under the stream, variant and
segment names (a segment's name is unique for the stream's life, so an entry never goes
stale), and made once however many pages ask at the same moment (single-flight). A
segment without video is remembered as such, so it is not decoded again per request.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor

from hlsd.errors import NotFound
from hlsd.infra.cache import Cache
from hlsd.infra.logs import clip
from hlsd.infra.singleflight import SingleFlight
from hlsd.media.errors import MediaError
from hlsd.media.still import WIDTH, still_jpeg
from hlsd.streams import Segment, StreamHub, StreamState

__all__ = ["CACHE_BYTES", "NoThumbnail", "Thumbnails"]

CACHE_BYTES = 4 * 1024 * 1024
"""Bytes of thumbnails kept (about 400 of 10 KB: far more than pages show at once)."""
CACHE_ENTRIES = 1024
_NO_VIDEO = b""
"""What the cache holds for a segment without video."""

Key = tuple[str, str, str]
"""(stream, variant, segment)."""


class NoThumbnail(NotFound):
    """The stream is not live here, has no segment yet, or carries no video."""


class Thumbnails:
    def __init__(self, *, hub: StreamHub, executor: Executor, cache: Cache[Key, bytes],
                 width: int = WIDTH) -> None:
        self._hub = hub
        self._executor = executor
        self._cache = cache
        self._width = width
        self._flights: SingleFlight[Key, bytes] = SingleFlight()
        self.made = 0
        """Pictures made so far (the tests check they are shared)."""

    async def of(self, name: str) -> bytes:
        """The JPEG of stream `name`'s newest segment; `NoThumbnail` says why there is
        none."""
        stream = self._hub.get(name)
        if stream is None or stream.state is not StreamState.LIVE:
            raise NoThumbnail(f"stream '{clip(name)}' is not live on this node")
        variants = stream.current()
        if not variants or not variants[0][1].segments:
            raise NoThumbnail(f"stream '{clip(name)}' has no segment yet")
        variant, rendition = variants[0]
        segment = rendition.segments[-1]
        key = (name, variant, segment.name)
        picture = self._cache.get(key)
        if picture is None:
            picture = await self._flights.run(key, lambda: self._make(key, segment))
        if picture == _NO_VIDEO:
            raise NoThumbnail(f"stream '{clip(name)}' carries no video")
        return picture

    async def _make(self, key: Key, segment: Segment) -> bytes:
        loop = asyncio.get_running_loop()
        try:
            picture = await loop.run_in_executor(self._executor, _still, segment, self._width)
        except MediaError as exc:
            raise NoThumbnail(f"the newest segment of stream '{clip(key[0])}' gives no "
                              f"picture: {exc}") from exc
        except OSError as exc:  # its spill file went with it, between look-up and read
            raise NoThumbnail(f"the newest segment of stream '{clip(key[0])}' is no "
                              "longer held") from exc
        self.made += 1
        self._cache.put(key, picture)
        return picture


def _still(segment: Segment, width: int) -> bytes:
    """In a media thread: the segment's bytes (from memory, or its spill file) to a
    JPEG, or `_NO_VIDEO`."""
    if segment.name.endswith(".aac"):
        return _NO_VIDEO  # packed audio: no container around it, no video in it
    init = segment.init.data if segment.init is not None else None
    return still_jpeg(segment.read(), init=init, width=width) or _NO_VIDEO
