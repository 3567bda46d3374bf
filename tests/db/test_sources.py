import asyncio

import pytest

from hlsd.db import repo
from hlsd.db.errors import Conflict, NotFound

from .conftest import Db


async def test_create_get_list_sources(db: Db) -> None:
    cam = await repo.create_source(db.sessions, name="cam", segment_length=4, description="door")
    assert len(cam.id) == 36 and cam.name == "cam" and cam.segment_length == 4
    assert cam.description == "door" and cam.streaming is False
    assert cam.created_at == cam.updated_at and cam.created_at.tzinfo is not None
    other = await repo.create_source(db.sessions, name="yard", segment_length=2)
    assert other.description is None

    got = await repo.get_source(db.sessions, cam.id)
    assert (got.id, got.name, got.segment_length, got.description, got.streaming) == (
        cam.id,
        "cam",
        4,
        "door",
        False,
    )
    assert got.created_at == cam.created_at
    assert (await repo.get_source_by_name(db.sessions, "yard")).id == other.id
    assert [s.name for s in await repo.list_sources(db.sessions)] == ["cam", "yard"]


async def test_missing_sources_are_not_found(db: Db) -> None:
    with pytest.raises(NotFound) as by_id:
        await repo.get_source(db.sessions, "nope")
    assert (by_id.value.kind, by_id.value.key) == ("source", "nope")
    with pytest.raises(NotFound):
        await repo.get_source_by_name(db.sessions, "nope")
    with pytest.raises(NotFound):
        await repo.set_streaming(db.sessions, "nope", True)
    with pytest.raises(NotFound):
        await repo.delete_source(db.sessions, "nope")
    assert await repo.list_sources(db.sessions) == []


async def test_a_taken_name_is_a_conflict(db: Db) -> None:
    first = await repo.create_source(db.sessions, name="cam", segment_length=4)
    with pytest.raises(Conflict, match="'cam' already exists"):
        await repo.create_source(db.sessions, name="cam", segment_length=6)
    # The failed call left nothing behind, and the session factory still works.
    sources = await repo.list_sources(db.sessions)
    assert [(s.id, s.segment_length) for s in sources] == [(first.id, 4)]


async def test_concurrent_creates_of_one_name_give_one_source(db: Db) -> None:
    results = await asyncio.gather(
        *(repo.create_source(db.sessions, name="race", segment_length=2) for _ in range(6)),
        return_exceptions=True,
    )
    created = [r for r in results if not isinstance(r, BaseException)]
    assert len(created) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))


async def test_set_streaming(db: Db) -> None:
    cam = await repo.create_source(db.sessions, name="cam", segment_length=4)
    on = await repo.set_streaming(db.sessions, cam.id, True)
    assert on.streaming is True and on.updated_at >= cam.updated_at
    assert (await repo.get_source(db.sessions, cam.id)).streaming is True
    off = await repo.set_streaming(db.sessions, cam.id, False)
    assert off.streaming is False
    assert (await repo.get_source(db.sessions, cam.id)).streaming is False


async def test_delete_source_frees_its_name(db: Db) -> None:
    cam = await repo.create_source(db.sessions, name="cam", segment_length=4)
    await repo.delete_source(db.sessions, cam.id)
    with pytest.raises(NotFound):
        await repo.get_source(db.sessions, cam.id)
    again = await repo.create_source(db.sessions, name="cam", segment_length=4)
    assert again.id != cam.id
