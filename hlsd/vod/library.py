"""Media files in the library folder as the packager's sources: the file is the source,
so nothing is fetched or cached, and a file changed in place is a new source."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hlsd.vod.errors import InvalidSourceId, UpstreamNotFound
from hlsd.vod.sources import SourceFiles, source_key

__all__ = ["LibraryFiles"]


class LibraryFiles:
    def __init__(self, locate: Callable[[str], Path]) -> None:
        """`locate` turns a library path into the file, refusing (ValueError) one that
        would lead outside the library folder."""
        self._locate = locate

    def _file(self, ref: str) -> Path:
        try:
            path = self._locate(ref)
        except ValueError as exc:
            raise InvalidSourceId(str(exc)) from exc
        if not path.is_file():
            raise UpstreamNotFound(f"{ref!r} is not a file in the library")
        return path

    def key_for(self, ref: str) -> str:
        stat = self._file(ref).stat()
        return source_key(f"library:{stat.st_size}:{stat.st_mtime_ns}", ref)

    async def ensure(self, ref: str) -> SourceFiles:
        return SourceFiles(key=self.key_for(ref), qid=ref, media=self._file(ref), vtt=None)

    def forget(self, key: str) -> None:
        """Nothing is cached for a library file."""
