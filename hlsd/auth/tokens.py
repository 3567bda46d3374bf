"""Signed, stateless stream ids (rids), batch ids and access tokens.

A rid carries the source id (qid) and the stream's expiry, signed; a token is bound to
one rid and carries its own expiry, signed. Nothing is stored, so both survive a
restart and verify on any node that shares the secret. Every comparison of a signature
is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from hlsd.auth.keys import derive_key

_RID_SIG_BYTES = 16
_TOKEN_SIG_BYTES = 32
MAX_RID_LENGTH = 4096
"""Characters of a rid: room for any qid of up to 1024 bytes (the largest
``packager.max_id_length``), even one all quotes and backslashes."""


class InvalidId(ValueError):
    """Not a rid this server issued: malformed, oversized or badly signed."""


class Expired(ValueError):
    """Well-formed and signed, but past its expiry."""


class InvalidToken(ValueError):
    """A token that is malformed, badly signed, or bound to another rid."""


@dataclass(frozen=True, kw_only=True, slots=True)
class StreamId:
    """What a rid says: the source it streams and until when."""

    rid: str
    qid: str
    expires_at: int
    batch: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    def __init__(self, root_secret: bytes, *, clock: Callable[[], float] = time.time) -> None:
        self._rid_key = derive_key(root_secret, "rid")
        self._batch_key = derive_key(root_secret, "batch")
        self._token_key = derive_key(root_secret, "token")
        self._clock = clock

    def now(self) -> int:
        return int(self._clock())

    # rids -----------------------------------------------------------------

    def issue_rid(self, qid: str, ttl: float, *, batch: str | None = None,
                  expires_at: int | None = None) -> StreamId:
        exp = expires_at if expires_at is not None else self.now() + max(1, round(ttl))
        claims: dict[str, object] = {"q": qid, "e": exp, "n": _b64(secrets.token_bytes(6))}
        if batch is not None:
            claims["b"] = batch
        # As UTF-8, not \u escapes: an id of non-ASCII text would be three times longer.
        payload = _b64(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
        sig = _b64(hmac.new(self._rid_key, payload.encode(), hashlib.sha256).digest()[
            :_RID_SIG_BYTES])
        rid = f"{payload}.{sig}"
        if len(rid) > MAX_RID_LENGTH:
            raise InvalidId("qid too long")
        return StreamId(rid=rid, qid=qid, expires_at=exp, batch=batch)

    def read_rid(self, rid: str, *, allow_expired: bool = False) -> StreamId:
        """Verify `rid`. Raises InvalidId, or Expired (unless `allow_expired`)."""
        if len(rid) > MAX_RID_LENGTH or rid.count(".") != 1:
            raise InvalidId("unknown stream")
        payload, sig = rid.split(".")
        expected = hmac.new(self._rid_key, payload.encode(), hashlib.sha256).digest()[
            :_RID_SIG_BYTES]
        try:
            given = _unb64(sig)
        except ValueError as exc:
            raise InvalidId("unknown stream") from exc
        if not hmac.compare_digest(expected, given):
            raise InvalidId("unknown stream")
        claims = json.loads(_unb64(payload))
        stream = StreamId(rid=rid, qid=str(claims["q"]), expires_at=int(claims["e"]),
                          batch=claims.get("b"))
        if not allow_expired and stream.expires_at <= self.now():
            raise Expired("stream expired")
        return stream

    # batches --------------------------------------------------------------

    def issue_batch(self, ttl: float) -> tuple[str, int]:
        exp = self.now() + max(1, round(ttl))
        payload = _b64(json.dumps({"e": exp, "n": _b64(secrets.token_bytes(9))},
                                  separators=(",", ":")).encode())
        sig = _b64(hmac.new(self._batch_key, payload.encode(), hashlib.sha256).digest()[
            :_RID_SIG_BYTES])
        return f"{payload}.{sig}", exp

    # tokens ---------------------------------------------------------------

    def issue_token(self, stream: StreamId, ttl: float) -> str:
        """A token for `stream`, valid for `ttl` seconds but never past the stream."""
        exp = min(self.now() + max(1, round(ttl)), stream.expires_at)
        return f"{exp}.{self._token_sig(stream.rid, exp)}"

    def issue_subject_token(self, subject: str, ttl: float) -> tuple[str, int]:
        """A token for any named subject (a live stream: ``live/<name>``), and its expiry."""
        exp = self.now() + max(1, round(ttl))
        return f"{exp}.{self._token_sig(subject, exp)}", exp

    def check_token(self, token: str, rid: str) -> int:
        """The token's expiry; raises InvalidToken or Expired unless it grants `rid` now."""
        exp_text, _, sig = token.partition(".")
        if not exp_text.isdigit() or len(exp_text) > 12 or not sig or len(sig) > 64:
            raise InvalidToken("malformed token")
        try:
            given = _unb64(sig)
        except ValueError as exc:
            raise InvalidToken("malformed token") from exc
        if not hmac.compare_digest(_unb64(self._token_sig(rid, int(exp_text))), given):
            raise InvalidToken("token is not valid for this stream")
        if int(exp_text) <= self.now():
            raise Expired("token expired")
        return int(exp_text)

    def _token_sig(self, rid: str, exp: int) -> str:
        msg = f"{rid}\n{exp}".encode()
        return _b64(hmac.new(self._token_key, msg, hashlib.sha256).digest()[:_TOKEN_SIG_BYTES])


def handshake_matches(given: str, expected: str) -> bool:
    """Constant-time comparison of the shared handshake secret."""
    return hmac.compare_digest(given.encode(), expected.encode())
