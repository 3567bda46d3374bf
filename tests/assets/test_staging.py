"""Sources staged in the object store for workers: stored whole, fetched back as a local
file (in place from a local store, copied in ranged pieces from S3), removed with the
asset's source prefix only."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hlsd.assets import staging
from hlsd.media import MediaError
from hlsd.storage import LocalStore, ObjectStore
from hlsd.storage.s3 import S3Store
from tests._support.moto import moto_server


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    made: ObjectStore
    if request.param == "local":
        made = LocalStore(tmp_path / "objects")
    else:
        made = S3Store(f"staging-{random.randrange(1 << 30)}",
                       endpoint_url=request.getfixturevalue("s3_endpoint"),
                       region="us-east-1", access_key="testing", secret_key="testing",
                       create_bucket=True)
    yield made
    await made.close()


async def test_a_staged_source_comes_back_whole(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "upload.bin"
    data = random.Random(1).randbytes(33 * 1024 * 1024 + 7)  # past two fetch pieces
    source.write_bytes(data)
    assert not await staging.staged(store, "a1")
    await staging.stage(store, "a1", source)
    await store.put("assets/a1/3/index.m3u8", b"#EXTM3U\n")
    assert await staging.staged(store, "a1")
    fetched = await staging.fetch(store, "a1", tmp_path / "run")
    assert fetched.read_bytes() == data
    if isinstance(store, LocalStore):
        assert fetched == store.local_path(staging.source_key("a1"))  # read in place
    else:
        assert fetched.parent == tmp_path / "run"
    await staging.discard(store, "a1")
    assert not await staging.staged(store, "a1")
    assert await store.exists("assets/a1/3/index.m3u8")  # only the source went


async def test_a_missing_source_is_a_media_error(store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="gone"):
        await staging.fetch(store, "none", tmp_path / "run")
