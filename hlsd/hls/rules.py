"""hlsd's own spec rule checks for playlists and WebVTT segments.

Every test in the project runs these on every playlist it fetches, next to the `m3u8`
library (whose failures are reported as rule "m3u8-parse"). Each Violation names a
short, stable rule id; the RFC 8216 / rfc8216bis rule behind each id is in the module
that reports it: `document` (every playlist), `rules_media`, `rules_live` (two fetches
of one playlist), `rules_master` and `webvtt`.

Most ids mark a MUST of the spec. A few mark a SHOULD that hlsd holds itself to:
"codecs-missing", "resolution-missing", "average-bandwidth"; pass them in
`assert_valid(ignore=...)` when checking playlists hlsd did not write.
"""

from __future__ import annotations

from collections.abc import Collection

from hlsd.hls.lines import Tag, lex
from hlsd.hls.rules_live import compare_media
from hlsd.hls.rules_master import check_master
from hlsd.hls.rules_media import scan_media
from hlsd.hls.tags import MASTER_MARKERS
from hlsd.hls.violation import Violation
from hlsd.hls.webvtt import check_webvtt_segment

__all__ = [
    "Violation",
    "assert_valid",
    "check_master_playlist",
    "check_media_playlist",
    "check_playlist",
    "check_webvtt_segment",
    "is_master_playlist",
]


def is_master_playlist(text: str) -> bool:
    """True when `text` has tags only a master playlist holds (EXT-X-STREAM-INF, ...)."""
    items, _ = lex(text)
    return any(isinstance(item, Tag) and item.name in MASTER_MARKERS for item in items)


def check_media_playlist(
    text: str, *, live: bool | None = None, previous: str | None = None
) -> list[Violation]:
    """Check a media playlist.

    `live=True` asserts it is a live playlist: no EXT-X-PLAYLIST-TYPE, no EXT-X-ENDLIST.
    `live=False` asserts it is finished: EXT-X-ENDLIST present. `previous` is an earlier
    fetch of the same playlist, to check how it changed (see `hlsd.hls.rules_live`).
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
