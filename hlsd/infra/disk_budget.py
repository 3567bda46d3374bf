"""A byte ceiling for work in progress in a directory (``cache.killsize.tempdir``), and
`DiskFull`, what a disk bound raises when new work would pass it."""

from __future__ import annotations

import logging

from hlsd import errors

__all__ = ["DiskBudget", "DiskFull"]

log = logging.getLogger(__name__)


class DiskFull(errors.NoSpace):
    """A disk bound (a cache's size, a budget's ceiling) was reached: new work is refused.
    Of the kind `NoSpace` (507 at the API); `vod/` says it in its own errors."""


class DiskBudget:
    """Bytes reserved before they are written and released once they leave; with
    `enforced` off (``killsize.enabled: false``) the figure is kept but never refuses."""

    def __init__(self, name: str, limit: int, *, enforced: bool) -> None:
        self.name = name
        self.limit = limit
        self.enforced = enforced
        self.used = 0

    def reserve(self, n: int) -> None:
        if self.enforced and self.used + n > self.limit:
            log.warning("%s: ceiling of %d bytes reached; refusing new work", self.name,
                        self.limit)
            raise DiskFull(f"{self.name} is full; try again later")
        self.used += n

    def release(self, n: int) -> None:
        self.used = max(0, self.used - n)
