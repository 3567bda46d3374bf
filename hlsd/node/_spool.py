"""Large blobs of a worker's writes (segments), handed to the workers that follow it as
files in the node's run folder rather than through their sockets.

A unix socket carries at most a couple of hundred kilobytes at a time, so a megabyte
segment through it takes several turns of both event loops, each waiting behind
whatever else those loops serve (measured: 2 ms at the median on a busy follower). A
file is written once and read in one call by each follower. Files go `KEEP` seconds
after they were written: a follower that far behind is cut off anyway and starts
again from a snapshot.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from hlsd.node._frames import Header

__all__ = ["KEEP", "SPOOL", "SPOOLED", "Spool", "unspool"]

SPOOL = "spool"
"""The run folder's folder of spooled blobs."""
SPOOLED = 64 << 10
"""Blobs of at least this many bytes go through the spool."""
KEEP = 30.0
"""Seconds a spooled blob stays for its followers."""


class Spool:
    def __init__(self, folder: Path, owner: str, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._folder = folder
        self._owner = owner
        self._clock = clock
        self._numbers = itertools.count()
        self._written: deque[tuple[float, Path]] = deque()

    def spool(self, header: Header, blobs: tuple[bytes, ...]) -> tuple[Header, tuple[bytes, ...]]:
        """The frame with its large blobs written to files (named in ``spooled``)."""
        if all(len(blob) < SPOOLED for blob in blobs):
            return header, blobs
        self._expire()
        self._folder.mkdir(mode=0o700, exist_ok=True)
        spooled: dict[str, str] = {}
        kept = []
        for index, blob in enumerate(blobs):
            if len(blob) >= SPOOLED:
                name = f"{self._owner}-{next(self._numbers)}"
                path = self._folder / name
                path.write_bytes(blob)
                self._written.append((self._clock(), path))
                spooled[str(index)] = name
                blob = b""
            kept.append(blob)
        return {**header, "spooled": spooled}, tuple(kept)

    def _expire(self) -> None:
        horizon = self._clock() - KEEP
        while self._written and self._written[0][0] < horizon:
            self._written.popleft()[1].unlink(missing_ok=True)

    def close(self) -> None:
        while self._written:
            self._written.popleft()[1].unlink(missing_ok=True)


def unspool(folder: Path, header: Header, blobs: list[bytes]) -> list[bytes]:
    """The blobs of a frame, spooled ones read back (`FileNotFoundError`: gone, the
    follower was too far behind)."""
    spooled = header.get("spooled")
    if not spooled:
        return blobs
    if not isinstance(spooled, dict):
        raise ValueError("spooled names no blobs")
    blobs = list(blobs)
    for index, name in spooled.items():
        if not isinstance(name, str) or "/" in name or name.startswith("."):
            raise ValueError(f"a spooled blob's name {name!r}")
        blobs[int(index)] = (folder / name).read_bytes()
    return blobs
