"""Recording every publish of matching streams, as nginx-rtmp's ``record all`` does.

A stream whose name matches one of ``recording.auto`` (shell patterns, ``*`` for every
stream) is recorded from its first segment until it ends; a publisher that comes back
later starts a new recording. These recordings carry the alias ``auto``, which is how
they are recognised again after a restart. It hears of segments through a hub reader
(`StreamHub.watch`); after losing some events it looks at every stream of the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
from collections.abc import Coroutine
from typing import Any

from hlsd.db import NotFound, repo
from hlsd.db.repo import Sessions
from hlsd.infra.logs import clip
from hlsd.recording.recorder import Recorder, RecordingError
from hlsd.storage import StorageError
from hlsd.streams import (
    ConsumerKind,
    HubEvent,
    HubEventKind,
    Reader,
    Segment,
    Stream,
    StreamHub,
    StreamState,
)

log = logging.getLogger(__name__)

AUTO_ALIAS = "auto"


class AutoRecorder:
    def __init__(self, *, recorder: Recorder, hub: StreamHub, sessions: Sessions,
                 patterns: tuple[str, ...]) -> None:
        self._recorder = recorder
        self._hub = hub
        self._sessions = sessions
        self._patterns = patterns
        self._recording: dict[str, str] = {}
        """Stream name → the id of its automatic recording."""
        self._starting: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._watching: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Take back the automatic recordings a previous run left active; watch the hub
        (once, however often it is run)."""
        if not self._patterns:
            return
        for recording in await repo.list_active_recordings(self._sessions):
            if recording.alias == AUTO_ALIAS:
                self._recording[recording.stream] = recording.id
        if self._watching is None:
            events = self._hub.watch(ConsumerKind.AUTO_RECORDER,
                                     events=(HubEventKind.COMMITTED,))
            self._offer_all()  # what went on air before: the events tell of what comes
            self._watching = asyncio.create_task(self._watch(events),
                                                 name="hlsd-auto-recorder")

    def _matches(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self._patterns)

    async def _watch(self, events: Reader[HubEvent]) -> None:
        try:
            while True:
                event, lost = await events.next_with_loss()
                if lost:
                    self._offer_all()
                if event.segment is not None:
                    self._offer(event.stream, event.segment)
        finally:
            self._hub.unwatch(events)

    def _offer_all(self) -> None:
        """Every stream on air, from its newest segment (at the start, and after events
        were lost)."""
        for stream in self._hub:
            newest = [r.segments[-1] for r in stream.renditions.values() if r.segments]
            if newest:
                self._offer(stream, min(newest, key=lambda s: s.program_date_time))

    def _offer(self, stream: Stream, segment: Segment) -> None:
        """`stream` committed `segment`: record it from there if it matches and is not
        recorded already."""
        name = stream.name
        if name in self._recording or name in self._starting or not self._matches(name) \
                or not _on_air(stream) or self._hub.get(name) is not stream:
            return
        self._starting.add(name)
        self._spawn(self._start(name, segment))

    async def _start(self, name: str, first: Segment) -> None:
        try:
            # From the first segment's air time: it is still held, so it is recorded.
            recording = await self._recorder.start(
                name, start_ts=first.program_date_time, alias=AUTO_ALIAS,
                description="recorded automatically (recording.auto)")
            self._recording[name] = recording.id
        except (RecordingError, StorageError, OSError):
            log.exception("stream %r: the automatic recording could not start", clip(name))
        finally:
            self._starting.discard(name)

    def sweep(self) -> None:
        """Stop the automatic recordings of streams that have ended (the publisher sent
        ENDLIST, or went quiet) or gone."""
        for name, recording_id in list(self._recording.items()):
            stream = self._hub.get(name)
            if stream is None or not _on_air(stream):
                del self._recording[name]
                self._spawn(self._stop(recording_id))

    async def _stop(self, recording_id: str) -> None:
        try:
            await self._recorder.stop(recording_id)
        except NotFound:
            pass  # deleted meanwhile
        except Exception:
            log.exception("recording %s: the automatic stop failed", recording_id)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Let starts and stops under way finish; recordings stay active for the next run."""
        if self._watching is not None:
            self._watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watching
            self._watching = None
        await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _on_air(stream: Stream) -> bool:
    """Live, and not every variant has said ENDLIST."""
    return stream.state is StreamState.LIVE and not all(
        r.ended for r in stream.renditions.values())
