"""Where an asset's source file is: on the node it came to (a tus upload, a URL import,
a library file), and, for workers elsewhere, staged in the object store (`staging`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from hlsd.assets import staging
from hlsd.assets.uploads import UploadError, UploadStore
from hlsd.db.models import AssetRow
from hlsd.storage import ObjectStore

__all__ = ["SourceFiles", "SourceGone", "SourceKind"]


class SourceKind:
    UPLOAD = "upload"
    URL = "url"
    LIBRARY = "library"


class SourceGone(Exception):
    """The source is neither on this node nor in the object store."""


class SourceFiles:
    def __init__(self, *, store: ObjectStore, uploads: UploadStore, imports: Path,
                 locate_library: Callable[[str], Path]) -> None:
        self._store = store
        self._uploads = uploads
        self._imports = imports
        self._locate_library = locate_library

    def path(self, asset: AssetRow) -> Path:
        """Where the source is (or was) on this node."""
        if asset.source_kind == SourceKind.LIBRARY:
            assert asset.source_ref is not None
            return self._locate_library(asset.source_ref)
        if asset.source_kind == SourceKind.URL:
            return self.import_path(asset.id)
        assert asset.upload_id is not None
        return self._uploads.path(asset.upload_id)

    def import_path(self, asset_id: str) -> Path:
        return self._imports / asset_id

    def local(self, asset: AssetRow) -> Path | None:
        """The source file if this node has it (an upload lives on the node it came to)."""
        try:
            path = self.path(asset)
        except (UploadError, ValueError):
            return None
        return path if path.is_file() else None

    def release(self, asset: AssetRow) -> None:
        """Remove this node's copy of an upload or import (never a library file), whose
        space goes back to the uploads budget."""
        if asset.source_kind == SourceKind.UPLOAD and asset.upload_id is not None:
            with contextlib.suppress(UploadError):
                self._uploads.delete(asset.upload_id)
        elif asset.source_kind == SourceKind.URL:
            self.import_path(asset.id).unlink(missing_ok=True)

    async def stage(self, asset: AssetRow) -> None:
        """Put the source into the object store for the workers, unless it is there
        already; this node's copy has then served its purpose. `SourceGone` if this node
        has none (another node has it, and stages it), `StorageError` if the store fails."""
        if await staging.staged(self._store, asset.id):
            return
        path = self.local(asset)
        if path is None:
            raise SourceGone("the asset's source file is gone; upload it again")
        await staging.stage(self._store, asset.id, path)
        self.release(asset)
