"""The one continuous-ingest pipeline: transport bytes → demux → CMAF parts → the hub.

RTMP, SRT and continuous HTTP all end here (`ContinuousIngest` is their `Publishers`).
`open` checks the publisher once for all of them (stream id, publish key, the per-key
quota, the hub's publish policy) and starts a session: the transport writes the bytes
it receives into a bounded pipe; a thread of the session's own runs the segmenter
(`hlsd.media.live_segmenter`: PyAV demux, hlsd's CMAF cutter) on the other end, so the
event loop never waits on media work; each part it cuts is handed back to the loop and
written through the session's `Producer` (a segment closes when the next one's first
part arrives). The transport feels backpressure through the pipe; the segmenter
refusing the media (an unsupported codec, bytes that do not demux) or another
publisher taking the stream over ends the session, and the transport hangs up.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from dataclasses import dataclass

from hlsd.infra.byte_pipe import BytePipe, PipeClosed
from hlsd.infra.logs import clip
from hlsd.ingest.continuous import (
    IngestSession,
    PublishBusy,
    PublishForbidden,
    PublishFull,
    PublishInvalid,
    PublishRefused,
    PublishRequest,
    PublishUnauthorized,
    RefusalReason,
    SessionEnded,
)
from hlsd.ingest.errors import IngestError, PublishKeyMissing, PushQuota
from hlsd.ingest.publish_keys import PublishKeys, is_loopback
from hlsd.ingest.publishers import KeyQuota, Publisher
from hlsd.media.live_segmenter import CmafInit, CmafPart, MediaRefused, segment_stream
from hlsd.metrics import Metrics
from hlsd.streams import InitSegment, InvalidStreamName, RenditionInfo, StreamBusy, StreamHub
from hlsd.streams.names import check_stream_name
from hlsd.streams.producer import Producer

__all__ = ["ContinuousIngest", "Segmenting"]

log = logging.getLogger(__name__)

_VARIANT = ""
"""A continuous ingest is one rendition: the stream plays at ``/live/<stream>/index.m3u8``."""
_INIT_NAME = "init.mp4"
_DRAIN_SECONDS = 5.0
"""How long a closing session waits for the segmenter to cut what it still holds."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Segmenting:
    """How hlsd cuts what encoders send (``live.segment_duration``, ``part_duration``)."""

    segment_duration: float
    part_duration: float
    pipe_bytes: int = 8 * 1024 * 1024
    """Bytes a session's pipe holds before the transport waits (about 10 s at 6 Mbit/s)."""


class ContinuousIngest:
    """The `Publishers` of every continuous transport."""

    def __init__(self, hub: StreamHub, *, keys: PublishKeys, quota: KeyQuota,
                 segmenting: Segmenting, max_sessions: int,
                 metrics: Metrics | None = None) -> None:
        self._hub = hub
        self._metrics = metrics
        self._keys = keys
        self._quota = quota
        self._segmenting = segmenting
        self._max_sessions = max_sessions
        self._sessions: set[_Session] = set()
        self._numbers = itertools.count(1)

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    async def open(self, request: PublishRequest) -> IngestSession:
        try:
            session = self._open(request)
        except PublishRefused as exc:
            self._count_refusal(request, exc.reason.value)
            raise
        if self._metrics is not None:
            self._metrics.ingest_publishers.labels(request.kind.value).inc()
        log.info("stream %r: %s publisher %s started", clip(request.stream),
                 request.kind.value, clip(request.host))
        return session

    def _open(self, request: PublishRequest) -> _Session:
        try:
            check_stream_name(request.stream)
        except InvalidStreamName as exc:
            raise PublishInvalid(str(exc), reason=RefusalReason.BAD_NAME) from None
        local = is_loopback(request.host) if request.local is None else request.local
        try:
            publisher = self._keys.check(request.key, host=request.host, local=local)
        except PublishKeyMissing as exc:
            raise PublishUnauthorized(exc.message, reason=RefusalReason.UNAUTHORIZED) from None
        except IngestError as exc:
            raise PublishForbidden(exc.message, reason=RefusalReason.UNAUTHORIZED) from None
        if len(self._sessions) >= self._max_sessions:
            raise PublishFull(f"this node takes {self._max_sessions} continuous "
                              "publishers at once", reason=RefusalReason.FULL,
                              limit="live.max_streams")
        try:
            self._quota.claim(request.stream, publisher.key)
        except PushQuota as exc:
            raise PublishFull(exc.message, reason=RefusalReason.FULL,
                              limit=exc.limit) from None
        # Each connection publishes as itself: an encoder that reconnects is a new
        # publishing session, which the hub's policy lets in or not (and never two
        # connections writing one stream at once).
        producer = self._hub.producer(
            request.stream, f"{publisher.identity}#{next(self._numbers)}", kind=request.kind)
        try:
            producer.publish()
        except StreamBusy as exc:
            self._quota.release(request.stream, publisher.key)
            raise PublishBusy(str(exc), reason=RefusalReason.BUSY) from None
        session = _Session(self, request, publisher, producer)
        self._sessions.add(session)
        session.start()
        return session

    def _count_refusal(self, request: PublishRequest, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.ingest_refused.labels(request.kind.value, reason).inc()

    def _dropped(self, request: PublishRequest) -> None:
        if self._metrics is not None:
            self._metrics.ingest_dropped_parts.labels(request.kind.value).inc()

    def _received(self, request: PublishRequest, size: int) -> None:
        if self._metrics is not None:
            self._metrics.ingest_bytes.labels(request.kind.value).inc(size)

    def _closed(self, session: _Session, refused: bool) -> None:
        self._sessions.discard(session)
        self._quota.release(session.request.stream, session.publisher.key)
        if self._metrics is not None:
            self._metrics.ingest_publishers.labels(session.request.kind.value).dec()
        if refused:
            self._count_refusal(session.request, "media")


class _Session:
    """One publisher's run through the pipeline. The segmenter's thread calls `init` and
    `part` (the `SegmenterOutput`); they hop to the loop, where the producer lives."""

    def __init__(self, owner: ContinuousIngest, request: PublishRequest,
                 publisher: Publisher, producer: Producer) -> None:
        self.request = request
        self.publisher = publisher
        self._owner = owner
        self._producer = producer
        self._segmenting = owner._segmenting
        self._loop = asyncio.get_running_loop()
        self._pipe = BytePipe(self._segmenting.pipe_bytes)
        self._finished: asyncio.Future[str | None] = self._loop.create_future()
        self._ended: str | None = None
        self._media_refused = False
        self._dropped_parts = 0
        self._closed = False
        self._init: InitSegment | None = None
        self._inits = 0
        self._target = 0
        self._part_target = self._segmenting.part_duration

    def start(self) -> None:
        threading.Thread(target=self._segment, daemon=True,
                         name=f"hlsd-segmenter-{self.request.stream[:32]}").start()

    # -- the transport's side -----------------------------------------------------------

    async def write(self, data: bytes) -> None:
        if self._ended is not None:
            raise SessionEnded(self._ended)
        try:
            await self._pipe.write(data)
            self._owner._received(self.request, len(data))
        except PipeClosed as exc:
            raise SessionEnded(self._ended or str(exc)) from None

    async def close(self, error: str | None = None) -> str | None:
        if self._closed:
            return self._ended
        self._closed = True
        self._pipe.close()
        try:
            problem = await asyncio.wait_for(asyncio.shield(self._finished), _DRAIN_SECONDS)
        except TimeoutError:
            self._pipe.abort("closing")
            problem = "the segmenter did not finish in time"
        if self._producer.holds:
            self._producer.close_segment(_VARIANT)
            self._producer.end()
        self._owner._closed(self, refused=self._media_refused)
        why = error or problem or self._ended
        log.info("stream %r: %s publisher %s ended%s", clip(self.request.stream),
                 self.request.kind.value, clip(self.request.host),
                 f" ({clip(why)})" if why else "")
        return self._ended

    # -- the segmenter's thread ---------------------------------------------------------

    def _segment(self) -> None:
        problem: str | None = None
        try:
            segment_stream(self._pipe, container=self.request.container.value,
                           segment_duration=self._segmenting.segment_duration,
                           part_duration=self._segmenting.part_duration, output=self)
        except MediaRefused as exc:
            problem = exc.message
        except Exception:  # a bug, not the publisher's media: the trace is for us
            log.exception("stream %r: the segmenter failed", clip(self.request.stream))
            problem = "internal error while segmenting"
        self._loop.call_soon_threadsafe(self._segmented, problem)

    def init(self, init: CmafInit) -> None:
        self._loop.call_soon_threadsafe(self._on_init, init)

    def part(self, part: CmafPart) -> None:
        self._loop.call_soon_threadsafe(self._on_part, part)

    # -- back on the loop ---------------------------------------------------------------

    def _segmented(self, problem: str | None) -> None:
        if problem is not None:
            self._media_refused = True
            self._end(problem)
            log.info("stream %r: %s media refused: %s", clip(self.request.stream),
                     self.request.kind.value, clip(problem))
        if not self._finished.done():
            self._finished.set_result(problem)

    def _end(self, why: str) -> None:
        if self._ended is None:
            self._ended = why
        self._pipe.abort(why)

    def _lost(self) -> str:
        """Why the producer no longer holds the stream."""
        if self._producer.taken_over:
            return "another publisher took the stream over"
        return "the stream ended (nothing came for live.idle_timeout)"

    def _on_init(self, init: CmafInit) -> None:
        if not self._producer.holds:
            self._end(self._lost())
            return
        # Each init under its own URI: a player that holds one must not take it for
        # the next (a track added, new parameter sets), nor the segments before a change
        # be served the new one.
        self._inits += 1
        name = _INIT_NAME if self._inits == 1 else f"init-{self._inits}.mp4"
        self._init = InitSegment(name=name, data=init.data)
        self._target = init.target_duration
        # Whole frames: at 29.97 fps six make 0.2002 s, which PART-TARGET must cover.
        self._part_target = init.part_target
        info = init.info
        self._producer.describe(_VARIANT, RenditionInfo(
            bandwidth=info.bandwidth, codecs=info.codecs, resolution=info.resolution,
            frame_rate=info.frame_rate))

    def _on_part(self, part: CmafPart) -> None:
        if self._ended is not None:
            return
        if not self._producer.holds:
            self._end(self._lost())
            return
        if part.starts_segment:
            self._producer.close_segment(_VARIANT)
        taken = self._producer.append_part(
            _VARIANT, duration=part.duration, data=part.data,
            program_date_time=part.arrived, independent=part.independent,
            part_target=self._part_target, target_duration=self._target,
            init=self._init)
        if taken is None:
            self._owner._dropped(self.request)
            self._dropped_parts += 1
            if self._dropped_parts == 1:  # once a session: the rest are counted
                log.info("stream %r: a part of %.3f s could not be listed (a gap in the "
                         "encoder's timestamps); the stream resumes at the next keyframe",
                         clip(self.request.stream), part.duration)
