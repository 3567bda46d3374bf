"""Where a playback token comes from, and playlists that must carry it in their URIs.

A token in ``?token=`` means the player cannot set headers (a native player), so every
URI in the playlists it gets carries the token too. Those playlists are made once per
(playlist version, token), keyed by the version's ETag, in a bounded LRU.
"""

from __future__ import annotations

from collections import OrderedDict
from urllib.parse import parse_qs, quote

from starlette.types import Scope

from hlsd.auth.access import bearer
from hlsd.hls import Rendered, rendered, with_query

TOKEN_HEADER = b"x-gostreamer-token"
TOKEN_HEADERS = frozenset({TOKEN_HEADER, b"authorization"})


def request_token(scope: Scope, headers: dict[bytes, bytes]) -> tuple[str | None, bool]:
    """The token and whether it came in the query string."""
    given = headers.get(TOKEN_HEADER)
    if given:
        return given.decode("latin-1"), False
    auth = headers.get(b"authorization")
    if auth and (value := bearer(auth.decode("latin-1"))):
        return value, False
    if scope["query_string"]:
        values = parse_qs(scope["query_string"].decode("latin-1")).get("token")
        if values:
            return values[0], True
    return None, False


class TokenPlaylists:
    def __init__(self, max_entries: int = 4096) -> None:
        self._max = max_entries
        self._made: OrderedDict[tuple[str, str], Rendered] = OrderedDict()

    def with_token(self, playlist: Rendered, token: str) -> Rendered:
        key = (playlist.etag, token)
        made = self._made.get(key)
        if made is None:
            # Relative URIs only: our token must never travel to another host.
            made = rendered(with_query(playlist.body.decode(),
                                       "token=" + quote(token, safe=""), relative_only=True))
            self._made[key] = made
            if len(self._made) > self._max:
                self._made.popitem(last=False)
        else:
            self._made.move_to_end(key)
        return made
