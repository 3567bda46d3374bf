"""Which edges may connect: `livemix.edge_keys`, compared in constant time."""

from __future__ import annotations

import logging

from hlsd.auth.keys import fingerprint, matches_any
from hlsd.infra.logs import clip

log = logging.getLogger(__name__)

MAX_REMEMBERED = 1024
"""Refused key fingerprints remembered so each is logged once (then forgotten all at
once: a flood of new keys is logged again at most once per this many)."""


class EdgeKeys:
    def __init__(self, keys: tuple[str, ...], *, secret: bytes) -> None:
        self._keys = tuple(k.encode() for k in keys)
        self._secret = secret
        self._refused: set[str] = set()
        if not keys:
            log.info("livemix.edge_keys is empty: edges are refused")

    def check(self, authorization: str | None, peer: str) -> str | None:
        """The fingerprint of the key an ``Authorization: Bearer KEY`` header gives, if it
        is one of the keys; else None (and the refusal logged once per fingerprint)."""
        scheme, _, given = (authorization or "").partition(" ")
        given = given.strip()
        if scheme.lower() != "bearer" or not given:
            self._refuse("none", peer, "no Authorization: Bearer key")
            return None
        key = fingerprint(self._secret, given)
        if not matches_any(given, self._keys):
            self._refuse(key, peer, "a key that is not in livemix.edge_keys")
            return None
        return key

    def _refuse(self, key: str, peer: str, why: str) -> None:
        if key in self._refused:
            return
        if len(self._refused) >= MAX_REMEMBERED:
            self._refused.clear()
        self._refused.add(key)
        log.warning("edge from %s refused: %s (key %s; logged once per key)", clip(peer),
                    why, key)
