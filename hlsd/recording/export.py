"""``/recordings/{id}.mp4``: a recording joined into one MP4 by remuxing, in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Executor
from pathlib import Path

from hlsd.media.join import join_to_mp4
from hlsd.recording.errors import ExportTooLarge, NothingToExport
from hlsd.recording.replay import ExportPlan, Replay, ReplayCatalog

log = logging.getLogger(__name__)

TEMP_PATTERN = "export-*.mp4"
"""Files an export leaves in the temp dir while it runs; leftovers are swept at start."""


class Exporter:
    def __init__(self, *, catalog: ReplayCatalog, temp_dir: Path, executor: Executor,
                 max_bytes: int) -> None:
        self._catalog = catalog
        self._temp_dir = temp_dir
        self._executor = executor
        self._max_bytes = max_bytes

    @contextlib.asynccontextmanager
    async def export(self, replay: Replay, folder: str | None = None) -> AsyncIterator[Path]:
        """One variant of the recording (the one replayed from `folder`, by default the
        highest-bandwidth one) as an MP4 file, removed when the context ends.
        `NothingToExport` for an empty recording or an unknown variant, `ExportTooLarge`
        for one past ``recording.max_export_bytes``."""
        if replay.best is None:
            raise NothingToExport("the recording has no segments yet")
        variant = replay.variants.get(replay.best if folder is None else folder)
        if variant is None:
            raise NothingToExport(f"the recording has no variant {folder!r}")
        plan = variant.export
        if plan.size > self._max_bytes:
            raise ExportTooLarge(
                f"the recording holds {plan.size} bytes, more than the "
                f"{self._max_bytes} an export may (recording.max_export_bytes)")
        first = plan.runs[0][0]
        segment_format = "mpegts" if first.endswith(".ts") else "mp4"
        target = self._temp_dir / TEMP_PATTERN.replace("*", uuid.uuid4().hex)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, lambda: join_to_mp4(
                (self._run(run, plan, loop) for run in plan.runs), target,
                segment_format=segment_format))
            yield target
        finally:
            target.unlink(missing_ok=True)

    def _run(self, keys: tuple[str, ...], plan: ExportPlan,
             loop: asyncio.AbstractEventLoop) -> Iterator[bytes]:
        """One run's bytes (init section first, for fMP4), read as the remux needs them."""
        init = plan.inits.get(keys[0])
        for key in ((init,) if init else ()) + keys:
            path = self._catalog.local_path(key)
            if path is not None:
                yield path.read_bytes()
            else:
                yield asyncio.run_coroutine_threadsafe(self._catalog.fetch(key), loop).result()
