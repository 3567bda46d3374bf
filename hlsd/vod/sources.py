"""On-demand sources: the upstream media (and subtitles) for an id, cached on disk."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from hlsd.vod.disk_lru import DiskLRU
from hlsd.vod.errors import InvalidSourceId, NotConfigured
from hlsd.vod.fetch import Fetcher, upstream_url
from hlsd.vod.singleflight import SingleFlight

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceFiles:
    key: str
    qid: str
    media: Path
    vtt: Path | None


def source_key(prefix: str, qid: str) -> str:
    """A stable file-safe key for `qid` at `prefix` (a changed upstream is another source)."""
    return hashlib.sha256(f"{prefix}\0{qid}".encode()).hexdigest()[:40]


def validate_qid(qid: str, max_length: int) -> str:
    if not qid or len(qid.encode()) > max_length:
        raise InvalidSourceId(f"qid must be 1 to {max_length} bytes")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in qid) or qid in {".", ".."}:
        raise InvalidSourceId("qid contains characters that are not allowed")
    return qid


class SourceStore:
    """Media in one cache (``cache.size``, ``cache.limit``), subtitles in another, so a
    subtitle file never pushes its own media out."""

    def __init__(self, *, fetcher: Fetcher, media_cache: DiskLRU, vtt_cache: DiskLRU,
                 media_prefix: str | None, vtt_prefix: str | None, max_bytes: int,
                 max_vtt_bytes: int) -> None:
        self._fetcher = fetcher
        self._media = media_cache
        self._vtt = vtt_cache
        self._media_prefix = media_prefix
        self._vtt_prefix = vtt_prefix
        self._max_bytes = min(max_bytes, media_cache.max_bytes)
        self._max_vtt_bytes = max_vtt_bytes
        self._flights: SingleFlight[str, SourceFiles] = SingleFlight()
        self.fetches = 0

    def key_for(self, qid: str) -> str:
        if self._media_prefix is None:
            raise NotConfigured("no upstream is configured (set url.video, url.media or url.audio)")
        return source_key(self._media_prefix, qid)

    async def ensure(self, qid: str) -> SourceFiles:
        """The cached files for `qid`, fetching what is missing (once for all callers)."""
        key = self.key_for(qid)
        return await self._flights.run(key, lambda: self._ensure(key, qid))

    async def _ensure(self, key: str, qid: str) -> SourceFiles:
        assert self._media_prefix is not None
        media = self._media.get(key)
        vtt = self._vtt.get(key)
        if media is None:
            self.fetches += 1
            fetched = await self._fetcher.fetch(upstream_url(self._media_prefix, qid),
                                                max_bytes=self._max_bytes)
            assert fetched is not None
            try:
                media = self._media.put(key, fetched.path)
            finally:
                self._fetcher.release(fetched)
            log.info("fetched %s (%d bytes)", qid, fetched.size)
            if self._vtt_prefix is not None:
                vtt = await self._fetch_vtt(key, qid)
        return SourceFiles(key=key, qid=qid, media=media, vtt=vtt)

    async def _fetch_vtt(self, key: str, qid: str) -> Path | None:
        assert self._vtt_prefix is not None
        fetched = await self._fetcher.fetch(upstream_url(self._vtt_prefix, qid),
                                            max_bytes=self._max_vtt_bytes, optional=True)
        if fetched is None:
            self._vtt.remove(key)
            return None
        try:
            return self._vtt.put(key, fetched.path)
        finally:
            self._fetcher.release(fetched)

    def forget(self, key: str) -> None:
        """Drop the cached files of `key` (e.g. they proved not to be media)."""
        self._media.remove(key)
        self._vtt.remove(key)
