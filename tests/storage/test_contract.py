"""The contract every `ObjectStore` keeps, run against LocalStore and S3Store (moto)."""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path

import pytest

from hlsd.storage import ObjectInfo, ObjectNotFound, ObjectStore, StorageError
from hlsd.storage.base import MAX_KEY_LENGTH


def short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:20]}...({len(str(value))})"


async def listed(store: ObjectStore, prefix: str = "") -> list[ObjectInfo]:
    return [info async for info in store.list(prefix)]


async def test_put_get_round_trip(store: ObjectStore) -> None:
    await store.put("rec/1/seg-0.ts", b"\x47" * 188, content_type="video/mp2t")
    assert await store.get("rec/1/seg-0.ts") == b"\x47" * 188
    assert await store.exists("rec/1/seg-0.ts")
    assert await store.size("rec/1/seg-0.ts") == 188
    assert await listed(store) == [ObjectInfo("rec/1/seg-0.ts", 188)]


async def test_empty_object(store: ObjectStore) -> None:
    await store.put("empty", b"")
    assert await store.get("empty") == b""
    assert await store.size("empty") == 0
    assert await store.exists("empty")
    assert await listed(store) == [ObjectInfo("empty", 0)]


@pytest.mark.parametrize("size", [0, 1000, 17 * 1024 * 1024 + 3])
async def test_put_file_stores_the_whole_file(store: ObjectStore, tmp_path: Path,
                                              size: int) -> None:
    """Empty, small, and past S3's single-PUT size (a multipart upload there)."""
    source = tmp_path / "source.bin"
    data = random.Random(size).randbytes(size)
    source.write_bytes(data)
    await store.put_file("assets/a/source/original", source, content_type="video/mp4")
    assert await store.size("assets/a/source/original") == size
    assert await store.get("assets/a/source/original") == data
    assert await listed(store) == [ObjectInfo("assets/a/source/original", size)]


async def test_put_file_of_a_missing_file_stores_nothing(store: ObjectStore,
                                                         tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        await store.put_file("x", tmp_path / "none")
    assert await listed(store) == []


async def test_overwrite_replaces_whole_object(store: ObjectStore) -> None:
    await store.put("a/b", b"first version, longer")
    await store.put("a/b", b"second")
    assert await store.get("a/b") == b"second"
    assert await store.size("a/b") == 6
    assert await listed(store) == [ObjectInfo("a/b", 6)]


async def test_missing_key(store: ObjectStore) -> None:
    await store.put("present/x", b"x")
    for key in ("absent", "present/y", "present", "present/x/deeper"):
        with pytest.raises(ObjectNotFound) as err:
            await store.get(key)
        assert err.value.key == key
        with pytest.raises(ObjectNotFound):
            await store.size(key)
        with pytest.raises(ObjectNotFound):
            await store.get_range(key, 0, 10)
        with pytest.raises(ObjectNotFound):
            await store.get_range(key, 0, 0)
        assert not await store.exists(key)
    assert isinstance(ObjectNotFound("k"), LookupError)


async def test_get_range(store: ObjectStore) -> None:
    data = bytes(range(256)) * 4
    await store.put("r", data)
    assert await store.get_range("r", 0, 5) == data[:5]
    assert await store.get_range("r", 100, 612) == data[100:612]
    assert await store.get_range("r", 1000, 5000) == data[1000:]
    assert await store.get_range("r", 7, 7) == b""
    assert await store.get_range("r", 1024, 2048) == b""
    assert await store.get_range("r", 5000, 6000) == b""
    for start, end in ((-1, 4), (5, 4)):
        with pytest.raises(ValueError):
            await store.get_range("r", start, end)


KEYS = ["a/b", "a-c", "a.b", "a0", "a~x", "A", "b/c/d", "b/c-d", "b/c/e/f", "ab", "Z~", "_u"]


async def test_list_is_sorted_by_key(store: ObjectStore) -> None:
    shuffled = KEYS[:]
    random.Random(7).shuffle(shuffled)
    for n, key in enumerate(shuffled):
        await store.put(key, b"x" * n)
    infos = await listed(store)
    assert [i.key for i in infos] == sorted(KEYS)  # ASCII: str order == S3's byte order
    sizes = {key: n for n, key in enumerate(shuffled)}
    assert all(i.size == sizes[i.key] for i in infos)


async def test_list_prefix_filtering(store: ObjectStore) -> None:
    for key in KEYS:
        await store.put(key, b"x")

    async def keys(prefix: str) -> list[str]:
        return [i.key for i in await listed(store, prefix)]

    assert await keys("") == sorted(KEYS)
    assert await keys("a/") == ["a/b"]
    assert await keys("a") == sorted(k for k in KEYS if k.startswith("a"))
    assert await keys("b/c") == ["b/c-d", "b/c/d", "b/c/e/f"]
    assert await keys("b/c/") == ["b/c/d", "b/c/e/f"]
    assert await keys("b/c/e") == ["b/c/e/f"]
    assert await keys("b/c/e/f") == ["b/c/e/f"]
    assert await keys("b/c/e/f/") == []
    assert await keys("nothing/") == []
    assert await keys("a/b/c") == []


async def test_delete(store: ObjectStore) -> None:
    await store.put("x/1", b"1")
    await store.put("x/2", b"2")
    await store.delete("x/1")
    assert not await store.exists("x/1")
    with pytest.raises(ObjectNotFound):
        await store.get("x/1")
    assert [i.key for i in await listed(store)] == ["x/2"]
    await store.delete("x/1")  # again: a no-op
    await store.delete("never/was")
    await store.delete("x/2")
    assert await listed(store) == []
    await store.put("x/1", b"back")  # the emptied folder can be written again
    assert await store.get("x/1") == b"back"


async def test_delete_prefix(store: ObjectStore) -> None:
    for key in KEYS:
        await store.put(key, b"x")
    assert await store.delete_prefix("b/c/") == 2
    assert [i.key for i in await listed(store, "b/")] == ["b/c-d"]
    assert await store.delete_prefix("a") == 6
    assert await store.delete_prefix("a") == 0
    assert await store.delete_prefix("nothing/") == 0
    assert [i.key for i in await listed(store)] == ["A", "Z~", "_u", "b/c-d"]
    assert await store.delete_prefix("") == 4
    assert await listed(store) == []


async def test_delete_prefix_many(store: ObjectStore) -> None:
    await asyncio.gather(*(store.put(f"many/{n:04d}.ts", b"s") for n in range(120)))
    await store.put("other", b"o")
    assert await store.delete_prefix("many/") == 120
    assert [i.key for i in await listed(store)] == ["other"]


BAD_KEYS = [
    "",
    "../x",
    "a/../../x",
    "..",
    ".",
    "a/./b",
    "/abs",
    "a//b",
    "a/b/",
    "a b",
    "a\\b",
    "a\x00b",
    "caf\u00e9",
    "a?b",
    "a%2fb",
    "x" * (MAX_KEY_LENGTH + 1),
    "/".join(["x" * 200] * 6),
    "y" * 256,
]


@pytest.mark.parametrize("key", BAD_KEYS, ids=short)
async def test_invalid_keys_are_rejected(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError):
        await store.put(key, b"x")
    with pytest.raises(ValueError):
        await store.get(key)
    with pytest.raises(ValueError):
        await store.get_range(key, 0, 1)
    with pytest.raises(ValueError):
        await store.exists(key)
    with pytest.raises(ValueError):
        await store.size(key)
    with pytest.raises(ValueError):
        await store.delete(key)
    with pytest.raises(ValueError):
        store.local_path(key)
    assert await listed(store) == []


@pytest.mark.parametrize("prefix", ["../", "/abs", "a//", "a/./", "a b", "//"], ids=short)
async def test_invalid_prefixes_are_rejected(store: ObjectStore, prefix: str) -> None:
    with pytest.raises(ValueError):
        await listed(store, prefix)
    with pytest.raises(ValueError):
        await store.delete_prefix(prefix)


async def test_longest_key(store: ObjectStore) -> None:
    key = "/".join(["k" * 250] * 4) + "/" + "z" * (MAX_KEY_LENGTH - 4 * 251)
    assert len(key) == MAX_KEY_LENGTH
    await store.put(key, b"long")
    assert await store.get(key) == b"long"
    assert [i.key for i in await listed(store)] == [key]


async def test_large_object(store: ObjectStore) -> None:
    data = os.urandom(20 * 1024 * 1024 + 3)
    await store.put("big/object.mp4", data, content_type="video/mp4")
    assert await store.size("big/object.mp4") == len(data)
    assert await store.get("big/object.mp4") == data
    middle = 16 * 1024 * 1024 - 10  # straddles the first multipart boundary
    assert await store.get_range("big/object.mp4", middle, middle + 20) == data[middle:][:20]
    assert await listed(store) == [ObjectInfo("big/object.mp4", len(data))]


async def test_concurrent_puts(store: ObjectStore) -> None:
    payloads = {f"c/{n:03d}": os.urandom(1000 + n) for n in range(64)}
    await asyncio.gather(*(store.put(k, v) for k, v in payloads.items()))
    assert [i.key for i in await listed(store)] == sorted(payloads)
    got = await asyncio.gather(*(store.get(k) for k in payloads))
    assert got == list(payloads.values())


async def test_concurrent_overwrites_leave_one_whole_version(store: ObjectStore) -> None:
    versions = [bytes([n]) * 200_000 for n in range(16)]
    await asyncio.gather(*(store.put("same", v) for v in versions))
    assert await store.get("same") in versions
    assert [i.key for i in await listed(store)] == ["same"]


async def test_readers_see_old_or_new_never_a_mix(store: ObjectStore) -> None:
    old, new = b"o" * 2_000_000, b"n" * 3_000_000
    await store.put("swap", old)
    seen: set[bytes] = set()

    async def read() -> None:
        for _ in range(5):
            data = await store.get("swap")
            assert data in (old, new)
            seen.add(data[:1])

    async def write() -> None:
        for _ in range(3):
            await store.put("swap", new)
            await store.put("swap", old)
        await store.put("swap", new)

    await asyncio.gather(write(), *(read() for _ in range(4)))
    assert await store.get("swap") == new


async def test_local_path(store: ObjectStore) -> None:
    await store.put("p/q.ts", b"bytes")
    path = store.local_path("p/q.ts")
    if path is not None:  # LocalStore: the file itself
        assert path.read_bytes() == b"bytes"
