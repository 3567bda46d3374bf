"""Making assets, and moving them along: from an upload (tus, or one request), a URL or
a library file, to the job queue, and on to cancel, retry and delete.

With `remote_jobs` (the Redis queue), runs happen in `hlsd worker` processes, possibly
on other machines: each source is put into the object store before it is queued
(`sources`, `staging`), and this process leaves runs under way to the workers.

No HTTP here: each refusal is an `AssetError` (or an `UploadError`) of one kind
(`hlsd.errors`), which `api/` answers with its status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from hlsd import errors
from hlsd.assets import staging
from hlsd.assets.jobs import JobQueue, JobsError
from hlsd.assets.sources import SourceFiles, SourceGone, SourceKind
from hlsd.assets.state import AssetState, sources_of
from hlsd.assets.subtitles import SubtitleError, subtitles_key, to_webvtt, valid_language
from hlsd.assets.uploads import MakeUploadStore, Upload
from hlsd.db import assets as repo
from hlsd.db.errors import Conflict, NotFound
from hlsd.db.models import AssetRow
from hlsd.db.repo import Sessions
from hlsd.infra.bounded import TooLarge
from hlsd.infra.disk_budget import DiskFull
from hlsd.infra.download import DownloadFailed, Fetcher
from hlsd.infra.guarded_http import FetchRefused, check_url_resolving
from hlsd.infra.logs import clip
from hlsd.infra.outbound import FetchPolicy
from hlsd.storage import ObjectStore, StorageError

__all__ = ["AssetConflict", "AssetError", "AssetForbidden", "AssetInvalid", "AssetNotFound",
           "AssetRow", "AssetService", "AssetUnavailable", "SourceKind"]

log = logging.getLogger(__name__)

_BEFORE_PROCESSING = (AssetState.CREATED.value, AssetState.UPLOADED.value,
                      AssetState.QUEUED.value)

ASSET_METADATA = "asset"
"""The tus Upload-Metadata key naming the asset an upload is for."""


class AssetError(errors.DomainError):
    """A request about assets that is refused."""


class AssetNotFound(AssetError, errors.NotFound):
    pass


class AssetInvalid(AssetError, errors.Invalid):
    """A source, language or subtitle file that cannot be used."""


class AssetConflict(AssetError, errors.Conflict):
    """Not in a state that allows it (or changed by another request meanwhile)."""


class AssetForbidden(AssetError, errors.Forbidden):
    """An import URL that leads where hlsd does not fetch from (``fetch.allow``)."""


class AssetUnavailable(AssetError, errors.Unavailable):
    """The job queue or the object store cannot take it now."""


class AssetService:
    def __init__(self, *, sessions: Sessions, store: ObjectStore,
                 uploads: MakeUploadStore, jobs: JobQueue,
                 fetcher: Fetcher, policy: FetchPolicy, imports: Path,
                 max_bytes: int, locate_library: Callable[[str], Path],
                 remote_jobs: bool = False) -> None:
        """`uploads` makes the service's tus upload store, told of each upload that
        completes (`upload_complete`). `fetcher` imports URLs; its client obeys `policy`
        (a guarded client), which also refuses a URL at once when it leads where imports
        may not fetch from."""
        self._sessions = sessions
        self._policy = policy
        self._store = store
        self.uploads = self._uploads = uploads(on_complete=self.upload_complete)
        self._jobs = jobs
        self._fetcher = fetcher
        self._max_bytes = max_bytes
        self._locate_library = locate_library
        self._sources = SourceFiles(store=store, uploads=self._uploads, imports=imports,
                                    locate_library=locate_library)
        self._remote = remote_jobs
        self._background: set[asyncio.Task[None]] = set()
        imports.mkdir(parents=True, exist_ok=True)

    # -- where a source is ------------------------------------------------------------

    def source_path(self, asset: AssetRow) -> Path:
        return self._sources.path(asset)

    # -- making -------------------------------------------------------------------------

    async def create_upload(self, *, title: str | None, size: int | None,
                            access: str) -> tuple[AssetRow, Upload]:
        """An asset waiting for its tus upload (the upload is made here too)."""
        asset_id = _new_id()
        upload = self._uploads.create(length=size, metadata={ASSET_METADATA: asset_id},
                                      defer_length=size is None)
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
            raise AssetConflict(f"asset {asset_id} is {asset.state}, not waiting for an "
                                "upload")
        upload = self._uploads.get(asset.upload_id)
        await self._uploads.append(upload.id, upload.offset, chunks,
                                   length=length if upload.length is None else None)
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
            await self._queue(asset_id)

    async def create_from_library(self, *, path: str, title: str | None,
                                  access: str) -> AssetRow:
        try:
            file = self._locate_library(path)
        except ValueError as exc:
            raise AssetInvalid(str(exc)) from None
        if not file.is_file():
            raise AssetInvalid(f"{path!r} is not a file in the library")
        asset = await repo.create_asset(
            self._sessions, state=AssetState.UPLOADED.value, source_kind=SourceKind.LIBRARY,
            source_ref=path, title=title, size=file.stat().st_size, access=access)
        return await self._queue(asset.id)

    async def create_from_url(self, *, url: str, title: str | None, access: str) -> AssetRow:
        """Fetched in the background with the upstream safeguards (timeouts, size limit,
        the temp-dir budget); the asset is `created` until the file is here. A URL whose
        host is (or resolves to) an address imports may not reach is refused now (403);
        one that gets there later (a redirect, a changed DNS answer) fails the asset."""
        if not url.startswith(("http://", "https://")):
            raise AssetInvalid("an import URL is http:// or https://")
        try:
            await check_url_resolving(self._policy, url)
        except FetchRefused as exc:
            raise AssetForbidden(str(exc)) from None
        asset = await repo.create_asset(
            self._sessions, state=AssetState.CREATED.value, source_kind=SourceKind.URL,
            source_ref=url, title=title, access=access)
        self._spawn(self._import(asset.id, url), f"hlsd-import-{asset.id}")
        return asset

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _import(self, asset_id: str, url: str) -> None:
        target = self._sources.import_path(asset_id)
        try:
            fetched = await self._fetcher.fetch(url, max_bytes=self._max_bytes,
                                                what="the file at the URL")
            assert fetched is not None  # not optional: a 404 raises
            try:
                await asyncio.to_thread(fetched.path.replace, target)
            finally:
                self._fetcher.release(fetched)
            await repo.move(self._sessions, asset_id, from_states=[AssetState.CREATED.value],
                            to=AssetState.UPLOADED.value, size=target.stat().st_size)
            await self._enqueue(asset_id)
        except (DownloadFailed, FetchRefused, TooLarge, DiskFull, OSError) as exc:
            target.unlink(missing_ok=True)
            message = str(exc)
            with contextlib.suppress(Conflict, NotFound):
                await repo.move(self._sessions, asset_id,
                                from_states=[AssetState.CREATED.value],
                                to=AssetState.FAILED.value,
                                reason=f"the URL could not be imported: {message}")
        except (Conflict, NotFound):
            target.unlink(missing_ok=True)  # cancelled or deleted while fetching
        except AssetError:
            pass  # it could not be queued, and failed saying why

    async def _queue(self, asset_id: str) -> AssetRow:
        """Queue the asset now; or, when its source goes to the object store first (which
        takes a while for a large file), in the background: it shows `uploaded` until
        then, and fails with the reason if it cannot be queued."""
        if not self._remote:
            return await self._enqueue(asset_id)

        async def later() -> None:
            with contextlib.suppress(AssetError, Conflict, NotFound):
                await self._enqueue(asset_id)

        self._spawn(later(), f"hlsd-queue-{asset_id}")
        return await self.get(asset_id)

    async def _enqueue(self, asset_id: str) -> AssetRow:
        """Move the asset to `queued`, then hand it to the queue (in that order, so a run
        that starts at once finds it queued). One the queue refuses fails with the
        reason, and `AssetError` says it."""
        if self._remote:
            await self._stage(asset_id)
        try:
            asset = await repo.move(
                self._sessions, asset_id, to=AssetState.QUEUED.value,
                from_states=sorted(s.value for s in sources_of(AssetState.QUEUED)))
        except NotFound:
            if self._remote:  # deleted while its source was being stored: that goes too
                with contextlib.suppress(StorageError):
                    await staging.discard(self._store, asset_id)
            raise
        try:
            await self._jobs.submit(asset_id)
        except JobsError as exc:
            await self._give_up(asset_id, str(exc))
            raise AssetUnavailable(str(exc)) from None
        return asset

    async def _stage(self, asset_id: str) -> None:
        """The source into the object store, for the workers. If this node has none,
        another has (and stages it), or it is gone: the asset is left as it is."""
        try:
            await self._sources.stage(await self.get(asset_id))
        except SourceGone as exc:
            raise AssetConflict(str(exc)) from None
        except StorageError as exc:
            reason = f"the source could not be stored for the workers: {exc}"
            await self._give_up(asset_id, reason)
            raise AssetUnavailable(reason) from None

    async def _give_up(self, asset_id: str, reason: str) -> None:
        log.warning("asset %s failed: %s", asset_id, clip(reason))
        with contextlib.suppress(Conflict, NotFound):
            await repo.move(self._sessions, asset_id,
                            from_states=sorted(s.value for s in sources_of(AssetState.FAILED)),
                            to=AssetState.FAILED.value, reason=reason)

    async def ready(self, asset: AssetRow) -> None:
        """An uploaded source has served its purpose once its ladder is published: the
        upload's space goes back to the uploads budget."""
        self._sources.release(asset)

    # -- reading ------------------------------------------------------------------------

    async def get(self, asset_id: str) -> AssetRow:
        try:
            return await repo.get_asset(self._sessions, asset_id)
        except NotFound:
            raise AssetNotFound(f"no asset {asset_id!r}") from None

    async def page(self, *, limit: int, offset: int = 0,
                   state: AssetState | None = None) -> Sequence[AssetRow]:
        """A page of the assets (of one `state`, if given), newest first."""
        return await repo.list_assets(self._sessions, limit=limit, offset=offset,
                                      states=[state.value] if state else None)

    # -- moving on ----------------------------------------------------------------------

    async def cancel(self, asset_id: str) -> AssetRow:
        try:
            asset = await repo.move(
                self._sessions, asset_id,
                from_states=sorted(s.value for s in sources_of(AssetState.CANCELLED)),
                to=AssetState.CANCELLED.value, reason="cancelled")
        except NotFound:
            raise AssetNotFound(f"no asset {asset_id!r}") from None
        except Conflict as exc:
            raise AssetConflict(f"{exc}: nothing to cancel") from None
        await self._jobs.cancel(asset_id)
        return asset

    async def add_subtitles(self, asset_id: str, *, language: str, name: str | None,
                            data: bytes) -> AssetRow:
        """Subtitles (WebVTT or SRT) for the asset's ladder: taken until its processing
        starts, since the published manifests never change."""
        if not valid_language(language):
            raise AssetInvalid(f"{language!r} is not a language tag (en, pt-BR, ...)")
        try:
            text = to_webvtt(data)
        except SubtitleError as exc:
            raise AssetInvalid(str(exc)) from None
        asset = await self.get(asset_id)
        details = json.loads(asset.details or "{}")
        details.setdefault("subtitles", {})[language] = (name or language)[:100]
        await self._store.put(subtitles_key(asset_id, language), text.encode(),
                              content_type="text/vtt")
        if not await repo.update_if(self._sessions, asset_id, states=_BEFORE_PROCESSING,
                                    details=json.dumps(details)):
            raise AssetConflict(f"asset {asset_id} is past its processing's start; "
                                "subtitles are given before it")
        return await self.get(asset_id)

    async def retry(self, asset_id: str) -> AssetRow:
        """Run a failed asset again, from its source. An upload: the file uploaded (kept
        on this node, or staged for the workers), else 409, to be uploaded again. A URL:
        imported again (through the guarded client, as at first), whatever was fetched
        before discarded. A library file: read again from the library (409 if gone)."""
        asset = await self.get(asset_id)
        if asset.state != AssetState.FAILED.value:
            raise AssetConflict(f"asset {asset_id} is {asset.state}; only a failed one is "
                                "retried")
        if asset.source_kind == SourceKind.URL and asset.source_ref is not None:
            return await self._import_again(asset, asset.source_ref)
        if asset.source_kind == SourceKind.LIBRARY:
            if self._sources.local(asset) is None:
                raise AssetConflict(f"{asset.source_ref!r} is no longer a file in the "
                                    "library")
            await self._discard_staged(asset_id)  # staged again, as the library has it now
        elif self._sources.local(asset) is None and not await self._staged(asset_id):
            raise AssetConflict(f"the file uploaded for asset {asset_id} is no longer on "
                                "the server; upload it again, as a new asset")
        try:
            return await self._enqueue(asset_id)
        except Conflict as exc:  # retried (or deleted) by another request meanwhile
            raise AssetConflict(str(exc)) from None

    async def _import_again(self, asset: AssetRow, url: str) -> AssetRow:
        try:
            await check_url_resolving(self._policy, url)
        except FetchRefused as exc:
            raise AssetForbidden(str(exc)) from None
        await self._discard_staged(asset.id)  # or a worker would get the old copy
        try:
            again = await repo.move(self._sessions, asset.id,
                                    from_states=[AssetState.FAILED.value],
                                    to=AssetState.CREATED.value, reason=None, progress=0.0)
        except Conflict as exc:  # retried (or deleted) by another request meanwhile
            raise AssetConflict(str(exc)) from None
        self._sources.release(asset)
        self._spawn(self._import(asset.id, url), f"hlsd-import-{asset.id}")
        return again

    async def _discard_staged(self, asset_id: str) -> None:
        if self._remote:
            try:
                await staging.discard(self._store, asset_id)
            except StorageError as exc:
                raise AssetUnavailable(f"the object store is unavailable: {exc}") from None

    async def _staged(self, asset_id: str) -> bool:
        if not self._remote:
            return False
        try:
            return await staging.staged(self._store, asset_id)
        except StorageError as exc:
            raise AssetUnavailable(f"the object store is unavailable: {exc}") from None

    async def delete(self, asset_id: str) -> None:
        """Delete at any stage: the run is stopped, and the outputs, the source (unless
        it is a library file) and the row are removed."""
        try:
            asset = await repo.delete_asset(self._sessions, asset_id)
        except NotFound:
            raise AssetNotFound(f"no asset {asset_id!r}") from None
        await self._jobs.cancel(asset_id)
        await self._store.delete_prefix(f"assets/{asset_id}/")
        self._sources.release(asset)

    async def recover(self) -> int:
        """After a start: everything still waiting is queued again, and so are runs that
        were under way, which died with the last process. Not with `remote_jobs`: runs
        are the workers' then (the queue retries a dead worker's job), and a queued
        asset's job is in Redis (queued again only if it was lost: one job per asset)."""
        again = 0
        states = [AssetState.QUEUED, AssetState.UPLOADED]
        if not self._remote:
            states.insert(0, AssetState.PROCESSING)
        for state in states:
            for asset in await repo.list_assets(self._sessions, limit=1_000_000,
                                                states=[state.value]):
                if state is AssetState.PROCESSING:
                    with contextlib.suppress(Conflict, NotFound):
                        await repo.move(self._sessions, asset.id,
                                        from_states=[AssetState.PROCESSING.value],
                                        to=AssetState.QUEUED.value)
                with contextlib.suppress(AssetError, JobsError, Conflict, NotFound):
                    if state is AssetState.UPLOADED:
                        await self._queue(asset.id)
                    else:
                        await self._jobs.submit(asset.id)
                    again += 1
        return again

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)


def _new_id() -> str:
    return secrets.token_hex(12)
