"""The folders a process writes in, made and checked before anything starts.

`prepare_folders` makes each folder (with its parents) and writes a file in it; a folder
that cannot be made, or written in, is one `FolderError` naming the setting, the path
and the system's reason. `hlsd serve` runs it before the engine starts (its worker
processes would only fail with a traceback), and `app.build_services` runs it again.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

__all__ = ["FolderError", "prepare_folders"]


class FolderError(Exception):
    """A folder the configuration names cannot be used."""

    def __init__(self, setting: str, path: Path, reason: str) -> None:
        super().__init__(f"cannot use {path.absolute()} ({setting}): {reason}")
        self.setting = setting
        self.path = path
        self.reason = reason


def prepare_folders(folders: Iterable[tuple[str, Path]]) -> None:
    """Make every `(setting, path)` folder and check that it can be written in."""
    for setting, path in folders:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise FolderError(setting, path, _not_a_folder(path)) from None
        except OSError as exc:
            raise FolderError(setting, path,
                              f"it cannot be created: {exc.strerror or exc}") from None
        try:
            fd, probe = tempfile.mkstemp(prefix=".hlsd-write-check-", dir=path)
        except OSError as exc:
            raise FolderError(setting, path,
                              f"nothing can be written in it: {exc.strerror or exc}"
                              ) from None
        os.close(fd)
        os.unlink(probe)


def _not_a_folder(path: Path) -> str:
    """Which part of `path` is in the way: the nearest one that exists, not a folder."""
    for part in (path, *path.parents):
        if part.exists() or part.is_symlink():
            if not part.is_dir():
                return ("it exists and is not a folder" if part == path
                        else f"{part.absolute()} is not a folder")
            break
    return "a part of it is not a folder"
