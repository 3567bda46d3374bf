"""Where live segments go when a rendition holds more than its memory bound.

Spilled files are a cache of what the window and its availability period still need,
not a record: they are removed as segments expire, and the folder is emptied at start.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import quote

_MAX_FOLDER = 120
"""Characters of a stream's spill folder name (file systems allow 255 bytes)."""


def folder_for(stream: str) -> str:
    """The one folder name a stream's spills go under: percent-encoded, so a ``/`` in a
    websocket stream id (``room/cam``) nests nothing and no name can climb out of the
    spill folder; a long name is cut and told apart by a digest of the whole."""
    safe = quote(stream, safe="")
    if safe.startswith("."):
        safe = "%2E" + safe[1:]
    if len(safe) > _MAX_FOLDER:
        digest = hashlib.sha256(stream.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        safe = f"{safe[:_MAX_FOLDER - 33]}~{digest}"
    return safe


class SpillDir:
    def __init__(self, root: Path) -> None:
        self.root = root
        shutil.rmtree(root, ignore_errors=True)  # the last run's spills serve no one
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.bytes = 0

    def write(self, folder: str, name: str, data: bytes) -> Path:
        target = self.root / folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{name}.part")
        part.write_bytes(data)
        os.replace(part, target)  # whole, or not there
        with self._lock:
            self.bytes += len(data)
        return target

    def remove(self, path: Path, size: int) -> None:
        path.unlink(missing_ok=True)
        with self._lock:
            self.bytes -= size

    def remove_folder(self, folder: str) -> None:
        shutil.rmtree(self.root / folder, ignore_errors=True)
