"""Making assets, and moving them along: from an upload (tus, or one request), a URL or
a library file, to the job queue, and on to cancel, retry and delete.

No HTTP here: `AssetError` carries the status `api/` answers with.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from hlsd.assets.jobs import LocalJobs, QueueFull
from hlsd.assets.state import AssetState, sources_of
from hlsd.assets.uploads import Upload, UploadError, UploadStore
from hlsd.db import assets as repo
from hlsd.db.errors import Conflict, NotFound
from hlsd.db.models import AssetRow
from hlsd.db.repo import Sessions
from hlsd.storage import ObjectStore
from hlsd.vod.errors import SourceError
from hlsd.vod.fetch import Fetcher

__all__ = ["AssetError", "AssetService", "SourceKind"]

log = logging.getLogger(__name__)

ASSET_METADATA = "asset"
"""The tus Upload-Metadata key naming the asset an upload is for."""


class SourceKind:
    UPLOAD = "upload"
    URL = "url"
    LIBRARY = "library"


class AssetError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class AssetService:
    def __init__(self, *, sessions: Sessions, store: ObjectStore, uploads: UploadStore,
                 jobs: LocalJobs, fetcher: Fetcher, imports: Path, max_bytes: int,
                 locate_library: Callable[[str], Path]) -> None:
        self._sessions = sessions
        self._store = store
        self._uploads = uploads
        self._jobs = jobs
        self._fetcher = fetcher
        self._imports = imports
        self._max_bytes = max_bytes
        self._locate_library = locate_library
        self._importing: set[asyncio.Task[None]] = set()
        imports.mkdir(parents=True, exist_ok=True)

    # -- where a source is ------------------------------------------------------------

    def source_path(self, asset: AssetRow) -> Path:
        if asset.source_kind == SourceKind.LIBRARY:
            assert asset.source_ref is not None
            return self._locate_library(asset.source_ref)
        if asset.source_kind == SourceKind.URL:
            return self._imports / asset.id
        assert asset.upload_id is not None
        return self._uploads.path(asset.upload_id)

    # -- making -------------------------------------------------------------------------

    async def create_upload(self, *, title: str | None, size: int | None,
                            access: str) -> tuple[AssetRow, Upload]:
        """An asset waiting for its tus upload (the upload is made here too)."""
        asset_id = _new_id()
        try:
            upload = self._uploads.create(length=size, metadata={ASSET_METADATA: asset_id},
                                          defer_length=size is None)
        except UploadError as exc:
            raise AssetError(exc.status, exc.message) from None
        asset = await repo.create_asset(
            self._sessions, asset_id=asset_id, state=AssetState.CREATED.value,
            source_kind=SourceKind.UPLOAD, title=title, upload_id=upload.id, size=size,
            access=access)
        return asset, upload

    async def put_content(self, asset_id: str, chunks: AsyncIterator[bytes],
                          length: int | None) -> AssetRow:
        """The whole file in one request, for small files: it is the asset's upload, so
        an interrupted request can still be resumed with tus."""
        asset = await self.get(asset_id)
        if asset.state != AssetState.CREATED.value or asset.upload_id is None:
            raise AssetError(409, f"asset {asset_id} is {asset.state}, not waiting for an "
                                  "upload")
        try:
            upload = self._uploads.get(asset.upload_id)
            await self._uploads.append(upload.id, upload.offset, chunks,
                                       length=length if upload.length is None else None)
        except UploadError as exc:
            raise AssetError(exc.status, exc.message) from None
        return await self.get(asset_id)

    async def upload_complete(self, upload: Upload, path: Path) -> None:
        """tus told us an upload finished: its asset is uploaded, and queued."""
        asset_id = upload.metadata.get(ASSET_METADATA)
        if asset_id is None:
            log.warning("upload %s finished for no asset; removed", upload.id)
            self._uploads.delete(upload.id)
            return
        with contextlib.suppress(Conflict, NotFound):
            await repo.move(self._sessions, asset_id, from_states=[AssetState.CREATED.value],
                            to=AssetState.UPLOADED.value, size=path.stat().st_size)
            await self._enqueue(asset_id)

    async def create_from_library(self, *, path: str, title: str | None,
                                  access: str) -> AssetRow:
        try:
            file = self._locate_library(path)
        except ValueError as exc:
            raise AssetError(422, str(exc)) from None
        if not file.is_file():
            raise AssetError(422, f"{path!r} is not a file in the library")
        asset = await repo.create_asset(
            self._sessions, state=AssetState.UPLOADED.value, source_kind=SourceKind.LIBRARY,
            source_ref=path, title=title, size=file.stat().st_size, access=access)
        return await self._enqueue(asset.id)

    async def create_from_url(self, *, url: str, title: str | None, access: str) -> AssetRow:
        """Fetched in the background with the upstream safeguards (timeouts, size limit,
        the temp-dir budget); the asset is `created` until the file is here."""
        if not url.startswith(("http://", "https://")):
            raise AssetError(422, "an import URL is http:// or https://")
        asset = await repo.create_asset(
            self._sessions, state=AssetState.CREATED.value, source_kind=SourceKind.URL,
            source_ref=url, title=title, access=access)
        task = asyncio.create_task(self._import(asset.id, url), name=f"hlsd-import-{asset.id}")
        self._importing.add(task)
        task.add_done_callback(self._importing.discard)
        return asset

    async def _import(self, asset_id: str, url: str) -> None:
        target = self._imports / asset_id
        try:
            fetched = await self._fetcher.fetch(url, max_bytes=self._max_bytes)
            assert fetched is not None  # not optional: a 404 raises
            try:
                await asyncio.to_thread(fetched.path.replace, target)
            finally:
                self._fetcher.release(fetched)
            await repo.move(self._sessions, asset_id, from_states=[AssetState.CREATED.value],
                            to=AssetState.UPLOADED.value, size=target.stat().st_size)
            await self._enqueue(asset_id)
        except (SourceError, OSError) as exc:
            target.unlink(missing_ok=True)
            message = getattr(exc, "message", str(exc))
            with contextlib.suppress(Conflict, NotFound):
                await repo.move(self._sessions, asset_id,
                                from_states=[AssetState.CREATED.value],
                                to=AssetState.FAILED.value,
                                reason=f"the URL could not be imported: {message}")
        except (Conflict, NotFound):
            target.unlink(missing_ok=True)  # cancelled or deleted while fetching

    async def _enqueue(self, asset_id: str) -> AssetRow:
        try:
            self._jobs.submit(asset_id)
        except QueueFull as exc:
            await repo.move(self._sessions, asset_id,
                                    from_states=sorted(s.value for s in
                                                       sources_of(AssetState.FAILED)),
                                    to=AssetState.FAILED.value, reason=str(exc))
            raise AssetError(503, str(exc)) from None
        return await repo.move(self._sessions, asset_id,
                               from_states=sorted(s.value for s in sources_of(AssetState.QUEUED)),
                               to=AssetState.QUEUED.value)

    async def ready(self, asset: AssetRow) -> None:
        """An uploaded source has served its purpose once its ladder is published: the
        upload's space goes back to the uploads budget."""
        if asset.source_kind == SourceKind.UPLOAD and asset.upload_id is not None:
            with contextlib.suppress(UploadError):
                self._uploads.delete(asset.upload_id)
        elif asset.source_kind == SourceKind.URL:
            (self._imports / asset.id).unlink(missing_ok=True)

    # -- reading ------------------------------------------------------------------------

    async def get(self, asset_id: str) -> AssetRow:
        try:
            return await repo.get_asset(self._sessions, asset_id)
        except NotFound:
            raise AssetError(404, f"no asset {asset_id!r}") from None

    # -- moving on ----------------------------------------------------------------------

    async def cancel(self, asset_id: str) -> AssetRow:
        try:
            asset = await repo.move(
                self._sessions, asset_id,
                from_states=sorted(s.value for s in sources_of(AssetState.CANCELLED)),
                to=AssetState.CANCELLED.value, reason="cancelled")
        except NotFound:
            raise AssetError(404, f"no asset {asset_id!r}") from None
        except Conflict as exc:
            raise AssetError(409, f"{exc}: nothing to cancel") from None
        self._jobs.cancel(asset_id)
        return asset

    async def retry(self, asset_id: str) -> AssetRow:
        asset = await self.get(asset_id)
        if asset.state != AssetState.FAILED.value:
            raise AssetError(409, f"asset {asset_id} is {asset.state}; only a failed one is "
                                  "retried")
        if not self.source_path(asset).is_file():
            raise AssetError(409, "the asset's source file is gone; upload it again")
        return await self._enqueue(asset_id)

    async def delete(self, asset_id: str) -> None:
        """Delete at any stage: the run is stopped, and the outputs, the source (unless
        it is a library file) and the row are removed."""
        try:
            asset = await repo.delete_asset(self._sessions, asset_id)
        except NotFound:
            raise AssetError(404, f"no asset {asset_id!r}") from None
        self._jobs.cancel(asset_id)
        await self._store.delete_prefix(f"assets/{asset_id}/")
        if asset.upload_id is not None:
            with contextlib.suppress(UploadError):
                self._uploads.delete(asset.upload_id)
        if asset.source_kind == SourceKind.URL:
            (self._imports / asset_id).unlink(missing_ok=True)

    async def recover(self) -> int:
        """After a start: runs that were under way died with the last process; they and
        everything still waiting are queued again."""
        again = 0
        for state in (AssetState.PROCESSING, AssetState.QUEUED, AssetState.UPLOADED):
            for asset in await repo.list_assets(self._sessions, limit=1_000_000,
                                                states=[state.value]):
                if state is AssetState.PROCESSING:
                    with contextlib.suppress(Conflict, NotFound):
                        await repo.move(self._sessions, asset.id,
                                        from_states=[AssetState.PROCESSING.value],
                                        to=AssetState.QUEUED.value)
                with contextlib.suppress(AssetError, QueueFull, Conflict, NotFound):
                    if state is AssetState.UPLOADED:
                        await self._enqueue(asset.id)
                    else:
                        self._jobs.submit(asset.id)
                    again += 1
        return again

    async def close(self) -> None:
        for task in list(self._importing):
            task.cancel()
        await asyncio.gather(*self._importing, return_exceptions=True)


def _new_id() -> str:
    return secrets.token_hex(12)
