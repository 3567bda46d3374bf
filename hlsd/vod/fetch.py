"""Fetches on-demand sources from the configured upstream into the temp dir.

The id is URL-encoded as one path segment, so no id can change the host or the path
prefix. Every fetch has timeouts (per read, and a deadline for the whole body), a size
limit and a status check, and its temp file is removed on every failure.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

from hlsd.vod.disk_lru import DiskBudget
from hlsd.vod.errors import InvalidSourceId, UpstreamFailed, UpstreamNotFound, UpstreamTimeout

_CHUNK = 1 << 20


def upstream_url(prefix: str, qid: str) -> str:
    """``{prefix}/{qid}`` with `qid` encoded as a single path segment."""
    if qid in {"", ".", ".."}:
        raise InvalidSourceId(f"invalid id: {qid!r}")
    return f"{prefix.rstrip('/')}/{quote(qid, safe='')}"


def make_client(*, connect_timeout: float, read_timeout: float,
                max_redirects: int) -> httpx.AsyncClient:
    timeout = httpx.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout,
                            pool=connect_timeout)
    return httpx.AsyncClient(
        timeout=timeout, follow_redirects=max_redirects > 0, max_redirects=max_redirects,
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=8),
        headers={"user-agent": "hlsd"},
    )


@dataclass(frozen=True, slots=True)
class Fetched:
    """A whole download in the temp dir, still counted against the temp budget."""

    path: Path
    size: int


class Fetcher:
    """Downloads a URL into a new file in `temp_dir`, bounded in size and time.

    Each chunk is reserved in `budget` (``cache.killsize.tempdir``) before it is
    written, so a full temp dir stops the download with InsufficientStorage.
    """

    def __init__(self, client: httpx.AsyncClient, temp_dir: Path, *, deadline: float,
                 budget: DiskBudget) -> None:
        self._client = client
        self._temp_dir = temp_dir
        self._deadline = deadline
        self._budget = budget

    async def fetch(self, url: str, *, max_bytes: int, optional: bool = False
                    ) -> Fetched | None:
        """Download `url` to a new temp file.

        With `optional`, a 404 returns None (e.g. a stream without subtitles). The
        caller owns the result and must `release` it once moved or used.
        """
        self._temp_dir.mkdir(parents=True, exist_ok=True)
        path = self._temp_dir / f"fetch-{secrets.token_hex(8)}.part"
        written = 0
        try:
            async with asyncio.timeout(self._deadline):
                async with self._client.stream("GET", url) as response:
                    if response.status_code == 404:
                        if optional:
                            return None
                        raise UpstreamNotFound("media not found upstream")
                    if response.status_code != 200:
                        raise UpstreamFailed(f"upstream answered {response.status_code}")
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > max_bytes:
                        raise UpstreamFailed(f"upstream media is larger than {max_bytes} bytes")
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as out:
                        async for chunk in response.aiter_bytes(_CHUNK):
                            if written + len(chunk) > max_bytes:
                                raise UpstreamFailed(
                                    f"upstream media is larger than {max_bytes} bytes")
                            self._budget.reserve(len(chunk))
                            written += len(chunk)
                            out.write(chunk)
            if not path.exists():
                path.touch(mode=0o600)
            return Fetched(path=path, size=written)
        except BaseException as exc:
            path.unlink(missing_ok=True)
            self._budget.release(written)
            if isinstance(exc, TimeoutError | httpx.TimeoutException):
                raise UpstreamTimeout("upstream timed out") from exc
            if isinstance(exc, httpx.HTTPError):
                raise UpstreamFailed(f"upstream unreachable ({type(exc).__name__})") from exc
            raise

    def release(self, fetched: Fetched) -> None:
        """`fetched` has left the temp dir (moved into a cache, or deleted)."""
        fetched.path.unlink(missing_ok=True)
        self._budget.release(fetched.size)
