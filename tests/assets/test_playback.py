"""`ReadyAssets`: what playback knows of an asset (looked up at most every few seconds,
"not ready" too), its files' keys, and their bytes through the memory cache; on a real
SQLite database and a local object store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from hlsd.assets.playback import KNOWN_FOR, ReadyAsset, ReadyAssets
from hlsd.assets.state import AssetState
from hlsd.db import assets as repo
from hlsd.db.engine import init_schema, make_engine, session_factory
from hlsd.db.repo import Sessions
from hlsd.infra.cache import Cache
from hlsd.storage import LocalStore
from tests._support.clock import FakeClock

READY = AssetState.READY.value


@pytest_asyncio.fixture(loop_scope="function")
async def sessions(tmp_path: Path) -> AsyncIterator[Sessions]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'hlsd.db'}")
    await init_schema(engine)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


def _ready_assets(sessions: Sessions, store: LocalStore, clock: FakeClock) -> ReadyAssets:
    cache: Cache[str, bytes] = Cache("assets", max_entries=100, size=len, max_bytes=10_000)
    return ReadyAssets(sessions=sessions, store=store, cache=cache, clock=clock)


async def test_an_asset_plays_once_ready_and_stops_once_deleted(
        sessions: Sessions, tmp_path: Path) -> None:
    clock = FakeClock()
    assets = _ready_assets(sessions, LocalStore(tmp_path / "objects"), clock)
    row = await repo.create_asset(sessions, state="processing", source_kind="upload")
    assert await assets.find(row.id) is None
    await repo.move(sessions, row.id, from_states=["processing"], to=READY,
                    outputs="assets/a/1/")
    assert await assets.find(row.id) is None  # "not ready" is trusted a while too
    clock.advance(KNOWN_FOR)
    assert await assets.find(row.id) == ReadyAsset(row.id, "assets/a/1/", gated=False)
    await repo.delete_asset(sessions, row.id)
    assert await assets.find(row.id) is not None
    clock.advance(KNOWN_FOR)
    assert await assets.find(row.id) is None
    assert await assets.find("no-such-asset") is None


async def test_a_token_asset_is_gated(sessions: Sessions, tmp_path: Path) -> None:
    assets = _ready_assets(sessions, LocalStore(tmp_path / "objects"), FakeClock())
    row = await repo.create_asset(sessions, state="processing", source_kind="upload",
                                  access="token")
    await repo.move(sessions, row.id, from_states=["processing"], to=READY,
                    outputs="assets/b/1/")
    found = await assets.find(row.id)
    assert found is not None and found.gated


async def test_file_names_become_keys_under_the_asset_only(sessions: Sessions,
                                                           tmp_path: Path) -> None:
    assets = _ready_assets(sessions, LocalStore(tmp_path / "objects"), FakeClock())
    asset = ReadyAsset("a", "assets/a/1/", gated=False)
    assert assets.key(asset, "180p/index.m3u8") == "assets/a/1/180p/index.m3u8"
    for name in ("../2/index.m3u8", "180p//x.m4s", "a b.m4s", "x/../../y", "%2e%2e/x"):
        assert assets.key(asset, name) is None, name


async def test_files_are_read_once_into_the_cache(sessions: Sessions, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    assets = _ready_assets(sessions, store, FakeClock())
    await store.put("assets/a/1/index.m3u8", b"#EXTM3U\n")
    assert assets.local_path("assets/a/1/index.m3u8") == \
        tmp_path / "objects" / "assets" / "a" / "1" / "index.m3u8"
    assert await assets.read("assets/a/1/index.m3u8") == b"#EXTM3U\n"
    await store.delete("assets/a/1/index.m3u8")
    assert await assets.read("assets/a/1/index.m3u8") == b"#EXTM3U\n"
