"""`LocalStore`: objects as files under one directory, the embedded default.

A key maps to the file ``root/<key>`` (its parts become folders), so a local store can be
served with sendfile (`local_path`) and read with ordinary tools.

Writes are crash-safe. `put` writes a temp file in the object's own folder, fsyncs it,
renames it over the key (`os.replace`, atomic) and fsyncs the folder: once `put` returns
the object survives a crash, and a half-written object is never visible under its key.
Temp names start with ``+``, a character no key can hold, so a temp file is never listed
or read. Each writer holds an exclusive ``flock`` on its temp file while writing; the lock
dies with the process, so a temp file whose lock can be taken belongs to a crashed or
failed writer. Such leftovers are swept when a store is opened (and by `sweep_temp_files`),
while the temp files of live writers, in this process or another worker, are left alone.

All file I/O runs in worker threads (`asyncio.to_thread`). A cancelled `put` may still
complete in its thread.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import itertools
import os
import secrets
import stat
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import NamedTuple

from hlsd.storage.base import (
    DEFAULT_CONTENT_TYPE,
    MAX_KEY_LENGTH,
    KeyConflict,
    ObjectInfo,
    ObjectNotFound,
    StorageError,
    StoreUnreachable,
    check_range,
    validate_key,
    validate_prefix,
)

__all__ = ["TEMP_PREFIX", "LocalStore"]

TEMP_PREFIX = "+tmp."
"""Temp files are ``+tmp.<random>``; ``+`` never appears in a key."""

_LIST_BATCH = 256
_PUT_ATTEMPTS = 3
_COPY_CHUNK = 1 << 20
_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


class _Entry(NamedTuple):
    key: str
    path: Path
    size: int
    is_dir: bool


class LocalStore:
    """An `ObjectStore` in a local directory (created if missing)."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self._root = root.resolve()
        self.swept_on_open = self.sweep_temp_files()

    @property
    def root(self) -> Path:
        return self._root

    def __repr__(self) -> str:
        return f"LocalStore({str(self._root)!r})"

    @property
    def address(self) -> str:
        return str(self._root)

    async def probe(self) -> None:
        if not await asyncio.to_thread(_writable_dir, self._root):
            raise StoreUnreachable(f"{self._root} is not a writable folder")

    def _path(self, key: str) -> Path:
        return self._root.joinpath(*validate_key(key).split("/"))

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    async def put(self, key: str, data: bytes, *, content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        path = self._path(key)
        with _errors(None):
            await asyncio.to_thread(self._put_sync, key, path, lambda fd: _write_all(fd, data))

    async def put_file(self, key: str, path: Path, *,
                       content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        target = self._path(key)
        with _errors(None):
            await asyncio.to_thread(self._put_sync, key, target, lambda fd: _copy_into(fd, path))

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        with _errors(key):
            return await asyncio.to_thread(path.read_bytes)

    async def get_range(self, key: str, start: int, end: int) -> bytes:
        path = self._path(key)
        check_range(start, end)
        with _errors(key):
            return await asyncio.to_thread(_read_range, path, start, end)

    async def exists(self, key: str) -> bool:
        path = self._path(key)
        with _errors(None):
            return await asyncio.to_thread(path.is_file)

    async def size(self, key: str) -> int:
        path = self._path(key)
        with _errors(key):
            return await asyncio.to_thread(_file_size, path)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        with _errors(None):
            await asyncio.to_thread(self._delete_sync, path)

    async def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix)
        with _errors(None):
            return await asyncio.to_thread(self._delete_prefix_sync, prefix)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        validate_prefix(prefix)
        objects = self._walk(prefix)
        while True:
            with _errors(None):
                batch = await asyncio.to_thread(_take, objects, _LIST_BATCH)
            for entry in batch:
                yield ObjectInfo(entry.key, entry.size)
            if len(batch) < _LIST_BATCH:
                return

    async def close(self) -> None:
        return None

    def sweep_temp_files(self) -> int:
        """Remove temp files left by crashed or failed writers; return how many (blocking)."""
        removed = 0
        for folder, _dirs, files in os.walk(self._root):
            for name in files:
                if name.startswith(TEMP_PREFIX) and _remove_if_abandoned(Path(folder, name)):
                    removed += 1
        return removed

    # -- blocking halves, run in threads ---------------------------------------------

    def _put_sync(self, key: str, path: Path, write: Callable[[int], None]) -> None:
        for attempt in itertools.count(1):
            try:
                self._make_folders(key, path.parent)
                _write_atomic(key, path, write)
                return
            except FileNotFoundError:
                # A concurrent delete pruned the (then empty) folder under us: again.
                if attempt == _PUT_ATTEMPTS:
                    raise

    def _make_folders(self, key: str, folder: Path) -> None:
        if folder.is_dir():
            return
        current = self._root
        for part in folder.relative_to(self._root).parts:
            parent, current = current, current / part
            try:
                current.mkdir()
            except FileExistsError:
                if not current.is_dir():
                    raise KeyConflict(key) from None
                continue
            except NotADirectoryError:
                raise KeyConflict(key) from None
            _fsync_dir(parent)

    def _delete_sync(self, path: Path) -> None:
        try:
            path.unlink()
        except _MISSING:
            return
        self._prune(path.parent)

    def _delete_prefix_sync(self, prefix: str) -> int:
        removed = 0
        folders: set[Path] = set()
        for entry in self._walk(prefix):
            with suppress(*_MISSING):
                entry.path.unlink()
                removed += 1
                folders.add(entry.path.parent)
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            self._prune(folder)
        return removed

    def _prune(self, folder: Path) -> None:
        """Remove ``folder`` and its parents while they are empty, up to the root."""
        while folder != self._root and folder.is_relative_to(self._root):
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def _walk(self, prefix: str) -> Iterator[_Entry]:
        """Objects under ``prefix`` in key order, one folder read at a time (blocking)."""
        folder_key, _, name_start = prefix.rpartition("/")
        folder = self._root.joinpath(*folder_key.split("/")) if folder_key else self._root
        stack = [iter(_scan(folder, f"{folder_key}/" if folder_key else "", name_start))]
        while stack:
            entry = next(stack[-1], None)
            if entry is None:
                stack.pop()
            elif entry.is_dir:
                stack.append(iter(_scan(entry.path, f"{entry.key}/", "")))
            else:
                yield entry


def _scan(folder: Path, key_prefix: str, name_start: str) -> list[_Entry]:
    """One folder's objects and subfolders, in the order their keys sort.

    A folder ``x`` sorts as ``x/``: every key under it starts so, and since no key part
    holds ``/``, that places the whole subtree correctly among its siblings.
    """
    entries: list[_Entry] = []
    try:
        with os.scandir(folder) as it:
            for item in it:
                name = item.name
                if not name.startswith(name_start) or not _is_key_part(name):
                    continue
                key = key_prefix + name
                if len(key) > MAX_KEY_LENGTH:
                    continue
                try:
                    if item.is_dir(follow_symlinks=False):
                        entries.append(_Entry(key, Path(item.path), 0, True))
                    elif item.is_file(follow_symlinks=False):
                        size = item.stat(follow_symlinks=False).st_size
                        entries.append(_Entry(key, Path(item.path), size, False))
                except FileNotFoundError:
                    continue
    except _MISSING:
        return []
    entries.sort(key=lambda e: e.key + "/" if e.is_dir else e.key)
    return entries


def _is_key_part(name: str) -> bool:
    try:
        validate_key(name)
    except ValueError:
        return False
    return True


def _take(entries: Iterator[_Entry], count: int) -> list[_Entry]:
    return list(itertools.islice(entries, count))


def _write_atomic(key: str, path: Path, write: Callable[[int], None]) -> None:
    """`write` fills the temp file (given its descriptor), which then replaces `path`."""
    temp = path.with_name(f"{TEMP_PREFIX}{secrets.token_hex(8)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        write(fd)
        os.fsync(fd)
        try:
            os.replace(temp, path)
        except IsADirectoryError:
            raise KeyConflict(key) from None
        except OSError as exc:
            if exc.errno == errno.ENOTEMPTY:  # the key is a folder holding objects
                raise KeyConflict(key) from None
            raise
    except BaseException:
        with suppress(OSError):
            os.unlink(temp)
        raise
    finally:
        os.close(fd)
    _fsync_dir(path.parent)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _copy_into(fd: int, source: Path) -> None:
    """The file at `source` into `fd`, a bounded piece at a time."""
    with source.open("rb") as f:
        while chunk := f.read(_COPY_CHUNK):
            _write_all(fd, chunk)


def _remove_if_abandoned(temp: Path) -> bool:
    """Delete a temp file unless a live writer still holds its lock."""
    try:
        fd = os.open(temp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        # Unlink by name: names are random and never reused, so if the writer has
        # meanwhile renamed it into place this fails instead of removing the object.
        try:
            os.unlink(temp)
        except FileNotFoundError:
            return False
        return True
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_range(path: Path, start: int, end: int) -> bytes:
    with path.open("rb") as f:
        f.seek(start)
        return f.read(end - start)


def _file_size(path: Path) -> int:
    st = path.stat()
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(str(path))
    return st.st_size


@contextmanager
def _errors(key: str | None) -> Iterator[None]:
    """Missing files become `ObjectNotFound` (for reads of ``key``), OS errors `StorageError`."""
    try:
        yield
    except StorageError:
        raise
    except _MISSING as exc:
        if key is None:
            raise StorageError(str(exc)) from exc
        raise ObjectNotFound(key) from exc
    except OSError as exc:
        raise StorageError(f"local store: {exc}") from exc


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)
