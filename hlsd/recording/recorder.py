"""The recorder: live segments of the hub into the object store, indexed in the database.

Each active recording reads its stream through its own bounded `Reader` (attached
`through_end`, so a publisher that comes back carries on into it) and has its own writer
task, so a slow store delays only that recording and never the publisher: a full reader
drops the segment (counted in ``hlsd_reader_dropped_total{consumer="recorder"}``), and
the next one of its variant is marked a discontinuity. The recorder watches the hub's
events (`StreamHub.watch`) for streams it records that are published after the recording
started (or after a restart, or again after the hub forgot them), attaching to each and
catching up on what it committed meanwhile from the segments it still holds: the same
reach-back a start in the past uses. A recording of a source an edge holds is fed by
the edge link instead (`Recording.feed` ``edge``, fixed at its start): the recorder never
attaches it to the hub, whose stream of that name carries only what is streaming (and on
another control node, a relay of it), so a segment is never stored twice; the link hands
each segment to `put_segment` (``_sent.py``). A segment is durable before it is visible: its
bytes are written whole to the store (atomic put), and only then is its row committed
to the database, which is what replay reads. A crash therefore leaves the committed part
playable, at worst with unreferenced objects that `delete` removes with their prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import posixpath
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hlsd.db import Recording, repo
from hlsd.db.models import FEED_EDGE, new_id
from hlsd.db.repo import Sessions
from hlsd.db.timestamps import utcnow
from hlsd.infra.logs import clip
from hlsd.infra.retry import Backoff, retry
from hlsd.metrics import Metrics
from hlsd.recording._sent import SentSegment, SentSegments
from hlsd.recording._track import Track
from hlsd.recording.errors import BadStart
from hlsd.recording.errors import RecordingError as RecordingError  # auto.py's import
from hlsd.storage import ObjectStore, StorageError
from hlsd.streams import (
    Committed,
    ConsumerKind,
    HubEvent,
    HubEventKind,
    Overflow,
    Reader,
    ReaderClosed,
    Segment,
    Stream,
    StreamHub,
    StreamState,
)
from hlsd.streams.segment import media_type

log = logging.getLogger(__name__)

_STORE_BACKOFF = Backoff(first=0.5, cap=30.0)
_DRAIN_TIMEOUT = 30.0
_MAX_TAIL = 15.0
"""Seconds a stop waits, at most, for segments that began before it to arrive."""


MAX_AHEAD = timedelta(days=366)
"""How far ahead a recording may be armed."""




@dataclass(kw_only=True)
class _Active:
    """A recording under way: the reader of its stream, and its writer."""

    recording: Recording
    reader: Reader[Committed]
    tracks: dict[str, Track] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    stream: Stream | None = None
    """The hub stream `reader` is attached to."""
    end: datetime | None = None
    """Set by a stop: segments that begin before it still belong to the recording."""

    def wants(self, segment: Segment) -> bool:
        """Whether the segment's air time overlaps the recording's start onwards, and
        begins before its end."""
        ends = segment.program_date_time + timedelta(seconds=segment.duration)
        return ends > self.recording.start_ts and (
            self.end is None or segment.program_date_time < self.end)


class Recorder:
    def __init__(self, *, hub: StreamHub, sessions: Sessions, store: ObjectStore,
                 metrics: Metrics, reach_back: float, queue_segments: int,
                 store_attempts: int, now: Callable[[], datetime] = utcnow,
                 on_commit: Callable[[str], None] = lambda recording_id: None,
                 on_demand: Callable[[str], Awaitable[Stream | None]] | None = None) -> None:
        """`on_commit` is told the id of a recording each time one of its segments is
        committed. `on_demand` is asked for a stream the hub does not have when a
        recording of it starts (a channel is fed into the hub only while something reads
        it; another node's stream is relayed)."""
        self._hub = hub
        self._sessions = sessions
        self._store = store
        self._metrics = metrics
        self._reach_back = reach_back
        self._queue_segments = queue_segments
        self._attempts = store_attempts
        self._now = now
        self._active: dict[str, _Active] = {}
        self._by_stream: dict[str, list[_Active]] = {}
        self._watching: asyncio.Task[None] | None = None
        self._on_commit = on_commit
        self._on_demand = on_demand
        self._sent = SentSegments(sessions=sessions, metrics=metrics, put=self._put,
                                  on_commit=on_commit)

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Watch the hub and carry on with the recordings a previous run left active
        (once, however often it is run: a start-up step may be run again)."""
        if self._watching is None:
            events = self._hub.watch(ConsumerKind.RECORDER, events=(HubEventKind.PUBLISHED,))
            self._watching = asyncio.create_task(self._watch(events),
                                                 name="hlsd-recorder-watch")
            for active in list(self._active.values()):  # started before the watch
                self._attach(active)
        for recording in await repo.list_active_recordings(self._sessions):
            if recording.id in self._active or recording.feed == FEED_EDGE:
                continue
            tracks = await self._saved_tracks(recording.id)
            self._activate(recording, tracks)
            log.info("recording %s of %r: carried on after a restart", recording.id,
                     recording.stream)

    async def close(self) -> None:
        """Store what is queued (within a deadline); recordings stay active for the next
        run."""
        if self._watching is not None:
            self._watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watching
            self._watching = None
        actives = list(self._active.values())
        for active in actives:
            self._deactivate(active)
        await asyncio.gather(*(self._drain(active) for active in actives))

    # -- the API's verbs ---------------------------------------------------------------

    async def start(self, stream: str, *, start_ts: datetime | None = None,
                    source_id: str | None = None, alias: str | None = None,
                    description: str | None = None, edge: bool = False) -> Recording:
        """A new recording of `stream`, from `start_ts` (now by default). A start in the
        past reaches back into the segments the hub still holds. With `edge`, the edge
        holding the source feeds it (`put_segment`), reaching back into its own cache:
        a start in the past is not bounded by ``recording.reach_back``."""
        now = self._now()
        start = now if start_ts is None else start_ts
        if not edge and start < now - timedelta(seconds=self._reach_back + 1):
            raise BadStart(
                f"the start is {(now - start).total_seconds():.0f}s in the past; "
                f"recordings reach back at most {self._reach_back:.0f}s "
                "(recording.reach_back)")
        if start > now + MAX_AHEAD:
            raise BadStart(
                f"the start is {(start - now).total_seconds():.0f}s ahead; a "
                f"recording may be armed at most {MAX_AHEAD.days} days ahead")
        recording_id = new_id()
        recording = await repo.create_recording(
            self._sessions, stream=stream, storage_prefix=f"recordings/{recording_id}/",
            source_id=source_id, alias=alias, description=description, start_ts=start,
            recording_id=recording_id, feed=FEED_EDGE if edge else None)
        if edge:
            log.info("recording %s of %r: started at %s, fed by its edge", recording.id,
                     clip(stream), start.isoformat())
            return recording
        live = self._hub.get(stream)
        if (live is None or live.state is not StreamState.LIVE) and self._on_demand is not None:
            await self._on_demand(stream)
        self._activate(recording, {})  # reaching back into what the hub holds
        log.info("recording %s of %r: started at %s", recording.id, clip(stream),
                 start.isoformat())
        return recording

    def records(self, stream: str) -> bool:
        """Whether a recording of `stream` is under way."""
        return bool(self._by_stream.get(stream))

    def streams(self) -> list[str]:
        """The streams being recorded."""
        return [name for name, active in self._by_stream.items() if active]

    async def stop(self, recording_id: str) -> Recording:
        """Stop a recording now: once the segments on air at this moment have arrived
        (within a grace period) and everything it was sent is stored. Stopping a stopped
        one returns it as it is."""
        active = self._active.get(recording_id)
        end = self._now()
        if active is not None:
            active.end = end
            await self._await_tail(active)
            self._deactivate(active)
            await self._drain(active)
        recording = await repo.stop_recording(self._sessions, recording_id, end_ts=end)
        if active is not None:
            log.info("recording %s of %r: stopped", recording_id, clip(recording.stream))
        return recording

    async def delete(self, recording_id: str) -> Recording:
        """Forget a recording and remove its objects."""
        active = self._active.get(recording_id)
        if active is not None:
            self._deactivate(active)
            active.reader.close()
            if active.task is not None:
                active.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await active.task
        recording = await repo.delete_recording(self._sessions, recording_id)
        try:
            await self._store.delete_prefix(recording.storage_prefix)
        except StorageError:
            log.exception("recording %s: its objects under %r could not all be removed",
                          recording_id, recording.storage_prefix)
        self._on_commit(recording_id)
        return recording

    async def _await_tail(self, active: _Active) -> None:
        """Wait until every variant of a live stream has committed a segment that begins
        at or after the stop (or has ended), so the one on air when it came is kept; at
        most 1.5 target durations (and `_MAX_TAIL`)."""
        stream = self._hub.get(active.recording.stream)
        end = active.end
        if stream is None or stream.state is not StreamState.LIVE or end is None:
            return
        variants = [r for r in stream.renditions.values() if r.target_duration]
        if not variants:
            return
        loop = asyncio.get_running_loop()
        longest = max(r.target_duration or 0 for r in variants)
        deadline = loop.time() + min(_MAX_TAIL, 1.5 * longest + 1)
        while loop.time() < deadline and not all(
                r.ended or (r.segments and r.segments[-1].program_date_time >= end)
                for r in variants):
            await asyncio.sleep(0.05)

    def is_recording(self, recording_id: str) -> bool:
        return recording_id in self._active

    async def put_segment(self, recording: Recording, segment: SentSegment) -> bool:
        """Store a segment sent for `recording` (one the edge link feeds): True once it
        is durable (its object written, then its row committed), False when the
        recording already held it, so a segment sent again is never stored twice.
        `StorageError` when the store refused it (after `store_attempts` tries);
        `NotFound` when the recording is gone."""
        return await self._sent.store(recording.id, recording.storage_prefix, segment)

    # -- reading -----------------------------------------------------------------------

    async def _watch(self, events: Reader[HubEvent]) -> None:
        """Attach the recordings of each stream published from now on; after losing
        events, every recording to the stream the hub has under its name."""
        try:
            while True:
                event, lost = await events.next_with_loss()
                if lost:
                    for active in list(self._active.values()):
                        self._attach(active)
                for active in list(self._by_stream.get(event.stream.name, ())):
                    self._attach(active)
        finally:
            self._hub.unwatch(events)

    def _attach(self, active: _Active) -> None:
        """Read the hub's stream of the recording's name, if it has one this recording
        does not read yet; the segments it still holds that the recording wants are
        read first (reach-back, or what came before this attach)."""
        stream = self._hub.get(active.recording.stream)
        if stream is None or stream is active.stream:
            return
        if active.stream is not None:
            active.stream.remove_reader(active.reader)
        # Without yielding to the loop, so no live segment can come between these.
        stream.add_reader(active.reader, through_end=True)
        active.stream = stream
        for rendition in list(stream.renditions.values()):
            for segment in rendition.history():
                if active.wants(segment):
                    active.reader.offer(Committed(rendition, segment))

    def _activate(self, recording: Recording, tracks: dict[str, Track]) -> _Active:
        active = _Active(recording=recording, tracks=tracks, reader=self._hub.reader(
            ConsumerKind.RECORDER, capacity=self._queue_segments, overflow=Overflow.DROP))
        active.task = asyncio.create_task(self._write_all(active),
                                          name=f"hlsd-recording-{recording.id}")
        self._active[recording.id] = active
        self._by_stream.setdefault(recording.stream, []).append(active)
        self._attach(active)
        return active

    def _deactivate(self, active: _Active) -> None:
        """No more segments for `active` (what its reader holds is still written)."""
        self._active.pop(active.recording.id, None)
        feeding = self._by_stream.get(active.recording.stream, [])
        if active in feeding:
            feeding.remove(active)
        if not feeding:
            self._by_stream.pop(active.recording.stream, None)
        if active.stream is not None:
            active.stream.remove_reader(active.reader)
            active.stream = None

    async def _drain(self, active: _Active) -> None:
        """Write what the reader holds, then end the writer (within a deadline)."""
        active.reader.close()
        if active.task is None or active.task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(active.task), _DRAIN_TIMEOUT)
        except TimeoutError:
            log.error("recording %s: the store did not take its last segments within %.0fs",
                      active.recording.id, _DRAIN_TIMEOUT)
            active.task.cancel()

    def _lost(self, active: _Active, variant: str, what: str, reason: str) -> None:
        """Segments of `variant` the recording could not keep: whatever comes next does
        not follow on."""
        track = active.tracks.get(variant)
        if track is not None:
            track.broken()
        log.error("recording %s: %s of %r lost (%s)", active.recording.id, what,
                  active.recording.stream, reason)

    # -- writing -----------------------------------------------------------------------

    async def _write_all(self, active: _Active) -> None:
        while True:
            try:
                job, dropped = await active.reader.next_with_loss()
            except ReaderClosed:
                return
            if dropped:
                self._lost(active, job.rendition.name,
                           f"{dropped} segment(s) before {job.segment.name}",
                           "its queue was full: recording.queue_segments")
            if not active.wants(job.segment):
                continue
            try:
                await self._write(active, job)
            except FileNotFoundError:
                self._fail(active, job, "expired")
            except StorageError as exc:
                log.error("recording %s: the store refused a segment: %s",
                          active.recording.id, exc)
                self._fail(active, job, "store")
            except Exception:  # a writer must outlive any one segment (a database outage)
                log.exception("recording %s: storing a segment failed", active.recording.id)
                self._fail(active, job, "error")

    def _fail(self, active: _Active, job: Committed, reason: str) -> None:
        """Count a segment the recording could not store; `reason` is a fixed label
        (``expired``, ``store``, ``error``)."""
        self._metrics.recording_losses.labels(reason).inc()
        self._lost(active, job.rendition.name, f"segment {job.segment.name}", reason)

    async def _write(self, active: _Active, job: Committed) -> None:
        recording = active.recording
        variant = job.rendition.name
        track = active.tracks.get(variant)
        if track is None:
            track = Track(position=len(active.tracks))
            info = job.rendition.info
            await repo.add_variant(
                self._sessions, recording.id, name=variant, position=track.position,
                bandwidth=info.bandwidth, average_bandwidth=info.average_bandwidth,
                codecs=info.codecs, resolution=info.resolution, frame_rate=info.frame_rate)
            active.tracks[variant] = track  # only once its row exists
        segment = job.segment
        folder = f"{recording.storage_prefix}{track.position}/"
        init_key = None
        if segment.init is not None:
            init_key = await track.store_init(folder, segment.init, self._put)
        data = segment.data
        if data is None:  # spilled to disk while it waited (reach-back)
            data = await asyncio.to_thread(segment.read)
        sequence, discontinuity = track.place(job.rendition, segment)
        extension = posixpath.splitext(segment.name)[1] or ".ts"
        key = f"{folder}{sequence}{extension}"
        await self._put(key, data, media_type(key, default="video/mp2t"))
        await repo.append_segment(
            self._sessions, recording.id, variant=variant, sequence=sequence,
            duration=segment.duration, program_date_time=segment.program_date_time,
            object_key=key, size=len(data), discontinuity=discontinuity, init_key=init_key)
        track.advance(job.rendition, segment)
        self._metrics.recorded_segments.inc()
        self._on_commit(recording.id)

    async def _put(self, key: str, data: bytes, content_type: str) -> None:
        def again(exc: BaseException, _failures: int, _delay: float) -> None:
            self._metrics.recording_retries.inc()
            log.warning("store write of %r failed (%s); trying again", key, exc)

        await retry(functools.partial(self._store.put, key, data, content_type=content_type),
                    on=StorageError, attempts=self._attempts, backoff=_STORE_BACKOFF,
                    on_retry=again)

    async def _saved_tracks(self, recording_id: str) -> dict[str, Track]:
        following = await repo.next_sequences(self._sessions, recording_id)
        return {v.name: Track(position=v.position, next_sequence=following.get(v.name, 0))
                for v in await repo.list_variants(self._sessions, recording_id)}

