"""Who may call what: handshake, admin key and loopback rules (DESIGN.md, Security).

"Loopback only" takes `local`, decided once per request by `infra.client_address`:
the same on every engine, and never true for a request forwarded by an untrusted proxy.
"""

from __future__ import annotations

from hlsd import errors
from hlsd.auth.tokens import handshake_matches

_REVERSE_PROXY_HINT = ("; behind a reverse proxy, list it in trusted_proxies so the "
                       "client's own address is used")


def bearer(authorization: str | None) -> str | None:
    """The credential of an ``Authorization: Bearer <x>`` header, if that is what it is."""
    if authorization is None:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class Refused(errors.DomainError):
    """A caller turned away by these rules."""


class BadCredential(Refused, errors.Unauthorized):
    """No secret given, or the wrong one."""


class NotAllowed(Refused, errors.Forbidden):
    """No secret is configured, and the caller is not on this host."""


def check_handshake(given: str | None, configured: str | None, *, local: bool) -> None:
    """The seed's handshake rule; with none configured, only loopback clients get in."""
    if configured is None:
        if local:
            return
        raise NotAllowed("no handshake is configured, so only loopback clients may ask "
                         "for tokens; set `handshake` in the config or HLSD_HANDSHAKE")
    if given is None or not handshake_matches(given, configured):
        raise BadCredential("Invalid Handshake")


def check_admin(authorization: str | None, admin_key: str | None, *, local: bool) -> None:
    """Management endpoints: the admin key as a bearer token, or loopback without a key."""
    if admin_key is None:
        if local:
            return
        raise NotAllowed("management endpoints answer loopback clients only until an "
                         "admin key is set (admin_key in the config, or HLSD_ADMIN_KEY)"
                         + _REVERSE_PROXY_HINT)
    given = bearer(authorization)
    if given is None or not handshake_matches(given, admin_key):
        raise BadCredential("a valid admin key is required (Authorization: Bearer <key>)")
