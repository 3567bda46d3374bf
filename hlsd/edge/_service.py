"""`EdgeService`: an edge node's parts put together: the cache in ``<folder>/cache``,
the recordings' book in ``<folder>/recordings.json``, the node between the hub and the
link, and the link to the control."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hlsd.edge._cache import SegmentCache
from hlsd.edge._link import EdgeLink, LinkConfig, LinkState
from hlsd.edge._node import EdgeNode
from hlsd.edge._recordings import RecordingBook
from hlsd.metrics import Metrics
from hlsd.streams import StreamHub

SWEEP_EVERY = 2.0
"""Seconds between the cache's age checks and the recordings' clean-up."""


class EdgeService:
    def __init__(self, *, hub: StreamHub, folder: Path, link: LinkConfig, cache_bytes: int,
                 cache_seconds: float, metrics: Metrics) -> None:
        self.folder = folder
        self.cache = SegmentCache(folder / "cache", max_bytes=cache_bytes,
                                  max_age=cache_seconds)
        self.book = RecordingBook(folder / "recordings.json")
        self.node = EdgeNode(hub=hub, cache=self.cache, book=self.book,
                             on_live_drop=metrics.edge_live_dropped.inc)
        self.link = EdgeLink(self.node, link, on_state=lambda state: metrics.edge_link_up.set(
            state is LinkState.CONNECTED))

    async def start(self) -> None:
        """What the folder holds, read before the hub takes anything."""
        await asyncio.to_thread(self.folder.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(self.cache.load)
        await asyncio.to_thread(self.book.load)

    async def follow_hub(self) -> None:
        await self.node.follow_hub()

    async def hold_link(self) -> None:
        await self.link.run()

    async def save_recordings(self) -> None:
        await self.book.save_forever()

    async def sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            await self.node.sweep()

    async def close(self) -> None:
        await self.book.save()

    def health(self) -> dict[str, Any]:
        return self.link.health()
