"""The checks of one playlist text (and of how it changed since an earlier fetch).

Each Violation names a short, stable rule id; the RFC 8216 / rfc8216bis rule behind each
id is in the module that reports it: `_document` (every playlist), `_media`, `_live`
(two fetches of one playlist), `_lowlatency` and `_lowlatency_rules` (Low-Latency HLS in
one playlist), `_lowlatency_live` (between fetches, and against Delivery Directives),
`_master` and `_webvtt`.
"""

from __future__ import annotations

from collections.abc import Collection

from hlsd.hls.check._live import compare_media
from hlsd.hls.check._lowlatency_live import DeliveryDirectives, check_directives
from hlsd.hls.check._master import check_master
from hlsd.hls.check._media import scan_media
from hlsd.hls.check._violation import Violation
from hlsd.hls.parse import is_master_playlist

__all__ = [
    "assert_valid",
    "check_master_playlist",
    "check_media_playlist",
    "check_playlist",
]


def check_media_playlist(
    text: str, *, live: bool | None = None, previous: str | None = None,
    directives: DeliveryDirectives | None = None,
) -> list[Violation]:
    """Check a media playlist.

    `live=True` asserts it is a live playlist: no EXT-X-PLAYLIST-TYPE, no EXT-X-ENDLIST.
    `live=False` asserts it is finished: EXT-X-ENDLIST present. `previous` is an earlier
    fetch of the same playlist, to check how it changed (see `_live`). `directives`:
    what the request that fetched `text` asked for (`_HLS_msn`, `_HLS_part`,
    `_HLS_skip`; an empty one for a plain request), to check the answer fits it.
    """
    scan = scan_media(text)
    found = list(scan.violations)
    if live is True:
        if scan.playlist_type is not None:
            found.append(Violation("live-playlist-type",
                                   "a live playlist must not have EXT-X-PLAYLIST-TYPE"))
        if scan.endlist:
            found.append(Violation("live-endlist", "a live playlist must not have EXT-X-ENDLIST"))
    elif live is False and not scan.endlist:
        found.append(Violation("endlist-missing", "a finished playlist needs EXT-X-ENDLIST"))
    if previous is not None:
        found.extend(compare_media(scan_media(previous), scan))
    if directives is not None:
        found.extend(check_directives(scan, directives))
    return found


def check_master_playlist(text: str) -> list[Violation]:
    """Check a master (multivariant) playlist."""
    return check_master(text)


def check_playlist(
    text: str, *, live: bool | None = None, previous: str | None = None
) -> list[Violation]:
    """Check a master or media playlist, whichever `text` is. `live` and `previous`
    apply to media playlists only (see `check_media_playlist`)."""
    if is_master_playlist(text):
        return check_master_playlist(text)
    return check_media_playlist(text, live=live, previous=previous)


def assert_valid(
    text: str,
    *,
    live: bool | None = None,
    previous: str | None = None,
    ignore: Collection[str] = (),
) -> None:
    """Raise AssertionError listing every violation in `text`, except rules in `ignore`."""
    found = [
        v for v in check_playlist(text, live=live, previous=previous) if v.rule not in ignore
    ]
    if found:
        listing = "\n".join(f"  {violation}" for violation in found)
        raise AssertionError(f"{len(found)} playlist rule violation(s):\n{listing}\n{text}")
