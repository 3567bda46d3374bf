"""Token-gated playback: a signed token bound to one subject (``live/<stream>``,
``recording/<id>``), from the ``x-gostreamer-token`` header, a bearer token or
``?token=``. Verified (subject, token) pairs are remembered until they expire, so a
player's steady requests do not repeat the HMAC."""

from __future__ import annotations

from typing import NamedTuple

from starlette.types import Scope

from hlsd.api._query_token import TokenPlaylists, request_token
from hlsd.auth.grants import GrantCache
from hlsd.auth.tokens import Expired, InvalidToken, TokenSigner


def live_subject(stream: str) -> str:
    """What a live playback token is bound to."""
    return f"live/{stream}"


def recording_subject(recording_id: str) -> str:
    """What a recording playback token is bound to."""
    return f"recording/{recording_id}"


class Admission(NamedTuple):
    refusal: tuple[int, str] | None
    """(status, message) when the request may not play."""
    query_token: str | None
    """The token when it came as ``?token=``: the playlists served must carry it."""


class TokenGate:
    def __init__(self, signer: TokenSigner) -> None:
        self._signer = signer
        self._granted: GrantCache[bool] = GrantCache(now=signer.now)
        self.playlists = TokenPlaylists()

    def admit(self, scope: Scope, headers: dict[bytes, bytes], subject: str) -> Admission:
        token, in_query = request_token(scope, headers)
        if not token:
            return Admission((401, "a token is required (x-gostreamer-token, Bearer or "
                                   "?token=)"), None)
        if not self._granted.get(subject, token):
            try:
                expires = self._signer.check_token(token, subject)
            except Expired:
                return Admission((401, "token expired"), None)
            except InvalidToken:
                return Admission((403, "token is not valid for this stream"), None)
            self._granted.put(subject, token, expires, True)
        return Admission(None, token if in_query else None)
