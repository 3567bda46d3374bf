"""LocalStore only: crash safety, temp files, folders."""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hlsd.storage import KeyConflict, LocalStore, StorageError
from hlsd.storage.local import TEMP_PREFIX

REPO = Path(__file__).resolve().parents[2]


def temp_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.name.startswith("+"))


async def keys(store: LocalStore, prefix: str = "") -> list[str]:
    return [info.key async for info in store.list(prefix)]


def run_put_with_file_size_limit(root: Path, *, crash: bool) -> subprocess.CompletedProcess[str]:
    """Put 4 MB in a child process whose files may not exceed 1 MB.

    With ``crash`` the child keeps SIGXFSZ's default action, so the kernel kills it in the
    middle of writing: a real crash mid-put. Otherwise it ignores the signal, the write
    fails with EFBIG and the put must fail cleanly.
    """
    script = textwrap.dedent(
        f"""
        import asyncio, resource, signal, sys
        from pathlib import Path
        from hlsd.storage import LocalStore, StorageError

        store = LocalStore(Path({str(root)!r}))
        # CPython ignores SIGXFSZ by default; a crash needs the kernel's default action.
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL if {crash!r} else signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, resource.RLIM_INFINITY))
        try:
            asyncio.run(store.put("rec/seg.ts", b"n" * 4_000_000))
        except StorageError as exc:
            print("StorageError", exc)
            sys.exit(3)
        print("stored")
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_crash_mid_write_never_shows_a_partial_object(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    store = LocalStore(root)
    await store.put("rec/seg.ts", b"old")

    child = run_put_with_file_size_limit(root, crash=True)
    assert child.returncode == -signal.SIGXFSZ, child.stderr

    # The crash left its half-written temp file beside the object...
    leftovers = temp_files(root)
    assert len(leftovers) == 1
    assert leftovers[0].parent == root / "rec"
    assert 0 < leftovers[0].stat().st_size <= 1_000_000
    # ...which no reader sees: the key still holds the previous version, whole.
    assert await store.get("rec/seg.ts") == b"old"
    assert await keys(store) == ["rec/seg.ts"]

    reopened = LocalStore(root)  # what a restart does
    assert reopened.swept_on_open == 1
    assert temp_files(root) == []
    assert await reopened.get("rec/seg.ts") == b"old"
    assert await keys(reopened) == ["rec/seg.ts"]


async def test_failed_put_leaves_no_temp_file_and_the_old_version(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    store = LocalStore(root)
    await store.put("rec/seg.ts", b"old")

    child = run_put_with_file_size_limit(root, crash=False)
    assert child.returncode == 3, child.stdout + child.stderr
    assert "File too large" in child.stdout

    assert temp_files(root) == []
    assert await store.get("rec/seg.ts") == b"old"
    assert await keys(store) == ["rec/seg.ts"]


async def test_new_object_from_a_crashed_put_never_appears(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    store = LocalStore(root)
    await store.put("rec/1/seg-0.ts", b"zero")
    # What a put of rec/1/seg-1.ts killed before its rename leaves behind.
    leftover = root / "rec" / "1" / f"{TEMP_PREFIX}0123456789abcdef"
    leftover.write_bytes(b"half of seg-1")

    assert await keys(store) == ["rec/1/seg-0.ts"]
    assert await keys(store, "rec/1/") == ["rec/1/seg-0.ts"]
    assert not await store.exists("rec/1/seg-1.ts")
    with pytest.raises(ValueError):
        await store.get(f"rec/1/{leftover.name}")  # not even addressable

    assert LocalStore(root).swept_on_open == 1
    assert not leftover.exists()
    assert await store.delete_prefix("rec/") == 1
    assert list(root.iterdir()) == []


async def test_sweep_spares_a_live_writer(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    (root / "a").mkdir(parents=True)
    in_flight = root / "a" / f"{TEMP_PREFIX}00000000000000aa"
    fd = os.open(in_flight, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a put in another worker process holds it
        store = LocalStore(root)
        assert store.swept_on_open == 0
        assert in_flight.exists()
        assert await keys(store) == []
    finally:
        os.close(fd)
    assert store.sweep_temp_files() == 1
    assert not in_flight.exists()


async def test_sweep_leaves_other_files_alone(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    root.mkdir()
    (root / "+notes").write_text("not ours")
    (root / "bad name.txt").write_text("x")
    (root / "sub").mkdir()
    (root / "sub" / "ok").write_bytes(b"ok")
    (root / "sub" / "link").symlink_to(root / "sub" / "ok")
    store = LocalStore(root)
    assert store.swept_on_open == 0
    assert (root / "+notes").exists()
    assert await keys(store) == ["sub/ok"]  # neither oddly named files nor symlinks


async def test_objects_are_plain_files_under_the_root(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    await store.put("rec/7/seg-3.ts", b"payload")
    path = store.local_path("rec/7/seg-3.ts")
    assert path == (tmp_path / "objects" / "rec" / "7" / "seg-3.ts").resolve()
    assert path.read_bytes() == b"payload"
    assert store.root == (tmp_path / "objects").resolve()


async def test_emptied_folders_are_removed(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    store = LocalStore(root)
    await store.put("a/b/c/d", b"1")
    await store.put("a/b/e", b"2")
    await store.put("z", b"3")
    await store.delete("a/b/c/d")
    assert not (root / "a" / "b" / "c").exists()
    assert (root / "a" / "b" / "e").exists()
    assert await store.delete_prefix("a/") == 1
    assert sorted(p.name for p in root.iterdir()) == ["z"]
    await store.delete("z")
    assert root.is_dir()
    assert list(root.iterdir()) == []


async def test_a_key_cannot_be_both_object_and_folder(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    await store.put("a", b"object")
    with pytest.raises(KeyConflict):
        await store.put("a/b", b"x")
    with pytest.raises(KeyConflict):
        await store.put("a/b/c", b"x")
    await store.put("f/g", b"x")
    with pytest.raises(KeyConflict):
        await store.put("f", b"x")
    assert await keys(store) == ["a", "f/g"]
    assert temp_files(tmp_path) == []
    assert issubclass(KeyConflict, StorageError)


async def test_puts_race_deletes_that_empty_their_folder(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    for n in range(80):
        await store.put("d/old", b"o")
        await asyncio.gather(store.put(f"d/new{n}", b"n"), store.delete("d/old"))
        assert await store.get(f"d/new{n}") == b"n"
        await store.delete(f"d/new{n}")
    assert await keys(store) == []
