"""`S3Store`: objects in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2, …).

The client is miniopy-async (the MinIO SDK on aiohttp). It gets an aiohttp session built
here: connect and read timeouts, a bounded connection pool, and a few retries with backoff
on connection failures and 5xx answers (every request here is idempotent). The session is
made on first use, inside the running event loop, and the bucket created then if
configured. S3 makes a PUT visible whole or not at all; objects above `PART_SIZE` go up
as a multipart upload, which is just as atomic (visible on completion, aborted on failure).
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, cast
from urllib.parse import urlsplit

import aiohttp
from aiohttp_retry import ExponentialRetry, RetryClient
from miniopy_async.api import Minio
from miniopy_async.deleteobjects import DeleteObject
from miniopy_async.error import MinioException, S3Error
from miniopy_async.helpers import check_bucket_name

from hlsd.storage.base import (
    DEFAULT_CONTENT_TYPE,
    ObjectInfo,
    ObjectNotFound,
    StorageError,
    StoreUnreachable,
    check_range,
    validate_key,
    validate_prefix,
)

__all__ = ["PART_SIZE", "S3Store"]

PART_SIZE = 16 * 1024 * 1024
"""Objects up to this size go in one PUT; larger ones in parts of this size."""
_PARALLEL_PARTS = 4
_MAX_DELETE_BATCH = 1000  # S3's DeleteObjects limit
_RETRY_ATTEMPTS = 3
_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchObject", "ResourceNotFound"})
_BUCKET_EXISTS = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})


class S3Store:
    """An `ObjectStore` in one S3 bucket, optionally under a key prefix."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None,
        region: str,
        access_key: str,
        secret_key: str,
        prefix: str = "",
        create_bucket: bool = False,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_connections: int = 32,
        delete_batch: int = 1000,
    ) -> None:
        url = urlsplit(endpoint_url or "https://s3.amazonaws.com")
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ValueError(f"endpoint_url must be http(s)://host[:port], not {endpoint_url!r}")
        if not 1 <= delete_batch <= _MAX_DELETE_BATCH:
            raise ValueError(f"delete_batch must be 1..{_MAX_DELETE_BATCH}")
        check_bucket_name(bucket, strict=True)
        prefix = prefix.strip("/")
        self._endpoint = url.netloc
        self._secure = url.scheme == "https"
        self._bucket = bucket
        self._region = region
        self._access_key = access_key
        self._secret_key = secret_key
        self._prefix = f"{validate_key(prefix)}/" if prefix else ""
        self._create_bucket = create_bucket
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=connect_timeout,
            sock_connect=connect_timeout,
            sock_read=read_timeout,
        )
        self._max_connections = max_connections
        self._batch_size = delete_batch
        self._client: Minio | None = None
        self._session: RetryClient | None = None
        self._opening = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        scheme = "https" if self._secure else "http"
        return f"S3Store({scheme}://{self._endpoint}/{self._bucket}/{self._prefix})"

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def address(self) -> str:
        scheme = "https" if self._secure else "http"
        return f"{scheme}://{self._endpoint}/{self._bucket}"

    async def probe(self) -> None:
        client = await self._minio()
        with _errors(None):
            if await client.bucket_exists(self._bucket):
                return
        await self._missing_bucket()

    async def _missing_bucket(self) -> None:
        """The bucket is gone (a store restarted empty): made again where configured,
        else a clear error, never an endless retry of the same write."""
        if not self._create_bucket:
            raise StoreUnreachable(
                f"the bucket {self._bucket!r} does not exist at {self.address}: create "
                "it, or set storage.create_bucket: true")
        client = await self._minio()
        with _errors(None):
            await _ensure_bucket(client, self._bucket)

    async def _writing(self, write: Callable[[Minio], Awaitable[object]]) -> None:
        """Run `write`; if the bucket has gone, make it again (when configured) and run
        it once more."""
        client = await self._minio()
        try:
            with _errors(None):
                await write(client)
        except StorageError as exc:
            if not _bucket_missing(exc):
                raise
            await self._missing_bucket()
            with _errors(None):
                await write(client)

    def _name(self, key: str) -> str:
        return self._prefix + validate_key(key)

    def local_path(self, key: str) -> Path | None:
        validate_key(key)
        return None

    async def _minio(self) -> Minio:
        if self._client is not None:
            return self._client
        async with self._opening:
            if self._closed:
                raise StorageError("the object store is closed")
            if self._client is None:
                session = RetryClient(
                    aiohttp.ClientSession(
                        connector=aiohttp.TCPConnector(
                            limit=self._max_connections,
                            limit_per_host=self._max_connections,
                        ),
                        timeout=self._timeout,
                    ),
                    retry_options=ExponentialRetry(
                        attempts=_RETRY_ATTEMPTS,
                        start_timeout=0.1,
                        exceptions={aiohttp.ClientConnectionError},
                    ),
                )
                client = Minio(
                    self._endpoint,
                    access_key=self._access_key,
                    secret_key=self._secret_key,
                    secure=self._secure,
                    region=self._region,
                    session=session,
                )
                try:
                    if self._create_bucket:
                        with _errors(None):
                            await _ensure_bucket(client, self._bucket)
                except BaseException:
                    await session.close()
                    raise
                self._session, self._client = session, client
        return self._client

    async def put(self, key: str, data: bytes, *, content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        name = self._name(key)
        length = len(data)
        await self._writing(lambda client: client.put_object(
            self._bucket, name, io.BytesIO(data), length, content_type=content_type,
            part_size=_part_size(length), num_parallel_uploads=_PARALLEL_PARTS))

    async def put_file(self, key: str, path: Path, *,
                       content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        name = self._name(key)

        async def upload(client: Minio) -> None:
            try:
                file, length = await asyncio.to_thread(_open_sized, path)
            except OSError as exc:
                raise StorageError(f"cannot read {path}: {exc}") from exc
            try:
                # One part in flight: with more, miniopy reads every part ahead of the
                # uploads (the whole file in memory). A part is read in a thread.
                await client.put_object(
                    self._bucket, name, cast(BinaryIO, _ThreadedReader(file)), length,
                    content_type=content_type, part_size=_part_size(length),
                    num_parallel_uploads=1)
            finally:
                await asyncio.to_thread(file.close)

        await self._writing(upload)

    async def get(self, key: str) -> bytes:
        name = self._name(key)
        return await self._read(key, name, 0, 0)

    async def get_range(self, key: str, start: int, end: int) -> bytes:
        name = self._name(key)
        check_range(start, end)
        if start == end:
            await self.size(key)  # ObjectNotFound if missing
            return b""
        try:
            return await self._read(key, name, start, end - start)
        except StorageError as exc:
            if isinstance(exc.__cause__, S3Error) and exc.__cause__.code == "InvalidRange":
                return b""  # start is past the end: S3 answers 416 only for an object
            raise

    async def _read(self, key: str, name: str, offset: int, length: int) -> bytes:
        client = await self._minio()
        with _errors(key):
            response = await client.get_object(self._bucket, name, offset=offset, length=length)
            try:
                data = await response.read()
            except BaseException:
                response.close()
                raise
            response.release()
            return data

    async def exists(self, key: str) -> bool:
        try:
            await self.size(key)
        except ObjectNotFound:
            return False
        return True

    async def size(self, key: str) -> int:
        name = self._name(key)
        client = await self._minio()
        with _errors(key):
            info = await client.stat_object(self._bucket, name)
        return info.size or 0

    async def delete(self, key: str) -> None:
        name = self._name(key)
        client = await self._minio()
        with _errors(None):
            await client.remove_object(self._bucket, name)

    async def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix)
        client = await self._minio()
        deleted = 0
        batch: list[str] = []
        async for info in self.list(prefix):
            batch.append(info.key)
            if len(batch) == self._batch_size:
                deleted += await self._delete_batch(client, batch)
                batch = []
        if batch:
            deleted += await self._delete_batch(client, batch)
        return deleted

    async def _delete_batch(self, client: Minio, keys: list[str]) -> int:
        objects = [DeleteObject(self._prefix + key) for key in keys]
        with _errors(None):
            errors = [error async for error in client.remove_objects(self._bucket, objects)]
        if errors:
            first = errors[0]
            raise StorageError(
                f"S3 refused to delete {len(errors)} of {len(keys)} objects, "
                f"first {first.name!r}: {first.code} {first.message}"
            )
        return len(keys)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        validate_prefix(prefix)
        client = await self._minio()
        skip = len(self._prefix)
        with _errors(None):
            async for obj in client.list_objects(
                self._bucket, prefix=self._prefix + prefix, recursive=True
            ):
                name = obj.object_name
                if name is None or not name.startswith(self._prefix):
                    continue
                key = name[skip:]
                if _is_key(key):  # objects put there by others may have any name
                    yield ObjectInfo(key, obj.size or 0)

    async def close(self) -> None:
        async with self._opening:
            self._closed = True
            session, self._session, self._client = self._session, None, None
        if session is not None:
            await session.close()


async def _ensure_bucket(client: Minio, bucket: str) -> None:
    if await client.bucket_exists(bucket):
        return
    try:
        await client.make_bucket(bucket)
    except S3Error as exc:
        if exc.code not in _BUCKET_EXISTS:  # another worker made it first
            raise


def _open_sized(path: Path) -> tuple[BinaryIO, int]:
    file = path.open("rb")
    return file, os.fstat(file.fileno()).st_size


class _ThreadedReader:
    """A file whose `read` is a coroutine run in a thread (miniopy awaits a read that
    returns one), so a part's disk read never blocks the event loop."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file

    async def read(self, size: int = -1) -> bytes:
        return await asyncio.to_thread(self._file.read, size)


def _part_size(length: int) -> int:
    """`PART_SIZE`, except for an object of exactly that size.

    miniopy-async sends the caller's stream itself as the body when the part size equals
    the length, and a consumed stream cannot be re-sent by a retry (the request would
    announce the length and send nothing). With any other part size it reads the part
    into bytes first, which a retry sends again whole.
    """
    return PART_SIZE + 1 if length == PART_SIZE else PART_SIZE


def _is_key(key: str) -> bool:
    try:
        validate_key(key)
    except ValueError:
        return False
    return True


def _bucket_missing(exc: BaseException) -> bool:
    return isinstance(exc.__cause__, S3Error) and exc.__cause__.code == "NoSuchBucket"


@contextmanager
def _errors(key: str | None) -> Iterator[None]:
    """S3's not-found (for reads of ``key``) becomes `ObjectNotFound`; an endpoint out of
    reach or a missing bucket `StoreUnreachable`; the rest `StorageError`."""
    try:
        yield
    except StorageError:
        raise
    except S3Error as exc:
        if key is not None and exc.code in _NOT_FOUND:
            raise ObjectNotFound(key) from exc
        if exc.code == "NoSuchBucket":
            raise StoreUnreachable("S3: the bucket does not exist (NoSuchBucket)") from exc
        raise StorageError(f"S3: {exc.code}: {exc.message}") from exc
    except MinioException as exc:
        raise StorageError(f"S3: {exc}") from exc
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:
        raise StoreUnreachable(f"S3 endpoint: {exc!r}") from exc
    except aiohttp.ClientError as exc:
        raise StorageError(f"S3 endpoint: {exc!r}") from exc
