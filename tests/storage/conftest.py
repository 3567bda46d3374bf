from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hlsd.storage import LocalStore, ObjectStore
from hlsd.storage.s3 import S3Store
from tests._support.moto import moto_server

_buckets = itertools.count()


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with moto_server(log) as url:
        yield url


def make_s3_store(
    endpoint: str,
    *,
    bucket: str | None = None,
    prefix: str = "",
    create_bucket: bool = True,
    read_timeout: float = 30.0,
    delete_batch: int = 1000,
) -> S3Store:
    """A store on the moto server, in a new bucket unless one is named."""
    return S3Store(
        bucket or new_bucket(),
        endpoint_url=endpoint,
        region="us-east-1",
        access_key="testing",
        secret_key="testing",
        prefix=prefix,
        create_bucket=create_bucket,
        read_timeout=read_timeout,
        delete_batch=delete_batch,
    )


def new_bucket() -> str:
    return f"hlsd-test-{next(_buckets)}"


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    """Each backend, fresh and empty for each test (a new directory or bucket)."""
    made: ObjectStore
    if request.param == "local":
        made = LocalStore(tmp_path / "objects")
    else:
        made = make_s3_store(request.getfixturevalue("s3_endpoint"))
    yield made
    await made.close()
