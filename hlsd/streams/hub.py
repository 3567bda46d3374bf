"""The streams of this node, who may publish them, and who reads them.

Ingest writes through a `Producer` (`producer`, then `publish`): the hub's policy
decides who holds a stream. Consumers read through bounded `Reader`s: a stream's
segments (`reader`, then `Stream.add_reader`), or the hub's events (`watch`), which
tell hub-wide consumers of streams as they start, commit segments and end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import secrets
import time
from collections.abc import Callable, Collection, Iterator
from datetime import UTC, datetime

from hlsd.infra.logs import clip
from hlsd.streams.events import Committed, HubEvent, HubEventKind
from hlsd.streams.keepers import Keeper
from hlsd.streams.names import check_stream_name
from hlsd.streams.producer import HubProducer, Producer
from hlsd.streams.reader import ConsumerKind, Overflow, Reader
from hlsd.streams.snapshot import StreamSnapshot
from hlsd.streams.spill import SpillDir
from hlsd.streams.stream import PublisherKind, Stream, StreamState

log = logging.getLogger(__name__)

HUB_EVENTS = 1024
"""Events a hub-wide consumer may fall behind by before it loses some (and catches up
from the hub itself)."""


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
                 memory_per_variant: int | None = None, keep_for: float = 0.0,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 on_drop: Callable[[ConsumerKind, int], None] = lambda kind, count: None,
                 replicate: Callable[[HubProducer], Producer] | None = None,
                 ) -> None:
        """`keep_for`: seconds a segment stays held after it is committed, at least (the
        recorder's reach-back); its bytes spill to disk past `memory_per_variant`.
        `wall_clock` times segments that come without a time. `on_drop` counts what
        every reader drops (``/metrics``). `replicate` wraps every producer's handle
        (the node's other workers are told what it writes: `hlsd.node`)."""
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
        self.wall_clock = wall_clock
        self._on_drop = on_drop
        self._replicate = replicate
        self._watchers: dict[Reader[HubEvent], frozenset[HubEventKind]] = {}
        self._keepers: list[Keeper] = []
        self.commits = 0
        """Segments committed so far, on every stream (`HubEvent.serial`)."""

    # -- producers ----------------------------------------------------------------------

    def producer(self, name: str, publisher: str, *, kind: PublisherKind) -> Producer:
        """A handle for `publisher` (an ingest of `kind`) to write stream `name` through;
        it claims nothing until `publish`."""
        producer = HubProducer(self, name, publisher, kind)
        return self._replicate(producer) if self._replicate is not None else producer

    # -- readers ------------------------------------------------------------------------

    def reader(self, kind: ConsumerKind, *, capacity: int,
               overflow: Overflow) -> Reader[Committed]:
        """A reader of segments for `Stream.add_reader`, its drops counted by variant
        and in ``/metrics``."""
        return Reader(kind=kind, capacity=capacity, overflow=overflow,
                      key=_variant_of, on_drop=self._on_drop)

    def watch(self, kind: ConsumerKind, *,
              events: Collection[HubEventKind] = tuple(HubEventKind),
              capacity: int = HUB_EVENTS) -> Reader[HubEvent]:
        """A reader of the hub's events of the `events` kinds, from now on, for every
        stream; a full one drops (`Overflow.DROP`): the next event carries the loss."""
        reader: Reader[HubEvent] = Reader(kind=kind, capacity=capacity,
                                          overflow=Overflow.DROP, on_drop=self._on_drop)
        self._watchers[reader] = frozenset(events)
        return reader

    def unwatch(self, reader: Reader[HubEvent]) -> None:
        self._watchers.pop(reader, None)
        reader.close()

    def keeper(self) -> Keeper:
        """A consumer that keeps every commit before ingest acknowledges it (it reports
        progress with `Keeper.kept_up_to`; `settled` waits for it)."""
        keeper = Keeper()
        self._keepers.append(keeper)
        return keeper

    def drop_keeper(self, keeper: Keeper) -> None:
        if keeper in self._keepers:
            self._keepers.remove(keeper)

    async def settled(self, timeout: float) -> bool:
        """Whether every keeper kept the commits made so far, waiting up to `timeout`
        seconds for it (at once when there is no keeper)."""
        target = self.commits
        try:
            async with asyncio.timeout(timeout):
                for keeper in list(self._keepers):
                    await keeper.reached(target)
        except TimeoutError:
            return False
        return True

    def _emit(self, event: HubEvent) -> None:
        if event.kind is HubEventKind.COMMITTED:
            self.commits += 1
            event = dataclasses.replace(event, serial=self.commits)
        for reader, kinds in self._watchers.items():
            if event.kind in kinds:
                reader.offer(event)

    # -- streams ------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Stream]:
        return iter(list(self._streams.values()))

    def __len__(self) -> int:
        return len(self._streams)

    def get(self, name: str) -> Stream | None:
        return self._streams.get(name)

    def claim(self, name: str, publisher: str, *, kind: PublisherKind) -> Stream:
        """The stream `publisher` may write to, created, resumed or taken over (for
        `HubProducer.publish`: ingest publishes through a producer).
        `InvalidStreamName` for a name no stream may have (`hlsd.streams.names`)."""
        stream = self._streams.get(name)
        if stream is None:
            check_stream_name(name)
            if len(self._streams) >= self._max_streams:
                self.sweep()
                if len(self._streams) >= self._max_streams:
                    raise StreamBusy(f"this node carries its maximum of {self._max_streams} "
                                     "streams")
            log.info("stream %r: published", clip(name))
            return self._published(name, publisher, kind, _session())
        if stream.publisher == publisher:
            if stream.state is StreamState.ENDED:
                stream.resume(publisher=publisher, kind=kind, session=_session())
            else:
                stream.kind = kind  # one client may push over HTTP, then LiveMix's API
            return stream
        return self.restart(stream, publisher, kind=kind)

    def restore(self, snapshot: StreamSnapshot) -> Stream:
        """The stream `snapshot` was taken of (in another worker's hub), made here as
        `claim` would have made it (this hub's window, clock, spill and memory bound)
        and then exactly as it was, replacing (and closing) one of the same name. Not
        bounded by `max_streams`: the hub that owns the stream admitted it. No event is
        emitted: restoring a mirror begins no publishing session and commits nothing,
        and the hub's watchers must not see a segment twice."""
        check_stream_name(snapshot.name)
        old = self._streams.pop(snapshot.name, None)
        if old is not None:
            old.close()  # first: its spill folder is the new one's
        stream = self._new_stream(snapshot.name, snapshot.publisher, snapshot.kind,
                                  snapshot.session)
        try:
            stream.restore(snapshot)
        except BaseException:
            stream.close()
            raise
        self._streams[snapshot.name] = stream
        log.debug("stream %r: restored", clip(snapshot.name))
        return stream

    def _published(self, name: str, publisher: str, kind: PublisherKind,
                   session: str) -> Stream:
        """A new stream, held and told to the hub's watchers."""
        stream = self._new_stream(name, publisher, kind, session)
        self._streams[name] = stream
        self._emit(HubEvent(HubEventKind.PUBLISHED, stream))
        return stream

    def _new_stream(self, name: str, publisher: str, kind: PublisherKind,
                    session: str) -> Stream:
        return Stream(name, publisher=publisher, kind=kind, session=session,
                      window=self._window, clock=self._clock, spill=self._spill,
                      memory_per_variant=self._memory_per_variant,
                      keep_for=self._keep_for, on_event=self._emit)

    def adopt(self, name: str, publisher: str, *, kind: PublisherKind,
              session: str) -> Stream:
        """Stream `name` as another worker of this node publishes it (`hlsd.node`): that
        worker's hub applied the publish policy and the bounds already, so this one
        follows it, whatever its own state says: created, resumed or taken over, in the
        same `session`."""
        stream = self._streams.get(name)
        if stream is None:
            stream = self._published(name, publisher, kind, session)
        elif (stream.publisher, stream.session, stream.state) != (publisher, session,
                                                                  StreamState.LIVE):
            stream.resume(publisher=publisher, kind=kind, session=session)
        else:
            stream.kind = kind
        return stream

    def restart(self, stream: Stream, publisher: str, *, kind: PublisherKind) -> Stream:
        """A new publishing session on `stream`: another publisher, or the same one
        started over (its numbering went back; `HubProducer.restart`). The policy decides
        while it is active."""
        active = (stream.state is StreamState.LIVE
                  and self._clock() - stream.last_activity < self._idle_timeout)
        if active and self._policy is PublishPolicy.REJECT:
            raise StreamBusy(f"stream {stream.name!r} is being published by another publisher")
        log.info("stream %r: %s by a new publishing session", clip(stream.name),
                 "taken over" if active else "resumed")
        stream.resume(publisher=publisher, kind=kind, session=_session())
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


def _variant_of(committed: Committed) -> str:
    return committed.rendition.name


def _session() -> str:
    """A short id that makes segment URIs unique across publishing sessions."""
    return secrets.token_hex(3)
