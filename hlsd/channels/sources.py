"""Resolve a channel item's source reference into a `Program`, once, when it is added.

Two kinds of source are HLS VODs read here: an external URL (`resolve_url`, over
HTTP) and a playlist under the library folder (`resolve_library`, from disk). Both go
through the same parsing and checks; they differ only in how a playlist is loaded and
how a URI in it is located (an absolute URL, or a path relative to the library root).

A source becomes a channel item only if the channel can replay it exactly as the
source's own player would: finished (EXT-X-ENDLIST), clear (no EXT-X-KEY), whole
segment files, one initialization section, no discontinuities, muxed audio, and
variants cut at the same instants. Anything else is refused here, with a message meant
for the API client who asked, rather than played wrong later.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from hlsd.channels.program import ALIGNMENT_TOLERANCE_US, Program, ProgramVariant, SourceKind
from hlsd.hls import (
    MasterPlaylist,
    MediaPlaylist,
    MediaType,
    PlaylistError,
    PlaylistType,
    VariantStream,
    is_master_playlist,
    parse_master,
    parse_media,
)
from hlsd.infra.bounded import read_file, read_response_async
from hlsd.infra.guarded_http import FetchRefused

__all__ = [
    "MAX_VARIANTS",
    "UNDECLARED_BANDWIDTH",
    "InvalidSourcePath",
    "SourceRefused",
    "SourceUnavailable",
    "SourceUnusable",
    "library_file",
    "resolve_library",
    "resolve_url",
]

UNDECLARED_BANDWIDTH = 3_000_000
"""BANDWIDTH given to a source that is a media playlist alone, which declares none.
Measuring it would mean reading every segment. It errs high on purpose: BANDWIDTH is
a peak, and a player that believes a stream needs more than it does merely switches up
later, while one that believes it needs less stalls."""

MAX_VARIANTS = 32
"""More variants than any real ladder has: a master listing more is refused rather
than fetched."""

_CONCURRENT_FETCHES = 4


class SourceUnavailable(Exception):
    """The source cannot be read now (404, refused, timeout, not HLS; a source too big
    is `infra.bounded.TooLarge`).

    str() is a clear message for an API client."""


class SourceRefused(SourceUnavailable):
    """The URL leads where channels may not fetch from (the outbound policy: loopback,
    private, link-local, ... unless ``fetch.allow`` allows it). Already logged."""


class SourceUnusable(Exception):
    """The source was read but cannot be a channel item (live playlist without ENDLIST,
    encrypted, variants not segment-aligned, no segments)."""


class InvalidSourcePath(ValueError):
    """A library path that is absolute, or leads outside the library folder."""


# -- shared: parse and check -----------------------------------------------------------

_Locate = Callable[[str, str], str]
"""`locate(base, uri)`: where `uri`, read in the playlist at `base`, points, in the
form a `ProgramVariant` stores; SourceUnusable if it points somewhere it must not."""


def _text(body: bytes, where: str) -> str:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SourceUnavailable(f"{where} is not an HLS playlist (not UTF-8 text)") from error
    if text.lstrip(" \t\r\n").split("\n", 1)[0].strip() != "#EXTM3U":
        # An HTML error page or a media file: the wrong thing answered, which may be
        # fixed at the source, unlike a playlist that is read and refused.
        raise SourceUnavailable(f"{where} is not an HLS playlist (it does not start "
                                "with #EXTM3U)")
    return text


def _top(text: str, where: str) -> MasterPlaylist | MediaPlaylist:
    return _parse_master(text, where) if is_master_playlist(text) else _parse_media(text, where)


def _parse_master(text: str, where: str) -> MasterPlaylist:
    try:
        master = parse_master(text)
    except PlaylistError as error:
        raise SourceUnusable(f"{where}: {error}") from error
    for rendition in master.renditions:
        if rendition.uri is not None and rendition.type in (MediaType.AUDIO, MediaType.VIDEO):
            # A channel plays one playlist per variant; a separate rendition would need
            # its own aligned timeline, which channels do not carry yet.
            raise SourceUnusable(
                f"{where}: alternative {rendition.type.value.lower()} renditions "
                f"(EXT-X-MEDIA {rendition.name!r}) are not supported; only variants with "
                "muxed audio can be a channel item")
    if len(master.variants) > MAX_VARIANTS:
        raise SourceUnusable(f"{where} has {len(master.variants)} variants, more than "
                             f"the {MAX_VARIANTS} a channel item may have")
    return master


def _parse_media(text: str, where: str) -> MediaPlaylist:
    try:
        playlist = parse_media(text)
    except PlaylistError as error:
        raise SourceUnusable(f"{where}: {error}") from error
    if not playlist.endlist:
        # A finished EVENT playlist is accepted: once ENDLIST is there it cannot change.
        kind = "an unfinished VOD" if playlist.playlist_type is PlaylistType.VOD else "a live"
        raise SourceUnusable(f"{where} is {kind} playlist (no EXT-X-ENDLIST); only finished "
                             "VOD playlists can be a channel item")
    if playlist.i_frames_only:
        raise SourceUnusable(f"{where} is an I-frame playlist, not a playable one")
    if not playlist.segments:
        raise SourceUnusable(f"{where} has no segments")
    if playlist.init is not None and playlist.init.byterange is not None:
        raise SourceUnusable(f"{where}: byte-range EXT-X-MAP is not supported yet")
    for n, segment in enumerate(playlist.segments):
        what = f"{where}: segment {n} ({segment.uri})"
        if segment.byterange is not None:
            raise SourceUnusable(f"{what} is a byte range (EXT-X-BYTERANGE); only whole "
                                 "segment files are supported yet")
        if segment.discontinuity:
            raise SourceUnusable(f"{what} follows an EXT-X-DISCONTINUITY; sources with "
                                 "discontinuities inside are not supported")
        if segment.init is not None:
            raise SourceUnusable(f"{what} changes EXT-X-MAP; one initialization section "
                                 "per variant is supported")
        if segment.gap:
            raise SourceUnusable(f"{what} is marked EXT-X-GAP")
        if round(segment.duration * 1_000_000) <= 0:
            raise SourceUnusable(f"{what} has a zero duration")
    return playlist


def _variant(stream: VariantStream | None, playlist: MediaPlaylist, base: str,
             locate: _Locate) -> ProgramVariant:
    """`stream` is what the master says of the variant; None for a media playlist alone."""
    init = None if playlist.init is None else locate(base, playlist.init.uri)
    return ProgramVariant(
        bandwidth=UNDECLARED_BANDWIDTH if stream is None else stream.bandwidth,
        average_bandwidth=None if stream is None else stream.average_bandwidth,
        codecs=None if stream is None else stream.codecs,
        resolution=None if stream is None else stream.resolution,
        frame_rate=None if stream is None else stream.frame_rate,
        durations_us=tuple(round(s.duration * 1_000_000) for s in playlist.segments),
        uris=tuple(locate(base, s.uri) for s in playlist.segments),
        init=init,
    )


def _program(kind: SourceKind, ref: str, variants: Sequence[tuple[ProgramVariant, str]]) -> Program:
    """`variants` pairs each variant with where its media playlist is, for messages."""
    ordered = sorted(variants, key=lambda pair: -pair[0].bandwidth)
    grid, grid_where = ordered[0]
    for variant, where in ordered[1:]:
        if len(variant.durations_us) != len(grid.durations_us):
            raise SourceUnusable(
                f"variant {where} has {len(variant.durations_us)} segments where {grid_where} "
                f"has {len(grid.durations_us)}: the variants are not segment-aligned")
        for n, (mine, theirs) in enumerate(zip(variant.durations_us, grid.durations_us,
                                               strict=True)):
            if abs(mine - theirs) > ALIGNMENT_TOLERANCE_US:
                raise SourceUnusable(
                    f"segment {n} of variant {where} lasts {mine / 1e6:.3f} s where "
                    f"{grid_where}'s lasts {theirs / 1e6:.3f} s: the variants are not "
                    "segment-aligned")
    try:
        return Program(kind=kind, ref=ref, variants=tuple(v for v, _ in ordered))
    except ValueError as error:  # the checks above should leave nothing for it to find
        raise SourceUnusable(f"{ref}: {error}") from error


# -- URL -------------------------------------------------------------------------------


def _is_http(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # an unclosed IPv6 bracket, for one
        return False


def _locate_url(base: str, uri: str) -> str:
    url = urljoin(base, uri)
    if not _is_http(url):
        # Players fetch these from the channel's playlists: only web URLs may pass.
        raise SourceUnusable(f"{base}: {uri!r} is not an http(s) URL")
    return url


async def _fetch(client: httpx.AsyncClient, url: str, limit: int) -> tuple[str, str]:
    """The playlist at `url` and the URL it was finally read from (after redirects,
    which the client follows or not), against which its URIs resolve."""
    body, final = await fetch_bounded(client, url, limit, what="a playlist")
    return _text(body, url), final


async def fetch_bounded(client: httpx.AsyncClient, url: str, limit: int, *,
                        what: str = "a segment") -> tuple[bytes, str]:
    """The body at `url` (at most `limit` bytes, refused as soon as it passes them:
    `TooLarge`) and the URL it was finally read from; `SourceUnavailable` (or
    `SourceUnusable` for a URL that is none) says why not."""
    try:
        async with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise SourceUnavailable(f"{url} answered HTTP {response.status_code}")
            body = await read_response_async(response, limit, what=f"{what} at {url}")
            final = str(response.url)
    except FetchRefused as error:  # the client is a guarded one
        raise SourceRefused(str(error)) from error
    except httpx.TimeoutException as error:
        raise SourceUnavailable(f"{url} did not answer in time") from error
    except httpx.HTTPError as error:
        reason = str(error) or type(error).__name__
        raise SourceUnavailable(f"{url} could not be read: {reason}") from error
    except httpx.InvalidURL as error:
        raise SourceUnusable(f"{url!r} is not a valid URL: {error}") from error
    return body, final


async def _fetch_all(client: httpx.AsyncClient, urls: Sequence[str],
                     limit: int) -> list[tuple[str, str]]:
    gate = asyncio.Semaphore(_CONCURRENT_FETCHES)

    async def one(url: str) -> tuple[str, str]:
        async with gate:
            return await _fetch(client, url, limit)

    tasks = [asyncio.create_task(one(url)) for url in urls]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        # The first failure decides; the others are not worth waiting for.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def resolve_url(url: str, *, client: httpx.AsyncClient,
                      max_playlist_bytes: int = 4 * 1024 * 1024) -> Program:
    """The `Program` of the HLS VOD at `url`, a master or a media playlist.

    Segment (and init) URIs are absolute URLs. Timeouts and redirects are the
    `client`'s; each playlist is read up to `max_playlist_bytes`. Raises
    SourceUnavailable or SourceUnusable.
    """
    if not _is_http(url):
        raise SourceUnusable(f"{url!r} is not an http(s) URL")
    text, base = await _fetch(client, url, max_playlist_bytes)
    top = _top(text, url)
    if isinstance(top, MediaPlaylist):
        return _program(SourceKind.URL, url, [(_variant(None, top, base, _locate_url), url)])
    locations = [_locate_url(base, stream.uri) for stream in top.variants]
    fetched = await _fetch_all(client, locations, max_playlist_bytes)
    variants = [
        (_variant(stream, _parse_media(media_text, where), media_base, _locate_url), where)
        for stream, where, (media_text, media_base) in zip(top.variants, locations, fetched,
                                                            strict=True)]
    return _program(SourceKind.URL, url, variants)


# -- library ---------------------------------------------------------------------------


def _normalise(relpath: str) -> str:
    """`relpath` as a normal posix path inside its root, or InvalidSourcePath."""
    if not relpath or "\x00" in relpath or "\\" in relpath:
        raise InvalidSourcePath(f"{relpath!r} is not a library path")
    if PurePosixPath(relpath).is_absolute():
        raise InvalidSourcePath(f"{relpath!r} is absolute; library paths are relative "
                                "to the library folder")
    normal = posixpath.normpath(relpath)
    if normal == "." or normal == ".." or normal.startswith("../"):
        raise InvalidSourcePath(f"{relpath!r} leads outside the library folder")
    return normal


def _inside(root: Path, normal: str) -> Path:
    """The real path of `root/normal`, which must stay under the real root (symlinks
    resolved), else InvalidSourcePath."""
    real_root = root.resolve()
    target = (real_root / normal).resolve()
    if not target.is_relative_to(real_root):
        raise InvalidSourcePath(f"{normal!r} leads outside the library folder")
    return target


def library_file(root: Path, relpath: str) -> Path:
    """The file to serve for a stored library URI, checked to be inside `root`
    (InvalidSourcePath otherwise). Whether it exists is the caller's to find out."""
    return _inside(root, _normalise(relpath))


def _library_locator(root: Path) -> _Locate:
    def locate(base: str, uri: str) -> str:
        try:
            parts = urlsplit(uri)
        except ValueError as error:
            raise SourceUnusable(f"{base}: {uri!r} is not a valid URI") from error
        if parts.scheme or parts.netloc:
            raise SourceUnusable(f"{base}: {uri!r} is an absolute URL; a library source "
                                 "refers to its files by relative paths")
        # A URI's path is percent-encoded; the file's name is not.
        path = unquote(parts.path)
        if not path or path.startswith("/"):
            raise SourceUnusable(f"{base}: {uri!r} is not a relative path")
        joined = posixpath.join(posixpath.dirname(base), path)
        try:
            normal = _normalise(joined)
            real = _inside(root, normal)
        except InvalidSourcePath as error:
            raise SourceUnusable(f"{base}: the URI {uri!r} is refused: {error}") from error
        if not real.is_file():
            raise SourceUnusable(f"{base}: {uri!r} does not exist in the library")
        return normal

    return locate


def _read(root: Path, normal: str, limit: int) -> str:
    return _text(read_bounded(_inside(root, normal), limit, name=normal, what="a playlist"),
                 normal)


def read_bounded(path: Path, limit: int, *, name: str, what: str = "a segment") -> bytes:
    """The file at `path` (at most `limit` bytes, else `TooLarge`; blocking, for a
    thread), or `SourceUnavailable` naming it `name`."""
    if not path.exists():
        raise SourceUnavailable(f"{name} does not exist in the library")
    if not path.is_file():
        # Opening a FIFO or a device would block or never end.
        raise SourceUnavailable(f"{name} is not a file (a folder?), so not {what}")
    try:
        return read_file(path, limit, what=f"{what} at {name}")
    except OSError as error:
        raise SourceUnavailable(f"{name} could not be read: {error.strerror}") from error


def resolve_library(root: Path, relpath: str, *,
                    max_playlist_bytes: int = 4 * 1024 * 1024) -> Program:
    """The `Program` of the HLS VOD at `relpath` under the library folder `root`.

    Segment (and init) URIs are posix paths relative to `root`, each checked to be a
    file inside it. Blocking: run it in a thread. Raises InvalidSourcePath for a path
    that is absolute or leads outside `root`, SourceUnavailable when the playlist is
    missing, unreadable or too big, SourceUnusable as `resolve_url` does.
    """
    ref = _normalise(relpath)
    locate = _library_locator(root)
    top = _top(_read(root, ref, max_playlist_bytes), ref)
    if isinstance(top, MediaPlaylist):
        return _program(SourceKind.LIBRARY, ref, [(_variant(None, top, ref, locate), ref)])
    variants = []
    for stream in top.variants:
        where = locate(ref, stream.uri)
        text = _read(root, where, max_playlist_bytes)
        variants.append((_variant(stream, _parse_media(text, where), where, locate), where))
    return _program(SourceKind.LIBRARY, ref, variants)
