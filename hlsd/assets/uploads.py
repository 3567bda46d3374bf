"""Resumable uploads: the storage side of tus 1.0 (no HTTP here).

Each upload is ``<id>.part`` (the bytes so far) and ``<id>.json`` (its state, replaced
atomically), renamed to ``<id>.bin`` once whole; ids are random hex, so no client
string ever becomes a path.

Crash consistency: a request's bytes are fsynced before the sidecar records the offset
that covers them, so the sidecar never claims bytes the disk lacks. On start the offset
is the smaller of the sidecar's and the .part size, and the file is cut to it: bytes
past the recorded offset were never acknowledged (and may be an unverified checksummed
chunk), so the client sends them again. A long request records its progress every
`CHECKPOINT` bytes, so a crash costs at most that much. A ``.bin`` exists only by the
rename at the full length, so its presence means complete whatever the sidecar says.

Failures: bytes that arrived before a dropped connection are kept (tus allows it),
unless the request carried a checksum, which can then never be verified; a checksum
mismatch or a body past the limit discards the whole request (back to its start
offset). `on_complete` runs once per completion in a process; one that failed, or was
cut off by a crash, is run again by `redeliver()`, so consumers should be idempotent
by upload id. One process owns a root: the state lives in its memory.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from hlsd import errors

log = logging.getLogger(__name__)

CHECKSUMS = ("md5", "sha1", "sha256", "sha512")
CHECKPOINT = 16 << 20
_BATCH = 1 << 20
_ID = re.compile(r"[0-9a-f]{32}")
_TRASH = ".trash"
"""Where removed uploads wait for their unlink (emptied at start)."""
_MAX_METADATA = 16 << 10

OnComplete = Callable[["Upload", Path], Awaitable[None]]


class MakeUploadStore(Protocol):
    """An `UploadStore` for its owner, which hears of each completed upload."""

    def __call__(self, *, on_complete: OnComplete) -> UploadStore: ...


class UploadError(errors.DomainError):
    """An upload refused, each of one kind (`hlsd.errors`): `api/` gives the status."""


class BadUpload(UploadError, errors.Malformed):
    pass


class UploadNotFound(UploadError, errors.NotFound):
    pass


class OffsetMismatch(UploadError, errors.Conflict):
    pass


class UploadGone(UploadError, errors.Gone):
    pass


class TooLarge(UploadError, errors.TooLarge):
    pass


class ChecksumMismatch(UploadError, errors.Corrupt):
    pass


class UploadsFull(UploadError, errors.NoSpace):
    pass


@dataclass(frozen=True, kw_only=True)
class Upload:
    id: str
    length: int | None  # None until a deferred length is declared
    offset: int
    metadata: dict[str, str]
    created: float
    expires: float  # inactivity deadline; only incomplete uploads expire
    complete: bool


class UploadStore:
    def __init__(self, root: Path, *, max_bytes: int, max_total_bytes: int, max_uploads: int,
                 expire_after: float, on_complete: OnComplete | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._max_total = max_total_bytes
        self._max_uploads = max_uploads
        self._expire_after = expire_after
        self._on_complete = on_complete
        self._clock = clock
        self._uploads: dict[str, Upload] = {}
        self._unnotified: set[str] = set()
        self._busy: set[str] = set()
        root.mkdir(parents=True, exist_ok=True)
        self._load()

    # -- lookups --------------------------------------------------------------------
    def get(self, upload_id: str) -> Upload:
        upload = self._lookup(upload_id)
        if not upload.complete and self._clock() >= upload.expires:
            raise UploadGone(f"upload {upload_id} has expired")
        return upload

    def path(self, upload_id: str) -> Path:
        if not self._lookup(upload_id).complete:
            raise UploadNotFound(f"upload {upload_id} is not complete")
        return self._file(upload_id, "bin")

    # -- lifecycle ------------------------------------------------------------------
    def create(self, *, length: int | None, metadata: dict[str, str],
               defer_length: bool = False) -> Upload:
        if (length is None) != defer_length:
            raise BadUpload("an upload needs either a length or a deferred length")
        if length is not None and length < 0:
            raise BadUpload("the upload length cannot be negative")
        if length is not None and length > self.max_bytes:
            raise TooLarge(f"uploads are limited to {self.max_bytes} bytes")
        if sum(len(k) + len(v) for k, v in metadata.items()) > _MAX_METADATA:
            raise BadUpload(f"upload metadata is limited to {_MAX_METADATA} bytes")
        self._make_room(length or 0)
        now = self._clock()
        upload = Upload(id=secrets.token_hex(16), length=length, offset=0,
                        metadata=dict(metadata), created=now,
                        expires=now + self._expire_after, complete=False)
        self._file(upload.id, "part").touch(exist_ok=False)
        # Not fsynced: a creation lost to a power cut is only a 404 for the client.
        self._save(upload, notified=False, durable=False)
        self._uploads[upload.id] = upload
        return upload

    def delete(self, upload_id: str) -> None:
        self._lookup(upload_id)
        del self._uploads[upload_id]
        self._unnotified.discard(upload_id)
        # A request writing to it meanwhile removes the files again when it ends.
        self._remove_files(upload_id)

    def sweep(self) -> int:
        now = self._clock()
        expired = [u.id for u in self._uploads.values()
                   if not u.complete and u.expires <= now and u.id not in self._busy]
        for upload_id in expired:
            self.delete(upload_id)
        return len(expired)

    async def redeliver(self) -> int:
        """Run `on_complete` for completed uploads it has not yet run for."""
        pending = [self._uploads[i] for i in sorted(self._unnotified) if i in self._uploads]
        return sum([await self._notify(upload) for upload in pending])

    # -- appending ------------------------------------------------------------------
    async def append(self, upload_id: str, offset: int, chunks: AsyncIterator[bytes], *,
                     checksum: tuple[str, str] | None = None,
                     length: int | None = None) -> Upload:
        upload = self.get(upload_id)
        if upload_id in self._busy:
            raise OffsetMismatch(f"upload {upload_id} is being written by another request")
        if offset != upload.offset:
            raise OffsetMismatch(f"the upload is at offset {upload.offset}, not {offset}")
        verify = _checksum(checksum) if checksum is not None else None
        if length is not None:
            upload = self._declare_length(upload, length)
        if upload.complete:  # a client repeating its last, empty request
            async for chunk in chunks:
                if chunk:
                    raise TooLarge("the upload is already complete")
            return upload
        self._busy.add(upload_id)
        try:
            upload = await self._receive(upload, chunks, verify)
        except Exception:
            # A connection that broke just after its last byte still completed it.
            if upload_id in self._unnotified:
                await self._notify(self._uploads[upload_id])
            raise
        finally:
            self._busy.discard(upload_id)
            if upload_id not in self._uploads:
                self._remove_files(upload_id)
        await self._notify(upload)
        return upload

    async def _receive(self, upload: Upload, chunks: AsyncIterator[bytes],
                       verify: tuple[Any, bytes] | None) -> Upload:
        start = upload.offset
        limit = upload.length if upload.length is not None else self.max_bytes
        others = self._reserved() - upload.offset if upload.length is None else 0
        part = _Part(self._file(upload.id, "part"), start,
                     verify[0] if verify is not None else None)
        try:
            await asyncio.to_thread(part.open)
        except FileNotFoundError as exc:  # terminated while the file was being opened
            raise UploadNotFound(f"upload {upload.id} was terminated") from exc
        pending: list[bytes] = []
        received = start
        try:
            async for chunk in chunks:
                if upload.id not in self._uploads:
                    raise UploadNotFound(f"upload {upload.id} was terminated")
                received += len(chunk)
                if received > limit:
                    raise TooLarge(f"the upload would exceed {limit} bytes")
                if upload.length is None and others + received > self._max_total:
                    raise UploadsFull("no room left for uploads")
                pending.append(chunk)
                if received - part.position >= _BATCH:
                    await asyncio.to_thread(part.write, pending)
                    pending = []
                if (verify is None and part.position - upload.offset >= CHECKPOINT
                        and part.position != upload.length):
                    upload = await self._settle(part, upload, part.position)
            await asyncio.to_thread(part.write, pending)
            if verify is not None and part.digest() != verify[1]:
                raise ChecksumMismatch("the request's bytes do not match Upload-Checksum")
            return await self._settle(part, upload, part.position)
        except (TooLarge, UploadsFull, ChecksumMismatch):
            await self._settle(part, upload, start)
            raise
        except UploadNotFound:
            raise
        except Exception:
            # The connection broke: keep what arrived, unless it cannot be verified.
            if verify is None:
                await asyncio.to_thread(part.write, pending)
            await self._settle(part, upload, part.position if verify is None else start)
            raise
        except BaseException:
            # Cancelled: no more awaiting, so settle in this thread (one fsync).
            if verify is None:
                part.write(pending)
            with contextlib.suppress(UploadNotFound):
                self._settle_now(part, upload, part.position if verify is None else start)
            raise
        finally:
            part.close()

    async def _settle(self, part: _Part, upload: Upload, position: int) -> Upload:
        settled = self._advance(upload, position)
        await asyncio.to_thread(self._persist, part, settled)
        return self._remember(settled)

    def _settle_now(self, part: _Part, upload: Upload, position: int) -> None:
        settled = self._advance(upload, position)
        self._persist(part, settled)
        self._remember(settled)

    def _advance(self, upload: Upload, position: int) -> Upload:
        return replace(upload, offset=position, expires=self._clock() + self._expire_after,
                       complete=position == upload.length)

    def _persist(self, part: _Part, upload: Upload) -> None:
        """Runs in a worker thread: data first, then the state that covers it."""
        part.cut(upload.offset)
        if upload.complete:
            part.close()
            os.replace(self._file(upload.id, "part"), self._file(upload.id, "bin"))
            _sync_dir(self.root)
        self._save(upload, notified=False, durable=True)

    def _remember(self, upload: Upload) -> Upload:
        if upload.id not in self._uploads:
            raise UploadNotFound(f"upload {upload.id} was terminated")
        self._uploads[upload.id] = upload
        if upload.complete:
            self._unnotified.add(upload.id)
        return upload

    def _declare_length(self, upload: Upload, length: int) -> Upload:
        if upload.length is not None:
            if length != upload.length:
                raise BadUpload(f"the upload's length is already {upload.length}")
            return upload
        if length < upload.offset:
            raise BadUpload(f"the upload already holds {upload.offset} bytes")
        if length > self.max_bytes:
            raise TooLarge(f"uploads are limited to {self.max_bytes} bytes")
        if self._reserved() - upload.offset + length > self._max_total:
            raise UploadsFull("no room left for uploads")
        return self._remember(replace(upload, length=length))

    async def _notify(self, upload: Upload) -> bool:
        if self._on_complete is None or upload.id not in self._unnotified:
            return False
        self._unnotified.discard(upload.id)
        try:
            await self._on_complete(upload, self._file(upload.id, "bin"))
        except Exception:
            # The bytes are safe and the client has nothing to retry; `redeliver` will.
            log.exception("on_complete failed for upload %s", upload.id)
            self._unnotified.add(upload.id)
            return False
        if upload.id in self._uploads:
            await asyncio.to_thread(self._save, upload, notified=True, durable=False)
        return True

    # -- bookkeeping ----------------------------------------------------------------
    def _lookup(self, upload_id: str) -> Upload:
        upload = self._uploads.get(upload_id) if _ID.fullmatch(upload_id) else None
        if upload is None:
            raise UploadNotFound(f"no upload {upload_id}")
        return upload

    def _reserved(self) -> int:
        return sum(u.length if u.length is not None else u.offset
                   for u in self._uploads.values())

    def _make_room(self, length: int) -> None:
        for attempt in range(2):
            if (len(self._uploads) < self._max_uploads
                    and self._reserved() + length <= self._max_total):
                return
            if attempt == 0:
                self.sweep()
        raise UploadsFull("no room left for uploads")

    def _file(self, upload_id: str, suffix: str) -> Path:
        return self.root / f"{upload_id}.{suffix}"

    def _remove_files(self, upload_id: str) -> None:
        for suffix in ("json", "json.tmp"):
            self._file(upload_id, suffix).unlink(missing_ok=True)
        # Unlinking a large file takes a while (0.2 s per GiB here), and callers are on
        # the event loop: the data is moved aside at once and unlinked in a thread.
        trash = self.root / _TRASH
        trash.mkdir(exist_ok=True)
        moved = []
        for suffix in ("part", "bin"):
            with contextlib.suppress(FileNotFoundError):
                target = trash / f"{upload_id}.{suffix}.{secrets.token_hex(4)}"
                self._file(upload_id, suffix).rename(target)
                moved.append(target)
        if moved:
            threading.Thread(target=_unlink_all, args=(moved,), daemon=True,
                             name="hlsd-upload-trash").start()

    def _save(self, upload: Upload, *, notified: bool, durable: bool) -> None:
        state = {**asdict(upload), "notified": notified}
        tmp = self._file(upload.id, "json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, self._file(upload.id, "json"))

    def _load(self) -> None:
        shutil.rmtree(self.root / _TRASH, ignore_errors=True)  # what a crash left to unlink
        for sidecar in sorted(self.root.glob("*.json")):
            upload_id = sidecar.stem
            try:
                state = json.loads(sidecar.read_text(encoding="utf-8"))
                notified = bool(state.pop("notified", False))
                upload = Upload(**state)
                if upload.id != upload_id or not _ID.fullmatch(upload_id):
                    raise ValueError("sidecar names another upload")
            except (OSError, ValueError, TypeError) as exc:
                log.warning("dropping upload %s: unreadable state (%s)", upload_id, exc)
                self._remove_files(upload_id)
                continue
            recovered = self._recover(upload, notified)
            if recovered is None:
                log.warning("dropping upload %s: its data is missing", upload_id)
                self._remove_files(upload_id)
                continue
            self._uploads[upload_id] = recovered
            if recovered != upload:
                self._save(recovered, notified=upload_id not in self._unnotified,
                           durable=True)
        for stray in self.root.iterdir():  # half-made creations and temporary files
            owner = stray.name.split(".", 1)[0]
            if stray.is_file() and (owner not in self._uploads or stray.suffix == ".tmp"):
                stray.unlink(missing_ok=True)

    def _recover(self, upload: Upload, notified: bool) -> Upload | None:
        done, part = self._file(upload.id, "bin"), self._file(upload.id, "part")
        if done.exists():
            if not notified:
                self._unnotified.add(upload.id)
            size = done.stat().st_size
            return replace(upload, length=size, offset=size, complete=True)
        if upload.complete or not part.exists():
            return None
        offset = min(upload.offset, part.stat().st_size)
        with open(part, "r+b") as f:
            f.truncate(offset)
        if offset == upload.length:  # whole, but the crash came before the rename
            os.replace(part, done)
            self._unnotified.add(upload.id)
            return replace(upload, offset=offset, complete=True)
        return replace(upload, offset=offset)


class _Part:
    """The .part file of one request, used from worker threads one call at a time (a
    lock makes a cancelled request's settling wait for a write still in its thread)."""

    def __init__(self, path: Path, offset: int, hasher: Any) -> None:
        self._path = path
        self.position = offset
        self._hasher = hasher
        self._lock = threading.Lock()
        self._file: Any = None

    def open(self) -> None:
        with self._lock:
            self._file = open(self._path, "r+b")  # noqa: SIM115 - closed by close()
            self._file.truncate(self.position)
            self._file.seek(self.position)

    def write(self, chunks: list[bytes]) -> None:
        with self._lock:
            for chunk in chunks:
                try:
                    self._file.write(chunk)
                except OSError as exc:
                    if exc.errno == errno.ENOSPC:  # the request is refused and cut off
                        raise UploadsFull("no space left for uploads") from exc
                    raise
                if self._hasher is not None:
                    self._hasher.update(chunk)
                self.position += len(chunk)

    def digest(self) -> bytes:
        return bytes(self._hasher.digest())

    def cut(self, offset: int) -> None:
        """Make the file exactly `offset` bytes, durably."""
        with self._lock:
            self._file.flush()
            if offset != self.position:
                self._file.truncate(offset)
                self._file.seek(offset)
                self.position = offset
            os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def _checksum(checksum: tuple[str, str]) -> tuple[Any, bytes]:
    algorithm, encoded = checksum
    if algorithm not in CHECKSUMS:
        raise BadUpload(f"unsupported checksum algorithm {algorithm!r}")
    try:
        expected = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadUpload("the checksum is not base64") from exc
    return hashlib.new(algorithm, usedforsecurity=False), expected


def _sync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can fsync a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
