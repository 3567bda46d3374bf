"""``hlsd check``: fetch an HLS stream and check it against RFC 8216, as Apple's
mediastreamvalidator does.

The URL is fetched; a master playlist is checked, then every media playlist it names
(variants, I-frame playlists, EXT-X-MEDIA renditions), concurrently. A live media
playlist (no EXT-X-ENDLIST) is reloaded as a client reloads it (RFC 8216 §6.3.4: a
target duration after a load that found it changed, half of one after a load that did
not), and each reload is checked against the one before (§6.2.1-6.2.2). With
`CheckOptions.segments`, the first and last few segments of each media playlist are
fetched and measured (`checker_segments`).

The URL comes from the operator, and so do the URLs the playlists lead to, as for any
player; still every answer is bounded: bodies, time per request, playlists checked,
reload waits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from hlsd import __version__
from hlsd.client.checker_fetch import Fetched, FetchFailed, fetch
from hlsd.client.checker_loads import Seen, add_new, playlist_text
from hlsd.client.checker_lowlatency import LowLatencyReloads, directives_of
from hlsd.client.checker_report import PlaylistKind, PlaylistReport, Report
from hlsd.client.checker_segments import check_segments
from hlsd.hls import is_master_playlist
from hlsd.hls.check import (
    Violation,
    check_master_playlist,
    check_media_playlist,
    master_references,
    scan_media,
)

__all__ = ["CheckOptions", "Checker", "Unreachable"]

_DEFAULT_TARGET = 6.0
"""Reload interval for a playlist with no usable EXT-X-TARGETDURATION (reported already)."""


class Unreachable(Exception):
    """The URL given gave nothing to check (no connection, an error status, too large).
    The message is one line, fit for the user."""


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """`reloads`: fetches of each live media playlist after the first (blocking ones for
    a Low-Latency playlist, which also gets one delta request). `segments`: fetch and
    measure `segments_per_end` segments at each end of every media playlist."""

    reloads: int = 3
    segments: bool = False
    segments_per_end: int = 2
    max_playlists: int = 64
    max_playlist_bytes: int = 8 * 1024 * 1024
    max_segment_bytes: int = 64 * 1024 * 1024
    max_reload_wait: float = 60.0
    concurrency: int = 8
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    playlist_deadline: float = 30.0
    segment_deadline: float = 60.0


Sleep = Callable[[float], Awaitable[None]]


class Checker:
    """Check the stream at a URL: `await Checker(options).check(url)`.

    `client` (default: one of its own) lets a caller share or configure the HTTP client;
    `sleep` and `clock` are there for tests of the reload timing. `progress` is told
    what is being fetched, for a status line."""

    def __init__(self, options: CheckOptions | None = None, *,
                 client: httpx.AsyncClient | None = None, sleep: Sleep = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 progress: Callable[[str], None] | None = None) -> None:
        self.options = options or CheckOptions()
        self._client = client
        self._sleep = sleep
        self._clock = clock
        self._progress = progress or (lambda _: None)

    async def check(self, url: str) -> Report:
        """Check the stream; raise Unreachable when `url` itself cannot be fetched."""
        if self._client is not None:
            return await self._check(self._client, url)
        options = self.options
        async with httpx.AsyncClient(
                follow_redirects=True, max_redirects=5,
                timeout=httpx.Timeout(options.read_timeout, connect=options.connect_timeout),
                limits=httpx.Limits(max_connections=options.concurrency),
                headers={"user-agent": f"hlsd-check/{__version__}"}) as client:
            return await self._check(client, url)

    async def _check(self, client: httpx.AsyncClient, url: str) -> Report:
        self._progress(f"fetching {url}")
        try:
            first = await self._fetch_playlist(client, url)
        except FetchFailed as exc:
            raise Unreachable(f"cannot fetch {url}: {exc}") from None
        if not first.ok:
            raise Unreachable(f"cannot fetch {url}: HTTP {first.status}")
        report = Report(url)
        top = PlaylistReport(url, fetches=1)
        report.playlists.append(top)
        text = playlist_text(top, first)
        if not is_master_playlist(text):
            await self._check_media(client, report, top, first, text)
            return report
        top.kind = PlaylistKind.MASTER
        for violation in check_master_playlist(text):
            top.add(violation)
        media = await self._check_variants(client, report, top, first.url, text)
        report.playlists.extend(media)
        return report

    async def _check_variants(self, client: httpx.AsyncClient, report: Report,
                              master: PlaylistReport, base: str, text: str
                              ) -> list[PlaylistReport]:
        """Check each media playlist the master names once, in the master's order."""
        lines: dict[str, int] = {}
        for reference in master_references(text):
            lines.setdefault(urljoin(base, reference.uri), reference.line)
        urls = list(lines)
        limit = self.options.max_playlists
        if len(urls) > limit:
            report.notes.append(f"{len(urls) - limit} more media playlists not checked "
                                f"(at most {limit})")
            urls = urls[:limit]
        gate = asyncio.Semaphore(self.options.concurrency)

        async def one(url: str) -> PlaylistReport | None:
            async with gate:
                return await self._check_named(client, report, master, url, lines[url])

        checked = await asyncio.gather(*(one(url) for url in urls))
        # Fetches end in any order: the master's findings read in its line order.
        master.findings.sort(key=lambda finding: (finding.fetch, finding.violation.line or 0))
        return [playlist for playlist in checked if playlist is not None]

    async def _check_named(self, client: httpx.AsyncClient, report: Report,
                           master: PlaylistReport, url: str, line: int
                           ) -> PlaylistReport | None:
        """A media playlist a master names: what goes wrong fetching it is the master's
        finding, at the line naming it."""
        try:
            fetched = await self._fetch_playlist(client, url)
        except FetchFailed as exc:
            master.add(Violation("playlist-unavailable", f"{url}: {exc}", line))
            return None
        if not fetched.ok:
            master.add(Violation("playlist-unavailable",
                                 f"{url} answered HTTP {fetched.status}", line))
            return None
        playlist = PlaylistReport(url, fetches=1)
        text = playlist_text(playlist, fetched)
        if is_master_playlist(text):
            master.add(Violation("playlist-kind",
                                 f"{url} is a master playlist, not a media playlist", line))
            return None
        await self._check_media(client, report, playlist, fetched, text)
        return playlist

    async def _check_media(self, client: httpx.AsyncClient, report: Report,
                           playlist: PlaylistReport, first: Fetched, text: str) -> None:
        playlist.kind = PlaylistKind.MEDIA
        scan = scan_media(text)
        seen: Seen = set()
        # The URL given may ask for a blocking reload or a delta update itself.
        asked = directives_of(playlist.url)
        add_new(playlist, check_media_playlist(text, directives=asked), seen, fetch=1)
        playlist.live = not scan.endlist
        if playlist.live and self.options.reloads > 0:
            low_latency = LowLatencyReloads(client, self.options, report, playlist, seen,
                                            self._progress)
            if scan.can_block_reload:
                playlist.low_latency = True
                text = await low_latency.run(text, first.url)
            else:
                text = await self._reload(client, playlist, text, scan.target_duration, seen)
                last = scan_media(text)
                if not last.endlist:
                    await low_latency.check_delta(text, last)
            scan = scan_media(text)
        if self.options.segments:
            self._progress(f"fetching segments of {playlist.url}")
            await check_segments(client, report, playlist, first.url, scan, self.options)

    async def _reload(self, client: httpx.AsyncClient, playlist: PlaylistReport, text: str,
                      target: int | None, seen: Seen) -> str:
        """Reload a live playlist `options.reloads` times (fewer if it ends), checking
        each load against the one before; return the last text read."""
        interval = min(float(target) if target else _DEFAULT_TARGET,
                       self.options.max_reload_wait)
        started = began = self._clock()
        changed, ever_changed = True, False
        for number in range(2, self.options.reloads + 2):
            wait = interval if changed else interval / 2
            await self._sleep(max(0.0, began + wait - self._clock()))
            self._progress(f"reloading {playlist.url} ({number - 1}/{self.options.reloads})")
            began = self._clock()
            playlist.fetches = number
            try:
                fetched = await self._fetch_playlist(client, playlist.url)
            except FetchFailed as exc:
                playlist.add(Violation("playlist-unavailable", f"a reload failed: {exc}"),
                             fetch=number)
                changed = False
                continue
            if not fetched.ok:
                playlist.add(Violation("playlist-unavailable",
                                       f"a reload answered HTTP {fetched.status}"),
                             fetch=number)
                changed = False
                continue
            current = playlist_text(playlist, fetched, fetch=number)
            changed = current != text
            ever_changed |= changed
            add_new(playlist, check_media_playlist(current, previous=text,
                                                   directives=directives_of(playlist.url)),
                    seen, fetch=number)
            text = current
            if scan_media(current).endlist:
                return text
        stalled = self._clock() - started
        if not ever_changed and target and stalled >= 1.5 * target:
            playlist.add(Violation(
                "live-stalled",
                f"the playlist has no EXT-X-ENDLIST but did not change in {stalled:.1f} s "
                f"({self.options.reloads} reloads)"), fetch=self.options.reloads + 1)
        return text

    async def _fetch_playlist(self, client: httpx.AsyncClient, url: str) -> Fetched:
        return await fetch(client, url, limit=self.options.max_playlist_bytes,
                           deadline=self.options.playlist_deadline)
