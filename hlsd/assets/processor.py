"""One processing run of an asset: probe, plan the ladder, transcode, make thumbnails,
store every output, and only then publish.

A run writes into a scratch folder of its own and stores under a prefix of its own
(``assets/<id>/<attempt>/``); the asset points at that prefix only once everything is
stored, and only if the asset is still this run's (the move to `ready` names the
attempt). So a run that dies, fails or is cancelled never leaves anything playable
behind, and its debris is removed: by itself, or by the run that takes over from it.

While it works, a run writes its progress once a second, and that write also tells it
whether it is still wanted: an asset cancelled, deleted, or taken over by a later run
(the queue thought its worker dead) is no longer `processing` with this run's attempt,
and the run stops (ffmpeg too) within a second or so, on whichever machine it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from hlsd.assets.ladder import LadderError, LadderPlan, Rung, plan_ladder
from hlsd.assets.state import AssetState
from hlsd.assets.subtitles import (
    SubtitleError,
    Track,
    add_to_master,
    add_to_mpd,
    media_playlist,
    subtitles_key,
    to_webvtt,
)
from hlsd.assets.thumbnails import make_thumbnails
from hlsd.assets.transcode import TranscodeError, transcode
from hlsd.db import assets as repo
from hlsd.db.errors import Conflict
from hlsd.db.models import AssetRow
from hlsd.db.repo import Sessions
from hlsd.media import MediaError
from hlsd.media.probe import probe
from hlsd.storage import ObjectStore, StorageError

__all__ = ["OUTPUT_TYPES", "Processor", "ProcessorConfig", "SourceOf", "output_prefix"]

log = logging.getLogger(__name__)

_WATCH_EVERY = 1.0
"""Seconds between progress writes, each also checking that the run is still wanted."""
OUTPUT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl", ".mpd": "application/dash+xml",
    ".m4s": "video/iso.segment", ".mp4": "video/mp4", ".jpg": "image/jpeg",
    ".vtt": "text/vtt",
}
"""The media type of each kind of file a run stores (and `/vod` serves)."""
_PROCESSING = AssetState.PROCESSING.value

SourceOf = Callable[[AssetRow, Path], Awaitable[Path]]
"""The asset's source as a local file, given a folder the run may fetch it into: the
file where it is (the embedded queue), or a copy from the object store (workers)."""


def output_prefix(asset_id: str, attempt: int) -> str:
    return f"assets/{asset_id}/{attempt}/"


@dataclass(frozen=True, kw_only=True, slots=True)
class ProcessorConfig:
    ladder: Sequence[Rung]
    segment_seconds: float
    scratch: Path
    watch_every: float = _WATCH_EVERY


class Processor:
    def __init__(self, *, sessions: Sessions, store: ObjectStore, config: ProcessorConfig,
                 source: SourceOf,
                 on_progress: Callable[[str, float | None], None] = lambda _a, _p: None,
                 on_ready: Callable[[AssetRow], Awaitable[None]] | None = None) -> None:
        self._sessions = sessions
        self._store = store
        self._config = config
        self._source = source
        self._on_progress = on_progress
        self._on_ready = on_ready

    async def run(self, asset_id: str, *, takeover: bool = False) -> None:
        """Process `asset_id` if it is still queued (a cancel may have come first).

        With `takeover` (the queue retries a job whose worker died or was stopped, which
        left the asset `processing`) a `processing` asset is taken too, as the next
        attempt; the compare-and-set on the attempt lets one run only win it.
        """
        wanted = [AssetState.QUEUED.value, *([_PROCESSING] if takeover else [])]
        try:
            before = await repo.get_asset(self._sessions, asset_id)
            asset = await repo.move(self._sessions, asset_id, from_states=wanted,
                                    to=_PROCESSING, if_attempt=before.attempt,
                                    attempt=before.attempt + 1, progress=0.0, reason=None)
        except (Conflict, LookupError):
            return  # cancelled or deleted while it waited, or taken by another run
        if before.attempt > 0:
            # What an earlier run left (it died, or stops now that it is not wanted): it
            # can never be published, the asset being this run's.
            await self._discard(output_prefix(asset_id, before.attempt))
            await asyncio.to_thread(shutil.rmtree, self._folder(asset_id, before.attempt),
                                    True)
        log.info("asset %s: run %d started", asset_id, asset.attempt)
        prefix = output_prefix(asset_id, asset.attempt)
        folder = self._folder(asset_id, asset.attempt)
        watch = _Watch(self._sessions, asset, self._on_progress, self._config.watch_every)
        work = asyncio.create_task(self._make(asset, folder, prefix, watch),
                                   name=f"hlsd-asset-{asset_id}-{asset.attempt}")
        guard = asyncio.create_task(watch.guard(work))
        try:
            details = await work
        except asyncio.CancelledError:
            await self._discard(prefix)
            if watch.lost and not _cancelling():
                log.info("asset %s: run %d stopped: the asset is no longer its",
                         asset_id, asset.attempt)
                return
            # Cancelled here (a shutdown, or a local cancel): the state says what's next.
            raise
        except (MediaError, LadderError, TranscodeError, SubtitleError, StorageError,
                OSError) as exc:
            await self._discard(prefix)
            await self._fail(asset_id, _reason(exc), attempt=asset.attempt)
            return
        finally:
            guard.cancel()
            await asyncio.gather(guard, return_exceptions=True)
            self._on_progress(asset_id, None)
            await asyncio.to_thread(shutil.rmtree, folder, True)
        try:
            ready = await repo.move(self._sessions, asset_id, from_states=[_PROCESSING],
                                    if_attempt=asset.attempt, to=AssetState.READY.value,
                                    outputs=prefix, progress=1.0,
                                    duration=details["duration"], details=json.dumps(details))
        except (Conflict, LookupError):
            await self._discard(prefix)  # cancelled, deleted or taken over at the last moment
            return
        if self._on_ready is not None:
            await self._on_ready(ready)
        log.info("asset %s ready: %s", asset_id, details["rungs"])

    async def abandon(self, asset_id: str, reason: str) -> None:
        """No run will finish this asset (the queue gave up on its job): it fails with
        `reason`, and what its last run stored is removed."""
        with contextlib.suppress(Conflict, LookupError):
            asset = await repo.move(self._sessions, asset_id, from_states=[_PROCESSING],
                                    to=AssetState.FAILED.value, reason=reason)
            log.warning("asset %s failed: %s", asset_id, reason)
            await self._discard(output_prefix(asset_id, asset.attempt))

    def _folder(self, asset_id: str, attempt: int) -> Path:
        return self._config.scratch / f"{asset_id}-{attempt}"

    async def _make(self, asset: AssetRow, folder: Path, prefix: str, watch: _Watch
                    ) -> dict[str, object]:
        await asyncio.to_thread(shutil.rmtree, folder, True)
        source = await self._source(asset, folder / "source")
        if not source.is_file():
            raise MediaError("the uploaded file is gone")
        if source.stat().st_size == 0:
            raise MediaError("the file is empty (0 bytes)")
        info = await asyncio.to_thread(probe, source)
        plan = plan_ladder(info, self._config.ladder)
        out = folder / "out"
        out.mkdir(parents=True)
        outputs = await transcode(source, out, plan, on_progress=watch,
                                  segment_seconds=self._config.segment_seconds)
        thumbnails = await make_thumbnails(source, out, duration=plan.duration)
        subtitles = await self._subtitles(asset, out, outputs.master, outputs.mpd,
                                          plan.duration)
        files = sorted(p for p in out.rglob("*") if p.is_file())
        for path in files:
            await self._store.put_file(
                prefix + path.relative_to(out).as_posix(), path,
                content_type=OUTPUT_TYPES.get(path.suffix, "application/octet-stream"))
        return {**_details(plan, outputs.master.name, outputs.mpd.name,
                           [p.name for p in thumbnails.files] if thumbnails else []),
                "subtitles": subtitles}

    async def _subtitles(self, asset: AssetRow, out: Path, master: Path, mpd: Path,
                         duration: float) -> dict[str, str]:
        """The subtitles given with the asset, as WebVTT sidecars named by both
        manifests; returns them, language → name."""
        wanted: dict[str, str] = json.loads(asset.details or "{}").get("subtitles", {})
        tracks = []
        for language, name in sorted(wanted.items()):
            track = Track(language=language, name=name, uri=f"subs-{language}.vtt",
                          playlist=f"subs-{language}.m3u8")
            text = to_webvtt(await self._store.get(subtitles_key(asset.id, language)))
            (out / track.uri).write_text(text, encoding="utf-8")
            (out / track.playlist).write_text(media_playlist(track, duration), encoding="utf-8")
            tracks.append(track)
        if tracks:
            master.write_text(add_to_master(master.read_text(encoding="utf-8"), tracks),
                              encoding="utf-8")
            mpd.write_text(add_to_mpd(mpd.read_text(encoding="utf-8"), tracks),
                           encoding="utf-8")
        return wanted

    async def _discard(self, prefix: str) -> None:
        try:
            await self._store.delete_prefix(prefix)
        except StorageError as exc:
            log.warning("could not remove the debris under %s: %s", prefix, exc)

    async def _fail(self, asset_id: str, reason: str, *, attempt: int) -> None:
        log.warning("asset %s failed: %s", asset_id, reason)
        with contextlib.suppress(Conflict, LookupError):
            await repo.move(self._sessions, asset_id, from_states=[_PROCESSING],
                            if_attempt=attempt, to=AssetState.FAILED.value, reason=reason)


class _Watch:
    """Progress from ffmpeg, written to the database every `every` seconds; a write that
    finds the asset no longer this run's (cancelled, deleted, failed or taken over)
    cancels the run's work."""

    def __init__(self, sessions: Sessions, asset: AssetRow,
                 on_progress: Callable[[str, float | None], None], every: float) -> None:
        self._sessions = sessions
        self._asset_id = asset.id
        self._attempt = asset.attempt
        self._on_progress = on_progress
        self._every = every
        self._latest = 0.0
        self.lost = False
        """The asset stopped being this run's: the work was cancelled for that."""

    def __call__(self, fraction: float) -> None:
        # The transcode is the work; thumbnails and storing take the last few percent.
        self._latest = min(0.95, max(0.0, fraction) * 0.95)
        self._on_progress(self._asset_id, self._latest)

    async def guard(self, work: asyncio.Task[Any]) -> None:
        while not work.done():
            await asyncio.sleep(self._every)
            try:
                wanted = await repo.set_progress(self._sessions, self._asset_id,
                                                 round(self._latest, 3), attempt=self._attempt)
            except (SQLAlchemyError, OSError) as exc:
                # The database is away for a moment: the work goes on, checked next time.
                log.warning("asset %s: progress not recorded: %s", self._asset_id, exc)
                continue
            if not wanted:
                self.lost = True
                work.cancel()
                return


def _cancelling() -> bool:
    """Whether this task itself is being cancelled (not only the work it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _details(plan: LadderPlan, master: str, mpd: str, thumbnails: list[str]
             ) -> dict[str, object]:
    return {"duration": plan.duration, "rungs": [r.name for r in plan.rungs],
            "video": plan.has_video, "audio": plan.has_audio,
            "master": master, "mpd": mpd, "thumbnails": thumbnails}


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 500 else text[:497] + "..."
