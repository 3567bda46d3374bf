"""Token-gated playback, and playlists that carry a query token.

`TokenGate` admits a request holding a signed token bound to one subject
(`hlsd.auth.subjects`: ``live/<stream>``, ``recording/<id>``, ``asset/<id>``), from the
``x-gostreamer-token`` header, a bearer token or ``?token=``. Verified (subject, token)
pairs are remembered until they expire, so a player's steady requests do not repeat the
HMAC.

A token in ``?token=`` means the player cannot set headers (a native player), so every
URI in the playlists it gets carries the token too. `TokenPlaylists` makes those once
per (playlist version, token), keyed by the version's ETag, in a bounded cache.
"""

from __future__ import annotations

from urllib.parse import quote

from hlsd.auth.grants import GrantCache
from hlsd.auth.tokens import Expired, InvalidToken, TokenSigner
from hlsd.delivery.request import Request
from hlsd.delivery.resource import Refused
from hlsd.hls import Rendered, rendered, with_query
from hlsd.infra.cache import Cache, Caches

__all__ = ["TokenGate", "TokenPlaylists"]

MISSING = "a token is required (x-gostreamer-token, Bearer or ?token=)"


class TokenGate:
    def __init__(self, signer: TokenSigner, *, caches: Caches | None = None,
                 name: str = "grants") -> None:
        """With `caches`, its verified pairs are reported there under `name`."""
        self._signer = signer
        self._granted: GrantCache[bool] = GrantCache(now=signer.now, caches=caches, name=name)

    def admit(self, request: Request, subject: str) -> None:
        """Let `request` in (marking it private), or raise `Refused`: 401 without a
        token or with an expired one, 403 with one for something else."""
        token, in_query = request.token()
        if not token:
            raise Refused(401, MISSING)
        if not self._granted.get(subject, token):
            try:
                expires = self._signer.check_token(token, subject)
            except Expired:
                raise Refused(401, "token expired") from None
            except InvalidToken:
                raise Refused(403, "token is not valid for this stream") from None
            self._granted.put(subject, token, expires, True)
        request.admit(token if in_query else None)


class TokenPlaylists:
    """Playlists with a query token in their URIs, made once per (playlist ETag, token);
    never stale (an ETag names the playlist's bytes). With `caches`, reported there."""

    def __init__(self, max_entries: int = 4096, *, caches: Caches | None = None) -> None:
        self._made: Cache[tuple[str, str], Rendered] = Cache(
            "token-playlists", max_entries=max_entries)
        if caches is not None:
            caches.add(self._made)

    def with_token(self, playlist: Rendered, token: str) -> Rendered:
        key = (playlist.etag, token)
        made = self._made.get(key)
        if made is None:
            # Relative URIs only: our token must never travel to another host.
            made = rendered(with_query(playlist.body.decode(),
                                       "token=" + quote(token, safe=""), relative_only=True))
            self._made.put(key, made)
        return made
