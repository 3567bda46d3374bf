"""A playlist load as ``hlsd check`` reads it: its text (UTF-8, and known for a playlist
by its path or Content-Type, RFC 8216 §4), and findings reported once across loads."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from hlsd.client.checker_fetch import Fetched
from hlsd.client.checker_report import PlaylistReport
from hlsd.hls.check import Violation

__all__ = ["Seen", "add_new", "playlist_text"]

_PLAYLIST_TYPES = ("application/vnd.apple.mpegurl", "audio/mpegurl")

Seen = set[tuple[str, str]]
"""(rule, message) of the findings reported so far for one playlist."""


def playlist_text(playlist: PlaylistReport, fetched: Fetched, *, fetch: int = 1) -> str:
    """The playlist's text; its encoding and HTTP identification checked on first load."""
    try:
        text = fetched.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        if fetch == 1:
            playlist.add(Violation("utf-8", f"the playlist is not UTF-8 ({exc.reason} at "
                                            f"byte {exc.start})"))
        text = fetched.body.decode("utf-8", errors="replace")
    if fetch == 1 and not _identified(fetched):
        playlist.add(Violation(
            "playlist-content-type",
            f"the URL path does not end in .m3u8 or .m3u, and the Content-Type is "
            f"{fetched.content_type or 'missing'}, not application/vnd.apple.mpegurl "
            "or audio/mpegurl"))
    return text


def _identified(fetched: Fetched) -> bool:
    """RFC 8216 §4: a playlist is known by its path or by its Content-Type."""
    if urlsplit(fetched.url).path.lower().endswith((".m3u8", ".m3u")):
        return True
    media_type = (fetched.content_type or "").split(";", 1)[0].strip().lower()
    return media_type in _PLAYLIST_TYPES


def add_new(playlist: PlaylistReport, violations: Iterable[Violation], seen: Seen, *,
            fetch: int) -> None:
    """Report violations not reported at an earlier load: a reload repeats the faults of
    the text it shares with the load before."""
    for violation in violations:
        key = (violation.rule, violation.message)
        if key not in seen:
            seen.add(key)
            playlist.add(violation, fetch=fetch)
