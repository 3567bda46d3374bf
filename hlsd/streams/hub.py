"""The streams of this node, and who may publish them."""

from __future__ import annotations

import enum
import logging
import secrets
import time
from collections.abc import Callable, Iterator

from hlsd.infra.logs import clip
from hlsd.streams.names import check_stream_name
from hlsd.streams.spill import SpillDir
from hlsd.streams.stream import SegmentListener, Stream, StreamState

log = logging.getLogger(__name__)


class PublishPolicy(enum.StrEnum):
    """What a second publisher on a live stream id gets."""

    REJECT = "reject"
    """Refused while the first one is active (nginx-rtmp's "already publishing")."""
    TAKEOVER = "takeover"
    """Takes the stream over; players see a discontinuity."""


class StreamBusy(Exception):
    """Another publisher holds this live stream and the policy is to reject."""


class StreamHub:
    def __init__(self, *, window: int, policy: PublishPolicy, idle_timeout: float,
                 retention: float, max_streams: int,
                 clock: Callable[[], float] = time.monotonic, spill: SpillDir | None = None,
                 memory_per_variant: int | None = None, keep_for: float = 0.0) -> None:
        """`keep_for`: seconds a segment stays held after it is committed, at least (the
        recorder's reach-back); its bytes spill to disk past `memory_per_variant`."""
        self._streams: dict[str, Stream] = {}
        self._window = window
        self._policy = policy
        self._idle_timeout = idle_timeout
        self._retention = retention
        self._max_streams = max_streams
        self._clock = clock
        self._spill = spill
        self._memory_per_variant = memory_per_variant
        self._keep_for = keep_for
        self._listeners: tuple[SegmentListener, ...] = ()

    def add_listener(self, listener: SegmentListener) -> None:
        """Hear of every segment committed from now on, on streams to come as well
        (once, however often it asks: a start-up step may be run again)."""
        if listener in self._listeners:
            return
        self._listeners = (*self._listeners, listener)
        for stream in self._streams.values():
            stream.listen(self._listeners)

    def __iter__(self) -> Iterator[Stream]:
        return iter(list(self._streams.values()))

    def __len__(self) -> int:
        return len(self._streams)

    def get(self, name: str) -> Stream | None:
        return self._streams.get(name)

    def publish(self, name: str, publisher: str) -> Stream:
        """The stream `publisher` may write to, created, resumed or taken over.
        `InvalidStreamName` for a name no stream may have (`hlsd.streams.names`)."""
        stream = self._streams.get(name)
        if stream is None:
            check_stream_name(name)
            if len(self._streams) >= self._max_streams:
                self.sweep()
                if len(self._streams) >= self._max_streams:
                    raise StreamBusy(f"this node carries its maximum of {self._max_streams} "
                                     "streams")
            stream = Stream(name, publisher=publisher, session=_session(), window=self._window,
                            clock=self._clock, spill=self._spill,
                            memory_per_variant=self._memory_per_variant,
                            keep_for=self._keep_for, listeners=self._listeners)
            self._streams[name] = stream
            log.info("stream %r: published", clip(name))
            return stream
        if stream.publisher == publisher:
            if stream.state is StreamState.ENDED:
                stream.resume(publisher=publisher, session=_session())
            return stream
        return self.restart(stream, publisher)

    def restart(self, stream: Stream, publisher: str) -> Stream:
        """A new publishing session on `stream`: another publisher, or the same one
        started over (its numbering went back). The policy decides while it is active."""
        active = (stream.state is StreamState.LIVE
                  and self._clock() - stream.last_activity < self._idle_timeout)
        if active and self._policy is PublishPolicy.REJECT:
            raise StreamBusy(f"stream {stream.name!r} is being published by another publisher")
        log.info("stream %r: %s by a new publishing session", clip(stream.name),
                 "taken over" if active else "resumed")
        stream.resume(publisher=publisher, session=_session())
        return stream

    def sweep(self) -> None:
        """End streams whose publisher went quiet; forget ended ones past retention."""
        now = self._clock()
        for name, stream in list(self._streams.items()):
            if stream.state is StreamState.LIVE and now - stream.last_activity > self._idle_timeout:
                stream.end()
                log.info("stream %r: ended (publisher gone for %.0fs)", clip(name),
                         now - stream.last_activity)
            elif (stream.state is StreamState.ENDED and stream.ended_at is not None
                  and now - stream.ended_at > self._retention):
                del self._streams[name]
                stream.close()
                log.info("stream %r: removed", clip(name))


def _session() -> str:
    """A short id that makes segment URIs unique across publishing sessions."""
    return secrets.token_hex(3)
