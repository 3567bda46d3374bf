"""S3Store only, against moto's S3 server; raw HTTP checks see what landed in the bucket."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from hlsd.storage import ObjectNotFound, StorageError
from hlsd.storage.s3 import PART_SIZE, S3Store
from tests.storage.conftest import make_s3_store, new_bucket


@pytest.fixture(scope="session")
def raw(s3_endpoint: str) -> Any:
    """boto3, to see what landed in the bucket, and to put objects no hlsd key can name."""
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
async def s3(s3_endpoint: str) -> AsyncIterator[S3Store]:
    store = make_s3_store(s3_endpoint)
    yield store
    await store.close()


async def keys(store: S3Store, prefix: str = "") -> list[str]:
    return [info.key async for info in store.list(prefix)]


async def test_content_type_is_stored(s3: S3Store, raw: Any) -> None:
    await s3.put("rec/seg.ts", b"\x47" * 188, content_type="video/mp2t")
    await s3.put("plain", b"x")
    assert raw.head_object(Bucket=s3.bucket, Key="rec/seg.ts")["ContentType"] == "video/mp2t"
    plain = raw.head_object(Bucket=s3.bucket, Key="plain")
    assert plain["ContentType"] == "application/octet-stream"
    assert s3.local_path("rec/seg.ts") is None


async def test_large_objects_go_up_in_parts(s3: S3Store, raw: Any) -> None:
    await s3.put("one-put", b"a" * PART_SIZE)
    await s3.put("two-parts", b"b" * (PART_SIZE + 1))
    single = raw.head_object(Bucket=s3.bucket, Key="one-put")["ETag"]
    multi = raw.head_object(Bucket=s3.bucket, Key="two-parts")["ETag"]
    assert "-" not in single
    assert multi.strip('"').endswith("-2")  # S3's ETag of a two-part upload
    assert await s3.size("one-put") == PART_SIZE
    assert await s3.get_range("two-parts", PART_SIZE - 1, PART_SIZE + 5) == b"bb"


async def test_prefix_places_keys_in_a_folder_of_the_bucket(
    s3: S3Store, s3_endpoint: str, raw: Any
) -> None:
    tenant = make_s3_store(s3_endpoint, bucket=s3.bucket, prefix="/hlsd/node-1/")
    try:
        await tenant.put("rec/x", b"inside")
        await s3.put("outside", b"o")
        assert await keys(tenant) == ["rec/x"]
        assert await keys(s3) == ["hlsd/node-1/rec/x", "outside"]
        assert await s3.get("hlsd/node-1/rec/x") == b"inside"
        landed = raw.get_object(Bucket=s3.bucket, Key="hlsd/node-1/rec/x")["Body"].read()
        assert landed == b"inside"
        with pytest.raises(ObjectNotFound):
            await tenant.get("outside")
        assert await tenant.delete_prefix("") == 1
        assert await keys(s3) == ["outside"]
    finally:
        await tenant.close()


async def test_objects_others_named_freely_are_not_listed(s3: S3Store, raw: Any) -> None:
    await s3.put("rec/ok", b"ok")
    foreign = ["rec/bad name", "rec/", "rec//x", "rec/caf\u00e9", "rec/../up"]
    for name in foreign:
        raw.put_object(Bucket=s3.bucket, Key=name, Body=b"foreign")
    assert await keys(s3, "rec/") == ["rec/ok"]
    assert await s3.delete_prefix("rec/") == 1
    left = raw.list_objects_v2(Bucket=s3.bucket)["Contents"]
    assert sorted(o["Key"] for o in left) == sorted(foreign)


async def test_delete_prefix_in_batches(s3_endpoint: str) -> None:
    store = make_s3_store(s3_endpoint, delete_batch=7)
    try:
        await asyncio.gather(*(store.put(f"b/{n:03d}", b"") for n in range(23)))
        await store.put("c", b"")
        assert await store.delete_prefix("b/") == 23  # batches of 7, 7, 7 and 2
        assert await keys(store) == ["c"]
    finally:
        await store.close()
    with pytest.raises(ValueError):
        make_s3_store(s3_endpoint, delete_batch=1001)


async def test_missing_bucket_is_an_error_not_a_missing_object(s3_endpoint: str) -> None:
    store = make_s3_store(s3_endpoint, create_bucket=False)
    try:
        with pytest.raises(StorageError) as err:
            await store.get("x")
        assert not isinstance(err.value, ObjectNotFound)
        assert "NoSuchBucket" in str(err.value)
        with pytest.raises(StorageError):
            await store.put("x", b"x")
    finally:
        await store.close()


async def test_create_bucket_tolerates_an_existing_bucket(s3_endpoint: str) -> None:
    bucket = new_bucket()
    first = make_s3_store(s3_endpoint, bucket=bucket)
    second = make_s3_store(s3_endpoint, bucket=bucket)
    try:
        await asyncio.gather(first.put("a", b"1"), second.put("b", b"2"))
        assert await keys(first) == ["a", "b"]
    finally:
        await first.close()
        await second.close()


async def test_unreachable_endpoint_fails_fast(tmp_path: object) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        store = make_s3_store(f"http://127.0.0.1:{port}")
        started = time.monotonic()
        with pytest.raises(StorageError):
            await store.put("x", b"x")
        assert time.monotonic() - started < 5
        await store.close()


async def test_a_silent_endpoint_times_out() -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)  # reads the request, never answers
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = make_s3_store(f"http://127.0.0.1:{port}", create_bucket=False, read_timeout=0.2)
    try:
        started = time.monotonic()
        with pytest.raises(StorageError):
            await store.get("x")
        assert time.monotonic() - started < 5  # three attempts of 0.2 s, with backoff
    finally:
        await store.close()
        server.close()
        await server.wait_closed()


async def test_closed_store_refuses_work(s3_endpoint: str) -> None:
    store = make_s3_store(s3_endpoint)
    await store.put("x", b"x")
    await store.close()
    with pytest.raises(StorageError):
        await store.get("x")
    await store.close()  # twice is fine


def test_bad_configuration_is_refused_at_once() -> None:
    with pytest.raises(ValueError):
        S3Store(
            "Not_A_Bucket", endpoint_url=None, region="us-east-1", access_key="a", secret_key="b"
        )
    with pytest.raises(ValueError):
        S3Store(
            "bucket", endpoint_url="ftp://host", region="us-east-1", access_key="a", secret_key="b"
        )
    with pytest.raises(ValueError):
        S3Store(
            "bucket",
            endpoint_url=None,
            region="us-east-1",
            access_key="a",
            secret_key="b",
            prefix="../up",
        )
