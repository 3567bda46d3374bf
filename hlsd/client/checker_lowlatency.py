"""``hlsd check`` on a Low-Latency HLS media playlist (rfc8216bis §6.2.5-6.2.6, §6.3.7-8).

A playlist with CAN-BLOCK-RELOAD=YES is reloaded as a low-latency client reloads it:
each reload asks with `_HLS_msn`/`_HLS_part` for the part after the newest one (a
blocking request the server holds until it can answer), and its answer must hold that
part. With each reload the hinted part (EXT-X-PRELOAD-HINT TYPE=PART) is asked for too,
at once, as clients do: once the next playlist lists it, its request must succeed; a
request still held, or for a part the server chose not to publish, is no fault. The
newest part listed at first must be there at once. A playlist with CAN-SKIP-UNTIL is
asked once more, for a delta update (`_HLS_skip`), checked against the full playlist.

Every request is bounded (bodies, time); there are `CheckOptions.reloads` blocking
reloads at most, and one delta request. The query of the playlist's URL (an access
token) is kept on every request made from it, with the directives added and the whole
query in UTF-8 order (§6.3.2).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urljoin, urlsplit, urlunsplit

import httpx

from hlsd.client.checker_fetch import BodyTooLarge, Fetched, FetchFailed, fetch
from hlsd.client.checker_loads import Seen, add_new, playlist_text
from hlsd.client.checker_report import PlaylistReport, Report
from hlsd.hls import ByteRange
from hlsd.hls.check import (
    DeliveryDirectives,
    MediaScan,
    PreloadHint,
    ScannedPart,
    SkipRequest,
    Violation,
    check_media_playlist,
    scan_media,
)
from hlsd.hls.values import is_decimal_integer, parse_byterange

if TYPE_CHECKING:
    from hlsd.client.checker import CheckOptions

__all__ = ["LowLatencyReloads", "directive_url", "directives_of"]

# RFC 8673: the last byte of a range whose end is not known yet (§4.4.5.3).
_LAST_BYTE = 2**53 - 1


def directive_url(url: str, asked: DeliveryDirectives) -> str:
    """`url` with the Delivery Directives `asked` in its query, its other parameters
    kept as they are (any _HLS_ one, reserved for directives, replaced), sorted by
    name: clients "MUST ensure that all query parameters appear in UTF-8 order"."""
    split = urlsplit(url)
    pairs = [pair for pair in split.query.split("&") if pair and not pair.startswith("_HLS_")]
    if asked.msn is not None:
        pairs.append(f"_HLS_msn={asked.msn}")
    if asked.part is not None:
        pairs.append(f"_HLS_part={asked.part}")
    if asked.skip is not None:
        pairs.append(f"_HLS_skip={asked.skip.value}")
    # Code point order is UTF-8 byte order; names compared alone keep a name's values
    # in the order they came.
    pairs.sort(key=lambda pair: pair.partition("=")[0])
    return urlunsplit(split._replace(query="&".join(pairs)))


def directives_of(url: str) -> DeliveryDirectives:
    """The Delivery Directives a URL asks for (one given to `hlsd check` may hold some);
    one that cannot be read is not asked for."""
    query = {name: values[-1] for name, values in parse_qs(urlsplit(url).query).items()}
    msn, part = query.get("_HLS_msn", ""), query.get("_HLS_part", "")
    skip = {option.value: option for option in SkipRequest}.get(query.get("_HLS_skip", ""))
    return DeliveryDirectives(
        msn=int(msn) if is_decimal_integer(msn) else None,
        part=int(part) if is_decimal_integer(part) and is_decimal_integer(msn) else None,
        skip=skip)


class LowLatencyReloads:
    """The reloads of one Low-Latency media playlist: `await run(text, base)`."""

    def __init__(self, client: httpx.AsyncClient, options: CheckOptions, report: Report,
                 playlist: PlaylistReport, seen: Seen,
                 progress: Callable[[str], None]) -> None:
        self._client = client
        self._options = options
        self._report = report
        self._playlist = playlist
        self._seen = seen
        self._progress = progress

    async def run(self, text: str, base: str) -> str:
        """Check the newest part of `text` (loaded from `base`), reload it blocking,
        ask for a delta update; return the last full playlist read."""
        scan = scan_media(text)
        await self._check_part(scan, base)
        for number in range(1, self._options.reloads + 1):
            if scan.endlist:
                return text
            wanted = scan.next_position
            self._progress(f"blocking reload of {self._playlist.url} for {wanted} "
                           f"({number}/{self._options.reloads})")
            loaded = await self._reload(text, scan, base,
                                        DeliveryDirectives(wanted.msn, wanted.part))
            if loaded is not None:
                text, scan, base = loaded
        await self.check_delta(text, scan)
        return text

    async def check_delta(self, text: str, scan: MediaScan) -> None:
        """Ask once for a delta update of a playlist that offers them (CAN-SKIP-UNTIL),
        blocking for the next part when the server blocks; check it against `text`."""
        control = scan.server_control
        if control is None or control.can_skip_until is None or scan.endlist:
            return
        skip = SkipRequest.V2 if control.can_skip_dateranges else SkipRequest.YES
        wanted = scan.next_position
        asked = (DeliveryDirectives(wanted.msn, wanted.part, skip) if scan.can_block_reload
                 else DeliveryDirectives(skip=skip))
        self._progress(f"asking {self._playlist.url} for a delta update")
        await self._load(text, asked)

    async def _reload(self, text: str, scan: MediaScan, base: str, asked: DeliveryDirectives
                      ) -> tuple[str, MediaScan, str] | None:
        hint = next((h for h in scan.preload_hints if h.type == "PART"), None)
        hinted = None if hint is None else asyncio.create_task(
            self._get(urljoin(base, hint.uri), _hint_range(hint), self._options.playlist_deadline))
        try:
            loaded = await self._load(text, asked)
            if loaded is not None and hint is not None and hinted is not None:
                await self._settle(hinted, hint, urljoin(base, hint.uri), loaded[1], loaded[2])
        finally:
            if hinted is not None and not hinted.done():
                hinted.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await hinted
        return loaded

    async def _load(self, previous: str, asked: DeliveryDirectives
                    ) -> tuple[str, MediaScan, str] | None:
        """Fetch the playlist with `asked`; check it against `previous` and `asked`."""
        playlist = self._playlist
        playlist.fetches += 1
        number = playlist.fetches
        url = directive_url(playlist.url, asked)
        what = "a delta request" if asked.skip is not None else "a blocking reload"
        try:
            fetched = await fetch(self._client, url, limit=self._options.max_playlist_bytes,
                                  deadline=self._options.playlist_deadline)
        except FetchFailed as exc:
            playlist.add(Violation("playlist-unavailable", f"{what} ({url}) failed: {exc}"),
                         fetch=number)
            return None
        if not fetched.ok:
            playlist.add(Violation("playlist-unavailable", f"{what} ({url}) answered HTTP "
                                   f"{fetched.status}"), fetch=number)
            return None
        current = playlist_text(playlist, fetched, fetch=number)
        add_new(playlist, check_media_playlist(current, previous=previous, directives=asked),
                self._seen, fetch=number)
        return current, scan_media(current), fetched.url

    async def _settle(self, hinted: asyncio.Task[Fetched | FetchFailed], hint: PreloadHint,
                      url: str, scan: MediaScan, base: str) -> None:
        """Once the playlist lists the hinted part, its request must have succeeded."""
        start = hint.byterange_start or 0
        published = next((part for part in scan.parts if urljoin(base, part.uri) == url
                          and _offset(part) in (None, start)), None)
        if published is None:
            return  # still held, or not to be published: both are allowed (§6.2.6)
        answer = await hinted
        where = f"the hinted part {hint.uri}"
        if isinstance(answer, BodyTooLarge):
            self._report.notes.append(f"{self._playlist.url}: {where} not checked: {answer}")
        elif isinstance(answer, FetchFailed):
            self._add(Violation("preload-hint-unavailable", f"{where}: {answer}",
                                published.line))
        elif not answer.ok:
            self._add(Violation("preload-hint-unavailable", f"{where} answered HTTP "
                                f"{answer.status}, but the playlist now lists it",
                                published.line))
        else:
            self._playlist.parts += 1

    async def _check_part(self, scan: MediaScan, base: str) -> None:
        """The newest part listed (with a known byte range) must be there at once."""
        part = next((p for p in reversed(scan.parts) if not p.gap and p.uri
                     and (p.byterange is None or _offset(p) is not None)), None)
        if part is None:
            return
        answer = await self._get(urljoin(base, part.uri), _part_range(part),
                                 self._options.segment_deadline)
        where = f"part {part.uri}"
        if isinstance(answer, BodyTooLarge):
            self._report.notes.append(f"{self._playlist.url}: {where} not checked: {answer}")
        elif isinstance(answer, FetchFailed):
            self._add(Violation("part-unavailable", f"{where}: {answer}", part.line))
        elif not answer.ok:
            self._add(Violation("part-unavailable", f"{where} answered HTTP {answer.status}",
                                part.line))
        else:
            self._playlist.parts += 1

    async def _get(self, url: str, byterange: ByteRange | None,
                   deadline: float) -> Fetched | FetchFailed:
        try:
            return await fetch(self._client, url, limit=self._options.max_segment_bytes,
                               deadline=deadline, byterange=byterange)
        except FetchFailed as exc:
            return exc

    def _add(self, violation: Violation) -> None:
        add_new(self._playlist, [violation], self._seen, fetch=self._playlist.fetches)


def _offset(part: ScannedPart) -> int | None:
    if part.byterange is None:
        return None
    try:
        return parse_byterange(part.byterange).offset
    except ValueError:
        return None


def _part_range(part: ScannedPart) -> ByteRange | None:
    if part.byterange is None:
        return None
    value = parse_byterange(part.byterange)
    return ByteRange(length=value.length, offset=value.offset)


def _hint_range(hint: PreloadHint) -> ByteRange | None:
    """The bytes a hint names: BYTERANGE-START (0) on, to BYTERANGE-LENGTH or to the end
    of the resource, still being written (§4.4.5.3)."""
    if hint.byterange_start is None and hint.byterange_length is None:
        return None
    start = hint.byterange_start or 0
    length = hint.byterange_length
    return ByteRange(length=_LAST_BYTE - start + 1 if length is None else length, offset=start)
