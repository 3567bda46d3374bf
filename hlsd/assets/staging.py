"""An asset's source file in the object store, for workers on other machines.

With the Redis queue (`assets.queue: redis`), the node an upload or import arrives on is
not the one that processes it, so the source goes into the object store first, under
``assets/<id>/source/`` (with the rest of the asset, so deleting it removes the source
too), and the worker fetches it from there. It is removed once the ladder is published,
as the embedded queue removes an upload; a failed asset keeps it, for a retry. The
embedded queue reads the source where it is instead (no copy).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from hlsd.media import MediaError
from hlsd.storage import ObjectStore, StorageError

__all__ = ["SOURCE_NAME", "discard", "fetch", "source_key", "source_prefix", "stage", "staged"]

SOURCE_NAME = "original"
_FETCH_CHUNK = 16 << 20
"""Bytes per ranged read when a worker copies a source out of a remote (S3) store."""


def source_prefix(asset_id: str) -> str:
    return f"assets/{asset_id}/source/"


def source_key(asset_id: str) -> str:
    return source_prefix(asset_id) + SOURCE_NAME


async def staged(store: ObjectStore, asset_id: str) -> bool:
    return await store.exists(source_key(asset_id))


async def stage(store: ObjectStore, asset_id: str, path: Path) -> None:
    """Put the file at `path` into the store as the asset's source."""
    await store.put_file(source_key(asset_id), path)


async def discard(store: ObjectStore, asset_id: str) -> None:
    await store.delete_prefix(source_prefix(asset_id))


async def fetch(store: ObjectStore, asset_id: str, folder: Path) -> Path:
    """The asset's source as a local file: the store's own file when it keeps files
    (they are replaced whole, never changed in place, so reading it there is safe), else
    a copy made in `folder`, a bounded piece at a time. `MediaError` if there is none."""
    key = source_key(asset_id)
    local = store.local_path(key)
    if local is not None:
        if not await asyncio.to_thread(local.is_file):
            raise MediaError("the uploaded file is gone")
        return local
    try:
        size = await store.size(key)
    except LookupError:
        raise MediaError("the uploaded file is gone") from None
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / SOURCE_NAME
    fd = await asyncio.to_thread(os.open, target,
                                 os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        for start in range(0, size, _FETCH_CHUNK):
            end = min(size, start + _FETCH_CHUNK)
            chunk = await store.get_range(key, start, end)
            if len(chunk) != end - start:  # replaced or cut meanwhile: not one file
                raise StorageError(f"{key} changed while it was read")
            await asyncio.to_thread(_write_all, fd, chunk)
    finally:
        await asyncio.to_thread(os.close, fd)
    return target


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
