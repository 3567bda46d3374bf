"""Ready assets as playback reads them: where a ready asset's files are and whether it
is token-gated, and the files themselves.

The lookup is trusted for `KNOWN_FOR` seconds per asset (the answer "not ready" too),
so a player's steady requests do not each ask the database; a deleted asset stops
playing within that. An asset is immutable once ready, so its files are read from the
object store once into a bounded memory cache (a local store's files are sent from
where they are instead).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from hlsd.assets.state import AssetState
from hlsd.db import assets as repo
from hlsd.db.errors import NotFound
from hlsd.db.repo import Sessions
from hlsd.infra.cache import Cache
from hlsd.storage import ObjectStore
from hlsd.storage.base import validate_key

__all__ = ["KNOWN_FOR", "ReadyAsset", "ReadyAssets"]

KNOWN_FOR = 5.0
"""Seconds a looked-up asset is trusted before the database is asked again."""
_MAX_KNOWN = 10_000


class ReadyAsset(NamedTuple):
    id: str
    outputs: str
    """The object key prefix of its files."""
    gated: bool
    """Playback needs a token bound to ``asset/<id>``."""


class _Known(NamedTuple):
    asset: ReadyAsset | None


class ReadyAssets:
    def __init__(self, *, sessions: Sessions, store: ObjectStore, cache: Cache[str, bytes],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._sessions = sessions
        self._store = store
        self._cache = cache
        self._known: Cache[str, _Known] = Cache("ready-assets", max_entries=_MAX_KNOWN,
                                                ttl=KNOWN_FOR, clock=clock)

    async def find(self, asset_id: str) -> ReadyAsset | None:
        """The asset, if it is ready to play."""
        known = self._known.get(asset_id)
        if known is None:
            try:
                row = await repo.get_asset(self._sessions, asset_id)
            except NotFound:
                row = None
            asset = None
            if row is not None and row.state == AssetState.READY.value and row.outputs:
                asset = ReadyAsset(asset_id, row.outputs, row.access == "token")
            known = _Known(asset)
            self._known.put(asset_id, known)
        return known.asset

    @staticmethod
    def key(asset: ReadyAsset, name: str) -> str | None:
        """The object key of the file `name` (a path under the asset's folder), or
        None when `name` cannot be one (``..``, an empty part, odd characters)."""
        try:
            return validate_key(asset.outputs + name)
        except ValueError:
            return None

    def local_path(self, key: str) -> Path | None:
        """The file holding the object, when the store keeps files."""
        return self._store.local_path(key)

    async def read(self, key: str) -> bytes:
        """The object's bytes (`ObjectNotFound`, `StorageError`), through the cache."""
        data = self._cache.get(key)
        if data is None:
            data = await self._store.get(key)
            self._cache.put(key, data)
        return data
