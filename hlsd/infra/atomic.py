"""`write_atomically`: a file replaced whole or not at all, so a reader after a crash
(even a kill -9 or a power cut) finds the old content or the new, never a mix."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write `data` to a temporary file beside `path`, then rename it over `path`.
    `durable`: the bytes and the rename are flushed to the disk first (fsync), so a
    power cut keeps them too; without it, only the process may die. Blocking: call it
    from a thread on the event loop's behalf."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if durable:
        with contextlib.suppress(OSError):  # not every platform can fsync a directory
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
