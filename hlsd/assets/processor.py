"""One processing run of an asset: probe, plan the ladder, transcode, make thumbnails,
store every output, and only then publish.

A run writes into a scratch folder of its own and stores under a prefix of its own
(``assets/<id>/<attempt>/``); the asset points at that prefix only once everything is
stored. So a run that dies, fails or is cancelled never leaves anything playable
behind, and its debris is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hlsd.assets.ladder import LadderError, LadderPlan, Rung, plan_ladder
from hlsd.assets.state import AssetState, sources_of
from hlsd.assets.thumbnails import make_thumbnails
from hlsd.assets.transcode import TranscodeError, transcode
from hlsd.db import assets as repo
from hlsd.db.errors import Conflict
from hlsd.db.models import AssetRow
from hlsd.db.repo import Sessions
from hlsd.media import MediaError
from hlsd.media.probe import probe
from hlsd.storage import ObjectStore, StorageError

__all__ = ["Processor", "output_prefix"]

log = logging.getLogger(__name__)

_PROGRESS_EVERY = 1.0
"""Seconds between progress writes to the database."""
_CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl", ".mpd": "application/dash+xml",
    ".m4s": "video/iso.segment", ".mp4": "video/mp4", ".jpg": "image/jpeg",
    ".vtt": "text/vtt",
}


def output_prefix(asset_id: str, attempt: int) -> str:
    return f"assets/{asset_id}/{attempt}/"


@dataclass(frozen=True, kw_only=True, slots=True)
class ProcessorConfig:
    ladder: Sequence[Rung]
    segment_seconds: float
    scratch: Path


class Processor:
    def __init__(self, *, sessions: Sessions, store: ObjectStore, config: ProcessorConfig,
                 source_path: Callable[[AssetRow], Path],
                 on_progress: Callable[[str, float | None], None] = lambda _a, _p: None,
                 on_ready: Callable[[AssetRow], Awaitable[None]] | None = None) -> None:
        self._sessions = sessions
        self._store = store
        self._config = config
        self._source_path = source_path
        self._on_progress = on_progress
        self._on_ready = on_ready

    async def run(self, asset_id: str) -> None:
        """Process `asset_id` if it is still queued (a cancel may have come first)."""
        try:
            asset = await repo.get_asset(self._sessions, asset_id)
            asset = await repo.move(self._sessions, asset_id,
                                    from_states=[AssetState.QUEUED.value],
                                    to=AssetState.PROCESSING.value,
                                    attempt=asset.attempt + 1, progress=0.0, reason=None)
        except (Conflict, LookupError):
            return  # cancelled or deleted while it waited
        prefix = output_prefix(asset_id, asset.attempt)
        scratch = self._config.scratch / f"{asset_id}-{asset.attempt}"
        try:
            details = await self._make(asset, scratch, prefix)
        except asyncio.CancelledError:
            # Cancelled by the user (the state already says so) or by a shutdown (the
            # state stays processing, and the next start queues it again).
            await self._discard(prefix)
            raise
        except (MediaError, LadderError, TranscodeError, StorageError, OSError) as exc:
            await self._discard(prefix)
            await self._fail(asset_id, _reason(exc))
            return
        finally:
            self._on_progress(asset_id, None)
            shutil.rmtree(scratch, ignore_errors=True)
        try:
            ready = await repo.move(self._sessions, asset_id,
                                    from_states=[AssetState.PROCESSING.value],
                                    to=AssetState.READY.value, outputs=prefix, progress=1.0,
                                    duration=details["duration"], details=json.dumps(details))
        except (Conflict, LookupError):
            await self._discard(prefix)  # cancelled or deleted at the last moment
            return
        if self._on_ready is not None:
            await self._on_ready(ready)
        log.info("asset %s ready: %s", asset_id, details["rungs"])

    async def _make(self, asset: AssetRow, scratch: Path, prefix: str) -> dict[str, object]:
        source = self._source_path(asset)
        if not source.is_file():
            raise MediaError("the uploaded file is gone")
        if source.stat().st_size == 0:
            raise MediaError("the file is empty (0 bytes)")
        info = await asyncio.to_thread(probe, source)
        plan = plan_ladder(info, self._config.ladder)
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        reporter = _Reporter(self._sessions, asset.id, asset.attempt, self._on_progress)
        outputs = await transcode(source, scratch, plan, on_progress=reporter,
                                  segment_seconds=self._config.segment_seconds)
        thumbnails = await make_thumbnails(source, scratch, duration=plan.duration)
        await reporter.flush()
        files = sorted(p for p in scratch.rglob("*") if p.is_file())
        for path in files:
            key = prefix + path.relative_to(scratch).as_posix()
            await self._store.put(key, await asyncio.to_thread(path.read_bytes),
                                  content_type=_CONTENT_TYPES.get(path.suffix,
                                                                  "application/octet-stream"))
        return _details(plan, outputs.master.name, outputs.mpd.name,
                        [p.name for p in thumbnails.files] if thumbnails else [])

    async def _discard(self, prefix: str) -> None:
        try:
            await self._store.delete_prefix(prefix)
        except StorageError as exc:
            log.warning("could not remove the debris under %s: %s", prefix, exc)

    async def _fail(self, asset_id: str, reason: str) -> None:
        log.warning("asset %s failed: %s", asset_id, reason)
        with contextlib.suppress(Conflict, LookupError):
            await repo.move(self._sessions, asset_id,
                            from_states=sorted(s.value for s in sources_of(AssetState.FAILED)),
                            to=AssetState.FAILED.value, reason=reason)


class _Reporter:
    """Progress from ffmpeg, written to the database at most once a second."""

    def __init__(self, sessions: Sessions, asset_id: str, attempt: int,
                 on_progress: Callable[[str, float | None], None]) -> None:
        self._sessions = sessions
        self._asset_id = asset_id
        self._attempt = attempt
        self._on_progress = on_progress
        self._written = 0.0
        self._latest = 0.0
        self._pending: asyncio.Task[None] | None = None

    def __call__(self, fraction: float) -> None:
        # The transcode is the work; thumbnails and storing take the last few percent.
        self._latest = min(0.95, max(0.0, fraction) * 0.95)
        self._on_progress(self._asset_id, self._latest)
        now = time.monotonic()
        if now - self._written >= _PROGRESS_EVERY and (
                self._pending is None or self._pending.done()):
            self._written = now
            self._pending = asyncio.ensure_future(repo.set_progress(
                self._sessions, self._asset_id, round(self._latest, 3),
                attempt=self._attempt))

    async def flush(self) -> None:
        if self._pending is not None:
            await asyncio.gather(self._pending, return_exceptions=True)


def _details(plan: LadderPlan, master: str, mpd: str, thumbnails: list[str]
             ) -> dict[str, object]:
    return {"duration": plan.duration, "rungs": [r.name for r in plan.rungs],
            "video": plan.has_video, "audio": plan.has_audio,
            "master": master, "mpd": mpd, "thumbnails": thumbnails}


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 500 else text[:497] + "..."
