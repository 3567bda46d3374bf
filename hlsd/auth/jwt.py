"""HS256 JWTs of the hls-websocket-cdn protocol: ``sub`` = ``PUSH:<stream>`` or
``PULL:<stream>``, and a required ``exp``. Push and pull have separate secrets."""

from __future__ import annotations

import hmac
import time

import jwt

_ALGORITHMS = ["HS256"]
"""The protocol's algorithm, and no other: a token signed with HS384, HS512 or anything
else (``none`` included) is refused, whatever the key."""
TOKEN_TTL = 3600.0
"""Life of the tokens hlsd signs itself (a relay's PULL), as the original's."""


def sign(secret: str, action: str, stream: str, *, ttl: float = TOKEN_TTL) -> str:
    """A token for ``action`` (``PUSH`` or ``PULL``) on ``stream``."""
    return jwt.encode({"sub": f"{action}:{stream}", "exp": int(time.time() + ttl)}, secret,
                      algorithm="HS256")


def valid(token: str, secret: str, action: str, stream: str) -> bool:
    """Whether ``token`` is signed with ``secret``, unexpired, and for this action and
    stream exactly."""
    try:
        claims = jwt.decode(token, secret, algorithms=_ALGORITHMS,
                            options={"require": ["exp", "sub"]})
    except jwt.InvalidTokenError:
        return False
    subject = claims.get("sub")
    return isinstance(subject, str) and hmac.compare_digest(
        subject.encode(), f"{action}:{stream}".encode())
