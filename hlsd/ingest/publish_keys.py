"""Who may publish, for every ingest: HTTP push, LiveMix, RTMP, SRT, continuous HTTP.

A configured publish key lets anyone in; with none configured, only publishers on this
host (loopback) are. The publisher is named by its address and its key's fingerprint
(keyed with a node secret), never by any part of the key itself.
"""

from __future__ import annotations

import ipaddress

from hlsd.auth.keys import fingerprint, matches_any
from hlsd.ingest.errors import PublishKeyMissing, PushForbidden
from hlsd.ingest.publishers import Publisher

__all__ = ["PublishKeys", "is_loopback"]


class PublishKeys:
    def __init__(self, keys: tuple[str, ...], *, secret: bytes) -> None:
        self._keys = tuple(k.encode() for k in keys)
        self._secret = secret

    def check(self, given: str | None, *, host: str, local: bool) -> Publisher:
        """The publisher at `host` (on this host when `local`) giving key `given`, or
        `PublishKeyMissing`/`PushForbidden` saying how to get in."""
        if not self._keys:
            if local:
                return Publisher(identity=host)
            raise PushForbidden("no publish keys are configured, so only loopback "
                                "publishers may publish; set live.publish_keys")
        if given is None:
            raise PublishKeyMissing("a publish key is required")
        if not matches_any(given, self._keys):
            raise PushForbidden("wrong publish key")
        key = fingerprint(self._secret, given)
        return Publisher(identity=f"{host}:{key}", key=key)


def is_loopback(host: str) -> bool:
    """Whether a peer address (as a socket reports it) is on this host."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback
