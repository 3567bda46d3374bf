"""The edge's state between its hub and its link: the segment cache fed from the hub's
events, the sources the control named (ids, streaming flags), the recordings, and what
the link sends next (`next_job`).

The hub is read through a bounded event reader, as every hub-wide consumer reads it: a
reader that fell behind catches up from the segments each stream still holds, so the
cache misses nothing the hub still has. Segments are cached in a thread (durable
writes), and the node is the hub's `Keeper`: ingest answers a publisher only once the
segments it committed are in the cache, so a kill -9 loses nothing it acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from hlsd.cluster import edge_protocol as wire
from hlsd.edge._cache import CachedSegment, SegmentCache
from hlsd.edge._recordings import RecordingBook, TooManyRecordings
from hlsd.infra.logs import clip
from hlsd.streams import ConsumerKind, HubEvent, HubEventKind, Keeper, Segment, StreamHub
from hlsd.streams.names import name_problem

log = logging.getLogger(__name__)

LIVE_QUEUE = 64
"""Live segments waiting for the link; past it the oldest go (a viewer wants what is new)."""


@dataclass(frozen=True, slots=True)
class Job:
    """One media frame to send: a cached segment, whether it is live, and the
    recordings it is sent for."""

    segment: CachedSegment
    live: bool
    recordings: tuple[str, ...]


class EdgeNode:
    def __init__(self, *, hub: StreamHub, cache: SegmentCache, book: RecordingBook,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 on_live_drop: Callable[[], None] = lambda: None) -> None:
        """`on_live_drop`: told of each live segment the full queue left out (``/metrics``)."""
        self.hub = hub
        self._on_live_drop = on_live_drop
        self.cache = cache
        self.book = book
        self._now = wall_clock
        self.source_ids: dict[str, str] = {}
        """Stream name → the control's source id, as `get_video_source` answered."""
        self.streaming: set[str] = set()
        """Stream names whose source streams (`change_stream_state`)."""
        self.connected = False
        self.live: deque[int] = deque()
        self.live_dropped = 0
        self.wake = asyncio.Event()
        """Set when there may be something new to send."""
        self.new_names = asyncio.Event()
        """Set when a stream the control has not been asked about was cached."""

    # -- the hub → the cache -------------------------------------------------------------

    async def follow_hub(self) -> None:
        """Cache every segment the hub commits. Runs until cancelled."""
        keeper = self.hub.keeper()
        events = self.hub.watch(ConsumerKind.EDGE, events=(HubEventKind.COMMITTED,))
        try:
            await self._catch_up(keeper, live=False)
            while True:
                event, lost = await events.next_with_loss()
                if lost:
                    await self._catch_up(keeper, live=True)
                if await self._take(event):
                    keeper.kept_up_to(event.serial)
        finally:
            self.hub.unwatch(events)
            self.hub.drop_keeper(keeper)

    async def _take(self, event: HubEvent) -> bool:
        assert event.rendition is not None and event.segment is not None
        return await self._cache(event.stream.name, event.rendition.name, event.segment,
                                 live=True)

    async def _catch_up(self, keeper: Keeper, *, live: bool) -> None:
        """Cache what the hub still holds; the commits made before this began are then
        kept (unless one could not be written)."""
        serial = self.hub.commits
        kept = True
        for stream in self.hub:
            for rendition in list(stream.renditions.values()):
                for segment in rendition.history():
                    kept &= await self._cache(stream.name, rendition.name, segment, live=live)
        if kept:
            keeper.kept_up_to(serial)

    async def _cache(self, stream: str, variant: str, segment: Segment, *,
                     live: bool) -> bool:
        """Whether the cache holds the segment (a publisher waiting for it is answered
        only then: one that could not be written holds it until a later one is kept)."""
        if self.cache.has(stream, variant, segment.name):
            return True
        try:
            data = await asyncio.to_thread(segment.read)
            entry = await asyncio.to_thread(self.cache.put, stream, variant, segment, data)
        except OSError as exc:
            log.error("edge cache: segment %s of %r not cached: %s", clip(segment.name),
                      clip(stream), exc)
            return False
        if stream not in self.source_ids:
            self.new_names.set()
        if live and self.connected and stream in self.streaming:
            if len(self.live) >= LIVE_QUEUE:
                self.live.popleft()
                self.live_dropped += 1
                self._on_live_drop()
            self.live.append(entry.cid)
        self.wake.set()
        return True

    async def sweep(self) -> None:
        """The cache's age bound, and recordings done with. Every few seconds."""
        await asyncio.to_thread(self.cache.evict)
        self.book.prune(self.cache, self._now())

    def names(self) -> list[str]:
        """The streams this edge holds: in its cache or on its hub."""
        return sorted(set(self.cache.streams()) | {s.name for s in self.hub})

    # -- the link's session -------------------------------------------------------------------

    def link_opening(self) -> None:
        """Before `hello`: the control says each source's flag after it (and may say it
        before the sender starts)."""
        self.streaming.clear()
        self.live.clear()

    def link_up(self) -> None:
        self.connected = True
        self.wake.set()

    def link_down(self) -> None:
        self.connected = False
        self.live.clear()  # live-only segments are not resent

    def next_job(self, in_flight: set[tuple[str, int]]) -> Job | None:
        """What to send next: a live segment first, then the oldest segment a recording
        still wants that is not on its way already (`in_flight`: recording id and cache
        id pairs sent and not acknowledged)."""
        while self.live:
            segment = self.cache.get(self.live.popleft())
            if segment is not None:
                return Job(segment, True, self._wanting(segment, in_flight))
        recordings = list(self.book)
        if not recordings:
            return None
        for segment in self.cache:
            if any((r.id, segment.cid) not in in_flight and r.wants(segment)
                   for r in recordings):
                return Job(segment, False, self._wanting(segment, in_flight))
        return None

    def _wanting(self, segment: CachedSegment, in_flight: set[tuple[str, int]]
                 ) -> tuple[str, ...]:
        return tuple(rid for rid in self.book.wanting(segment)
                     if (rid, segment.cid) not in in_flight)

    def acked(self, job: Job) -> None:
        for recording in job.recordings:
            self.book.ack(recording, job.segment.cid)

    # -- the control's requests -----------------------------------------------------------------

    def learn_source(self, name: str, source: object) -> None:
        """A `get_video_source_resp`: the source's id, and its streaming flag as it was
        when the control answered (later changes come as `change_stream_state`)."""
        if isinstance(source, dict) and isinstance(source.get("id"), str):
            self.source_ids[name] = wire.ids([source["id"]])[0]
            self._set_streaming(name, source.get("streaming") == 1)

    def _set_streaming(self, name: str, on: bool) -> None:
        if on:
            self.streaming.add(name)
        else:
            self.streaming.discard(name)

    def handle(self, message: wire.Message) -> wire.Message:
        """The answer to one of the control's requests (`general_resp`)."""
        f = message.fields
        try:
            if message.name is wire.Name.CHANGE_STREAM_STATE:
                name = _stream_name(f.get("source_name"))
                on = f.get("new_state") == 1
                if isinstance(f.get("source_id"), str) and f["source_id"]:
                    self.source_ids[name] = wire.ids([f["source_id"]])[0]
                self._set_streaming(name, on)
                log.info("edge: source %r %s", clip(name), "streaming" if on else "not streaming")
            elif message.name is wire.Name.START_RECORDING:
                self._start_recording(f)
            elif message.name is wire.Name.STOP_RECORDING:
                self.book.stop(wire.ids([f.get("session_id")])[0],
                               wire.parse_time(f.get("end_time")))
            elif message.name is wire.Name.CLOSE_ALL_ACTIVE_RECORDING:
                self.book.close_all(wire.ids([f.get("source_id")])[0],
                                    wire.parse_time(f.get("end_time")))
            else:
                return _answer(message, False, f"{message.name} is not a request to an edge")
        except TooManyRecordings as exc:
            return _answer(message, False, str(exc))
        self.wake.set()
        return _answer(message, True)

    def _start_recording(self, f: dict[str, object]) -> None:
        session = f.get("session")
        if not isinstance(session, dict):
            raise wire.LinkProtocolError("start_recording needs its session")
        name = _stream_name(f.get("source_name"))
        source_id = wire.ids([session.get("source")])[0]
        end = session.get("end_ts")
        recording = self.book.start(
            wire.ids([session.get("id")])[0], source_id=source_id, source_name=name,
            start=wire.parse_time(session.get("start_ts")),
            end=None if end is None else wire.parse_time(end))
        self.source_ids.setdefault(name, source_id)
        log.info("edge: recording %s of %r from %s%s", recording.id, clip(name),
                 recording.start.isoformat(),
                 "" if recording.end is None else f" to {recording.end.isoformat()}")


def _stream_name(value: object) -> str:
    if not isinstance(value, str) or (problem := name_problem(value)) is not None:
        raise wire.LinkProtocolError(f"source_name: {problem or 'must be a stream name'}")
    return value


def _answer(message: wire.Message, success: bool, error: str = "") -> wire.Message:
    fields: dict[str, object] = {"success": success}
    if error:
        fields["error"] = error
    return wire.Message(wire.Name.GENERAL_RESP, fields, message.request_id)
