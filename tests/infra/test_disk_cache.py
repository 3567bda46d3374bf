from pathlib import Path

import pytest

from hlsd.infra.disk_budget import DiskBudget, DiskFull
from hlsd.infra.disk_cache import DiskLRU
from tests._support.clock import FakeClock


def _file(tmp: Path, name: str, size: int) -> Path:
    path = tmp / f"src-{name}"
    path.write_bytes(b"x" * size)
    return path


def test_evicts_least_recently_used_by_bytes(tmp_path: Path) -> None:
    clock = FakeClock(1000.0)
    cache = DiskLRU(tmp_path / "c", name="t", max_bytes=300, max_entries=10, clock=clock)
    for key in ("a", "b", "c"):
        clock.now += 1
        cache.put(key, _file(tmp_path, key, 100))
    clock.now += 1
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("d", _file(tmp_path, "d", 100))
    assert cache.get("b") is None and not (tmp_path / "c" / "b").exists()
    assert {k for k in "acd" if cache.get(k)} == {"a", "c", "d"}
    assert cache.bytes == 300 and cache.evictions == 1


def test_evicts_by_entry_count(tmp_path: Path) -> None:
    cache = DiskLRU(tmp_path / "c", name="t", max_bytes=10**6, max_entries=2)
    for key in ("a", "b", "c"):
        cache.put(key, _file(tmp_path, key, 1))
    assert len(cache) == 2 and cache.get("a") is None


def test_an_entry_larger_than_the_cache_is_refused(tmp_path: Path) -> None:
    cache = DiskLRU(tmp_path / "c", name="t", max_bytes=10, max_entries=2)
    src = _file(tmp_path, "big", 11)
    with pytest.raises(DiskFull):
        cache.put("big", src)
    assert not src.exists() and cache.bytes == 0


def test_expiry_removes_idle_entries(tmp_path: Path) -> None:
    clock = FakeClock(1000.0)
    cache = DiskLRU(tmp_path / "c", name="t", max_bytes=1000, max_entries=10, clock=clock)
    cache.put("old", _file(tmp_path, "old", 5))
    clock.now += 50
    cache.put("new", _file(tmp_path, "new", 5))
    clock.now += 20
    assert cache.expire(60) == 1
    assert cache.get("old") is None and cache.get("new") is not None


def test_grouped_keys_and_a_rescan_after_restart(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cache = DiskLRU(root, name="t", max_bytes=1000, max_entries=10)
    cache.put("src1/seg-0.ts", _file(tmp_path, "s0", 7))
    cache.put("src1/seg-1.ts", _file(tmp_path, "s1", 8))
    (root / "operator-notes.txt.bak~").write_text("not ours")
    again = DiskLRU(root, name="t", max_bytes=1000, max_entries=10)
    assert len(again) == 2 and again.bytes == 15
    assert (root / "operator-notes.txt.bak~").exists()  # never deletes what it did not make
    again.remove("src1/seg-0.ts")
    assert again.get("src1/seg-0.ts") is None


@pytest.mark.parametrize("key", ["../x", "a/../../b", "/abs", "", "a/b/c", "a b"])
def test_keys_cannot_escape_the_root(tmp_path: Path, key: str) -> None:
    cache = DiskLRU(tmp_path / "c", name="t", max_bytes=10, max_entries=2)
    with pytest.raises(ValueError):
        cache.path_for(key)


def test_a_file_deleted_behind_its_back_is_forgotten(tmp_path: Path) -> None:
    cache = DiskLRU(tmp_path / "c", name="t", max_bytes=100, max_entries=5)
    path = cache.put("a", _file(tmp_path, "a", 10))
    path.unlink()
    assert cache.get("a") is None and cache.bytes == 0


def test_budget_refuses_past_its_ceiling_only_when_enforced() -> None:
    budget = DiskBudget("tempdir", 100, enforced=True)
    budget.reserve(60)
    with pytest.raises(DiskFull):
        budget.reserve(41)
    budget.release(60)
    budget.reserve(100)
    lax = DiskBudget("tempdir", 1, enforced=False)
    lax.reserve(50)
    assert lax.used == 50


def test_evicting_the_last_entry_of_a_folder_does_not_break_the_put(tmp_path: Path) -> None:
    cache = DiskLRU(tmp_path / "c", name="t", max_bytes=15, max_entries=10)
    cache.put("pkg/seg-0.ts", _file(tmp_path, "a", 10))
    cache.put("pkg/seg-1.ts", _file(tmp_path, "b", 10))
    assert cache.get("pkg/seg-0.ts") is None
    assert cache.get("pkg/seg-1.ts") is not None
