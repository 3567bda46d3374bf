"""The object store contract: keys, errors and the `ObjectStore` protocol.

An object store holds immutable blobs (recorded segments, transcoded assets) under keys.
Every backend keeps the same promises:

- `put` (and `put_file`) is atomic: a reader sees the previous object or the new one, whole,
  never a part. An object whose `put` returned survives a crash of the process.
- Keys are validated before any I/O (`validate_key`): relative, ``/``-separated, each part
  of ``[A-Za-z0-9._~-]``, no ``.`` or ``..`` part, at most `MAX_KEY_LENGTH` characters.
  A bad key raises `ValueError`, so no key can reach outside the store.
- Prefixes are plain string prefixes, as in S3: ``"rec/1/"`` is that folder, while
  ``"rec/1"`` also matches ``rec/10/…``. Listings come sorted by key.
- A missing object raises `ObjectNotFound`; any other backend failure (I/O error, network,
  timeout, refused request) raises `StorageError`. `delete` of a missing key is a no-op.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "MAX_KEY_LENGTH",
    "MAX_PART_LENGTH",
    "KeyConflict",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "StorageError",
    "check_range",
    "validate_key",
    "validate_prefix",
]

MAX_KEY_LENGTH = 1024
"""S3's limit (in bytes; keys are ASCII, so characters)."""
MAX_PART_LENGTH = 255
"""A file name's limit on common filesystems, so a key part is always a valid file name."""
DEFAULT_CONTENT_TYPE = "application/octet-stream"

_PART = re.compile(r"[A-Za-z0-9._~-]+")


class StorageError(Exception):
    """The store could not do what was asked: I/O error, network failure, refusal."""


class StoreUnreachable(StorageError):
    """The store itself is out of reach (its endpoint, its bucket, its folder), as
    opposed to one object or one request failing: the store is down."""


class ObjectNotFound(StorageError, LookupError):
    """No object under this key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no object {key!r}")
        self.key = key


class KeyConflict(StorageError):
    """A filesystem store cannot hold both ``a`` and ``a/b``: lay keys out as folders."""

    def __init__(self, key: str) -> None:
        super().__init__(f"{key!r} clashes with an object or folder on the path")
        self.key = key


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int


def validate_key(key: str) -> str:
    """Return ``key`` if it is a valid object key, else raise `ValueError`."""
    if not isinstance(key, str):
        raise ValueError(f"object key must be a string, not {type(key).__name__}")
    if not key:
        raise ValueError("object key is empty")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"object key is longer than {MAX_KEY_LENGTH} characters")
    for part in key.split("/"):
        if not part:
            raise ValueError(f"object key {key!r} has an empty part (leading, trailing or //)")
        if part in (".", ".."):
            raise ValueError(f"object key {key!r} has a {part!r} part")
        if len(part) > MAX_PART_LENGTH:
            raise ValueError(f"object key {key!r} has a part longer than {MAX_PART_LENGTH}")
        if not _PART.fullmatch(part):
            raise ValueError(f"object key {key!r} has characters outside [A-Za-z0-9._~-/]")
    return key


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is ``""`` or a valid key, optionally ending in ``/``."""
    if prefix == "":
        return prefix
    if not isinstance(prefix, str):
        raise ValueError(f"prefix must be a string, not {type(prefix).__name__}")
    validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def check_range(start: int, end: int) -> None:
    """`get_range` takes ``0 <= start <= end`` (a half-open range, like a slice)."""
    if start < 0 or end < start:
        raise ValueError(f"invalid byte range [{start}, {end})")


class ObjectStore(Protocol):
    """An object store: `LocalStore` (a directory) or `S3Store` (S3-compatible)."""

    async def put(self, key: str, data: bytes, *, content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        """Store ``data`` under ``key`` atomically, replacing any previous object."""
        ...

    async def put_file(self, key: str, path: Path, *,
                       content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        """Store the file at ``path`` under ``key``, as `put` does, reading it in bounded
        pieces (a source file may be larger than memory). The file must not change
        meanwhile."""
        ...

    async def get(self, key: str) -> bytes:
        """The whole object; `ObjectNotFound` if there is none."""
        ...

    async def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of the object, clipped to its size (``b""`` past it)."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def size(self, key: str) -> int:
        """The object's size in bytes; `ObjectNotFound` if there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; nothing happens if there is none."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with ``prefix``; return how many."""
        ...

    def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Objects whose key starts with ``prefix``, sorted by key."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The file holding the object, for sendfile, if the store keeps files; else None.

        No I/O: the file may be missing (``FileNotFoundError`` when opened means no
        object). Files are replaced whole, never changed in place, so an open file
        stays one consistent version.
        """
        ...

    @property
    def address(self) -> str:
        """Where the store is, with no credentials (for logs)."""
        ...

    async def probe(self) -> None:
        """Raise `StoreUnreachable` unless the store can be used now (an S3 bucket that
        is missing is created first where the store is configured to)."""
        ...

    async def close(self) -> None: ...
