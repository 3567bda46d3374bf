"""The object store: recordings and transcoded assets, in a local directory or S3.

`make_store` builds the configured store; everything else talks to the `ObjectStore`
protocol. `S3Store` (and its HTTP client) is imported only when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hlsd.storage.base import (
    KeyConflict,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    StoreUnreachable,
    validate_key,
    validate_prefix,
)
from hlsd.storage.local import LocalStore
from hlsd.storage.settings import StorageSettings

if TYPE_CHECKING:
    from hlsd.storage.s3 import S3Store

__all__ = [
    "KeyConflict",
    "LocalStore",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "S3Store",
    "StorageError",
    "StorageSettings",
    "StoreUnreachable",
    "make_store",
    "validate_key",
    "validate_prefix",
]


def make_store(settings: StorageSettings) -> ObjectStore:
    """The store ``settings`` describe. A local store is opened (and swept) here."""
    if settings.backend == "local":
        if settings.dir is None:
            raise ValueError("storage.dir is not set")
        return LocalStore(settings.dir)
    from hlsd.storage.s3 import S3Store

    assert settings.bucket is not None
    assert settings.access_key is not None and settings.secret_key is not None
    return S3Store(
        settings.bucket,
        endpoint_url=settings.endpoint_url,
        region=settings.region,
        access_key=settings.access_key.get_secret_value(),
        secret_key=settings.secret_key.get_secret_value(),
        prefix=settings.prefix,
        create_bucket=settings.create_bucket,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_connections=settings.max_connections,
    )


def __getattr__(name: str) -> Any:
    if name == "S3Store":
        from hlsd.storage.s3 import S3Store

        return S3Store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
