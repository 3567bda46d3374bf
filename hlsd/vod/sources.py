"""On-demand sources: the upstream media (and subtitles) for an id, cached on disk.

Media comes one of two ways. When ranges are enabled (the default; ``ranges=None``
turns them off) and the upstream answers a ``Range`` request for the first block with
206, the source is a `RangedSource`: the
media functions read it on demand, block by block, into a sparse file in the source
cache (see `ranged.py`). Otherwise (an upstream that ignores ranges answers the same
request with the whole body) the media is downloaded whole. Either way it is a
`Path` in the cache once all of it is there.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from hlsd.infra.bounded import TooLarge
from hlsd.infra.disk_budget import DiskFull
from hlsd.infra.disk_cache import DiskLRU
from hlsd.infra.download import (
    DownloadFailed,
    DownloadNotFound,
    DownloadTimedOut,
    Fetched,
    Fetcher,
    Head,
)
from hlsd.infra.guarded_http import FetchRefused
from hlsd.infra.logs import clip
from hlsd.infra.singleflight import SingleFlight
from hlsd.vod.errors import (
    InsufficientStorage,
    InvalidSourceId,
    NotConfigured,
    SourceTooLarge,
    UpstreamFailed,
    UpstreamNotFound,
    UpstreamRefused,
    UpstreamTimeout,
)
from hlsd.vod.ranged import RangedSource, ReadAhead

log = logging.getLogger(__name__)

# Cache keys of partly fetched (sparse) files: the source's key, "-r", a random tag.
_RANGED = re.compile(r"^[0-9a-f]{40}-r[0-9a-f]{8}$")


@dataclass(frozen=True, kw_only=True, slots=True)
class RangeSettings:
    """Reading sources by byte range, where the upstream honours it."""

    block_size: int = 1 << 20
    read_ahead: int = 2  # blocks fetched in the background ahead of a reader in order
    read_ahead_threads: int = 4  # such fetches at once, for all sources

    def __post_init__(self) -> None:
        if self.block_size < 4096 or self.read_ahead < 0 or self.read_ahead_threads < 0:
            raise ValueError("block_size must be at least 4096, the others at least 0")


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceFiles:
    key: str
    qid: str
    # A cached file, or a source read by range (`exists()` on both: still usable).
    media: Path | RangedSource
    vtt: Path | None


def source_key(prefix: str, qid: str) -> str:
    """A stable file-safe key for `qid` at `prefix` (a changed upstream is another source)."""
    return hashlib.sha256(f"{prefix}\0{qid}".encode()).hexdigest()[:40]


def upstream_url(prefix: str, qid: str) -> str:
    """``{prefix}/{qid}`` with `qid` encoded as a single path segment, so no id can
    change the host or the path prefix."""
    if qid in {"", ".", ".."}:
        raise InvalidSourceId(f"invalid id: {qid!r}")
    return f"{prefix.rstrip('/')}/{quote(qid, safe='')}"


@contextlib.contextmanager
def upstream_errors() -> Iterator[None]:
    """A download's or a disk bound's failure as the source error a client is shown."""
    try:
        yield
    except DownloadNotFound as exc:
        raise UpstreamNotFound("media not found upstream") from exc
    except DownloadTimedOut as exc:
        raise UpstreamTimeout(str(exc)) from exc
    except DownloadFailed as exc:
        raise UpstreamFailed(str(exc)) from exc
    except FetchRefused as exc:
        raise UpstreamRefused(str(exc)) from exc
    except TooLarge as exc:
        raise SourceTooLarge(str(exc)) from exc
    except DiskFull as exc:
        raise InsufficientStorage(str(exc)) from exc


def validate_qid(qid: str, max_length: int) -> str:
    if not qid or len(qid.encode()) > max_length:
        raise InvalidSourceId(f"qid must be 1 to {max_length} bytes")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in qid) or qid in {".", ".."}:
        raise InvalidSourceId("qid contains characters that are not allowed")
    return qid


@dataclass(frozen=True, slots=True)
class _Ranged:
    entry: str  # its key in the media cache
    source: RangedSource


class SourceStore:
    """Media in one cache (``cache.size``, ``cache.limit``), subtitles in another, so a
    subtitle file never pushes its own media out.

    A ranged source counts its whole size in the media cache from the start (the disk
    it may come to use), as one entry of its own, until its last block arrives and it
    becomes the ordinary entry.
    """

    def __init__(self, *, fetcher: Fetcher, media_cache: DiskLRU, vtt_cache: DiskLRU,
                 media_prefix: str | None, vtt_prefix: str | None, max_bytes: int,
                 max_vtt_bytes: int, ranges: RangeSettings | None = RangeSettings()) -> None:
        self._fetcher = fetcher
        self._media = media_cache
        self._vtt = vtt_cache
        self._media_prefix = media_prefix
        self._vtt_prefix = vtt_prefix
        self._max_bytes = min(max_bytes, media_cache.max_bytes)
        self._max_vtt_bytes = max_vtt_bytes
        self._ranges = ranges
        self._ranged: dict[str, _Ranged] = {}
        self._read_ahead = ReadAhead(ranges.read_ahead_threads if ranges else 0)
        self._flights: SingleFlight[str, SourceFiles] = SingleFlight()
        self.fetches = 0
        self._clear_stale_ranged()

    def key_for(self, qid: str) -> str:
        if self._media_prefix is None:
            raise NotConfigured("no upstream is configured (set url.video, url.media or url.audio)")
        return source_key(self._media_prefix, qid)

    async def ensure(self, qid: str) -> SourceFiles:
        """The cached files for `qid`, fetching what is missing (once for all callers)."""
        key = self.key_for(qid)
        return await self._flights.run(key, lambda: self._ensure(key, qid))

    async def _ensure(self, key: str, qid: str) -> SourceFiles:
        with upstream_errors():
            return await self._files(key, qid)

    async def _files(self, key: str, qid: str) -> SourceFiles:
        media: Path | RangedSource | None = self._media.get(key)
        vtt = self._vtt.get(key)
        if media is None:
            media = self._live_ranged(key)
        if media is None:
            self.fetches += 1
            media = await self._fetch_media(key, qid)
            if self._vtt_prefix is not None:
                vtt = await self._fetch_vtt(key, qid)
        elif isinstance(media, RangedSource) and media.complete:
            media = self._promote(key, media)
        return SourceFiles(key=key, qid=qid, media=media, vtt=vtt)

    async def _fetch_media(self, key: str, qid: str) -> Path | RangedSource:
        assert self._media_prefix is not None
        url = upstream_url(self._media_prefix, qid)
        got: Fetched | Head | None
        if self._ranges is None:
            got = await self._fetcher.fetch(url, max_bytes=self._max_bytes,
                                            what="upstream media")
        else:
            got = await self._fetcher.fetch_head(url, max_bytes=self._max_bytes,
                                                 head=self._ranges.block_size,
                                                 what="upstream media")
        assert got is not None
        if isinstance(got, Head):
            log.info("reading %s by range (%d bytes)", clip(qid), got.size)
            return self._open_ranged(key, got)
        try:
            media = self._media.put(key, got.path)
        finally:
            self._fetcher.release(got)
        log.info("fetched %s (%d bytes)", clip(qid), got.size)
        return media

    async def _fetch_vtt(self, key: str, qid: str) -> Path | None:
        assert self._vtt_prefix is not None
        fetched = await self._fetcher.fetch(upstream_url(self._vtt_prefix, qid),
                                            max_bytes=self._max_vtt_bytes, optional=True,
                                            what="upstream subtitles")
        if fetched is None:
            self._vtt.remove(key)
            return None
        try:
            return self._vtt.put(key, fetched.path)
        finally:
            self._fetcher.release(fetched)

    def forget(self, key: str) -> None:
        """Drop the cached files of `key` (e.g. they proved not to be media)."""
        self._drop_ranged(key)
        self._media.remove(key)
        self._vtt.remove(key)

    # -- ranged sources ------------------------------------------------------------

    def _open_ranged(self, key: str, head: Head) -> RangedSource:
        assert self._ranges is not None
        for stale in [k for k, r in self._ranged.items() if not r.source.exists()]:
            self._drop_ranged(stale)
        entry = f"{key}-r{secrets.token_hex(4)}"
        sparse = self._fetcher.temp_dir / f"fetch-{secrets.token_hex(8)}.part"
        fd = os.open(sparse, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, head.size)  # a hole: no disk used until blocks are written
        finally:
            os.close(fd)
        path = self._media.put(entry, sparse)  # unlinks it when it can't fit
        try:
            source = RangedSource(client=self._fetcher.client, head=head, path=path,
                                  block_size=self._ranges.block_size,
                                  read_ahead=self._ranges.read_ahead,
                                  deadline=self._fetcher.deadline,
                                  background=self._read_ahead)
        except BaseException:
            self._media.remove(entry)
            raise
        self._ranged[key] = _Ranged(entry, source)
        return source

    def _live_ranged(self, key: str) -> RangedSource | None:
        ranged = self._ranged.get(key)
        if ranged is None:
            return None
        if ranged.source.exists() and self._media.get(ranged.entry) is not None:
            return ranged.source
        self._drop_ranged(key)
        return None

    def _promote(self, key: str, source: RangedSource) -> Path | RangedSource:
        """Every block is in: the sparse file becomes the ordinary cache entry."""
        ranged = self._ranged.pop(key)
        moving = self._fetcher.temp_dir / f"fetch-{secrets.token_hex(8)}.part"
        try:
            os.replace(source.path, moving)  # out of the cache, then in under its key
        except FileNotFoundError:
            return source  # evicted meanwhile: its readers keep the open file
        self._media.remove(ranged.entry)
        path = self._media.put(key, moving)
        source.moved(path)
        log.info("%s is complete: cached whole", clip(key))
        return path

    def _drop_ranged(self, key: str) -> None:
        ranged = self._ranged.pop(key, None)
        if ranged is not None:
            self._media.remove(ranged.entry)

    def _clear_stale_ranged(self) -> None:
        """Sparse files left by an earlier run have lost their block maps."""
        for path in self._media.root.iterdir():
            if _RANGED.match(path.name):
                self._media.remove(path.name)
