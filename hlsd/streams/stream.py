"""A named live stream: its variants, its state, who publishes it and who reads it."""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from hlsd.hls import (
    MasterPlaylist,
    Rendered,
    RenditionReport,
    VariantStream,
    render_master,
    rendered,
)
from hlsd.streams.events import Committed, HubEvent, HubEventKind
from hlsd.streams.playlists import Skipping
from hlsd.streams.reader import ConsumerKind, Reader
from hlsd.streams.rendition import LiveRendition
from hlsd.streams.segment import Segment
from hlsd.streams.snapshot import StreamSnapshot
from hlsd.streams.spill import SpillDir, folder_for

MASTER = "index.m3u8"
STALE_TARGETS = 3
SPECTATING = frozenset({ConsumerKind.SPECTATOR, ConsumerKind.RELAY})
"""The readers `GET /api/streams` counts as spectators: websocket PULLs."""


@dataclass(frozen=True, slots=True)
class _Subscription:
    variant: str | None
    through_end: bool


def _no_event(event: HubEvent) -> None:
    return None


class StreamState(enum.Enum):
    LIVE = "live"
    ENDED = "ended"


class PublisherKind(enum.StrEnum):
    """What feeds a stream: given by the producer (`StreamHub.producer`), reported by
    ``GET /api/streams`` (its value), and asked by the consumers that treat some kinds
    apart (relayed streams are not announced; a channel's feed is not served to HTTP
    players, who get its computed playlists)."""

    HTTP = "http"
    """HTTP push (``PUT|POST /ingest/…``, ffmpeg's HLS muxer)."""
    LIVEMIX = "livemix"
    """LiveMix's ``POST /v1/playlist``."""
    WEBSOCKET = "websocket"
    """hls-websocket-cdn PUSH."""
    RELAY = "relay"
    """Pulled from another node (`hlsd.cluster.relay`)."""
    CHANNEL = "channel"
    """A VOD-to-live channel fed into the hub for websocket spectators and recordings."""
    RTMP = "rtmp"
    """An encoder publishing over RTMP (OBS, ffmpeg), segmented by hlsd."""
    SRT = "srt"
    """An encoder publishing MPEG-TS over SRT, segmented by hlsd."""
    HTTP_TS = "http-ts"
    """One continuous chunked upload of MPEG-TS (``PUT /ingest/<stream>.ts``), segmented
    by hlsd."""
    EDGE = "edge"
    """An edge node's link (``/v1/edge``): segments the edge took, with its times."""


class InvalidTransition(RuntimeError):
    pass


class Stream:
    """Renditions are keyed by their folder name; a single-variant stream has one, ``""``.

    URIs: a single variant plays at ``index.m3u8`` with segments beside it; several
    variants get a master at ``index.m3u8`` and ``<variant>/index.m3u8`` each.
    """

    def __init__(self, name: str, *, publisher: str, kind: PublisherKind, session: str,
                 window: int, clock: Callable[[], float] = time.monotonic,
                 spill: SpillDir | None = None,
                 memory_per_variant: int | None = None, keep_for: float = 0.0,
                 on_event: Callable[[HubEvent], None] = _no_event) -> None:
        """`on_event`: the hub's, told of the stream's sessions, segments and end."""
        self.name = name
        self.publisher = publisher
        """Who publishes: what the publish policy compares."""
        self.kind = kind
        self.session = session
        self.state = StreamState.LIVE
        self.renditions: dict[str, LiveRendition] = {}
        self.last_activity = clock()
        self.last_played = -math.inf
        """When an HTTP player last asked for a playlist (the stream's clock)."""
        self.ended_at: float | None = None
        self._window = window
        self._clock = clock
        self._spill = spill
        self._memory_per_variant = memory_per_variant
        self._keep_for = keep_for
        self._on_event = on_event
        self._readers: dict[Reader[Committed], _Subscription] = {}
        self._master: Rendered | None = None
        self._master_key: tuple[object, ...] | None = None
        self.version = 0
        """One more at every change of any rendition (a part, a segment, an end): the
        version of the rendition reports every LL-HLS media playlist carries."""

    def rendition(self, name: str) -> LiveRendition:
        rendition = self.renditions.get(name)
        if rendition is None:
            if self.state is not StreamState.LIVE:
                raise InvalidTransition(f"stream {self.name!r} has ended")
            rendition = LiveRendition(
                name=name, session=self.session, window=self._window, clock=self._clock,
                spill=self._spill, spill_folder=f"{folder_for(self.name)}/{name or '_'}",
                memory_limit=self._memory_per_variant, keep_for=self._keep_for,
                on_append=self._committed, on_change=self._changed)
            self.renditions[name] = rendition
            self._master = None
        return rendition

    def add_reader(self, reader: Reader[Committed], *, variant: str | None = None,
                   through_end: bool = False) -> None:
        """Offer `reader` every segment committed from now on: of `variant`, or of every
        variant. It is closed when the stream ends (a spectator is told so), unless
        `through_end`: then it stays attached for a publisher that comes back (a
        recording) until the hub forgets the stream. Another node's relay is offered
        each segment before everyone else: its own spectators would otherwise wait for
        the whole of this node's fan-out (a relay hop's latency)."""
        subscription = _Subscription(variant, through_end)
        if reader.kind is ConsumerKind.RELAY:
            self._readers = {reader: subscription, **self._readers}
        else:
            self._readers[reader] = subscription

    def remove_reader(self, reader: Reader[Committed]) -> None:
        self._readers.pop(reader, None)

    @property
    def readers(self) -> int:
        """Readers attached and open (spectators, relays, recordings)."""
        return sum(1 for reader in self._readers if not reader.closed)

    @property
    def spectators(self) -> int:
        """Websocket PULLs reading the stream (spectators and relays to other nodes)."""
        return sum(1 for reader in self._readers
                   if not reader.closed and reader.kind in SPECTATING)

    def default_variant(self) -> str:
        """The variant a single-rendition consumer (a websocket spectator) reads: the one
        of a single-variant stream, else the highest-bandwidth one."""
        variants = dict(self.current()) or self.renditions
        if "" in variants or not variants:
            return ""
        return max(variants.items(),
                   key=lambda item: item[1].info.bandwidth or item[1].peak_bandwidth())[0]

    def _committed(self, rendition: LiveRendition, segment: Segment) -> None:
        if self._readers:
            committed = Committed(rendition, segment)
            for reader, subscription in self._readers.items():
                if subscription.variant is None or subscription.variant == rendition.name:
                    reader.offer(committed)
        self._on_event(HubEvent(HubEventKind.COMMITTED, self, rendition, segment))

    def _changed(self, rendition: LiveRendition) -> None:
        self.version += 1

    def media_playlist(self, variant: str, skip: Skipping = Skipping.NONE
                       ) -> Rendered | None:
        """The media playlist of `variant` (which exists): with parts, in a multivariant
        stream, it carries a rendition report of each other variant on offer
        (rfc8216bis §4.4.5.4, Appendix B.1), rendered again once any of them changed."""
        rendition = self.renditions[variant]
        return rendition.playlist(skip, self if variant else None)

    def reports(self, rendition: LiveRendition) -> tuple[RenditionReport, ...]:
        """The rendition reports `rendition`'s playlist carries: where each other variant
        on offer is (relative to it: ``../<variant>/index.m3u8``) and its newest part."""
        reports = []
        for name, other in self.current():
            newest = other.last_part()
            if other is rendition or newest is None:
                continue
            msn, part = newest
            reports.append(RenditionReport(uri=f"../{name}/{MASTER}", last_msn=msn,
                                           last_part=part if part >= 0 else None))
        return tuple(reports)

    @property
    def waiting(self) -> int:
        """Requests parked on its renditions' changes (blocking reloads, hinted parts)."""
        return sum(r.changes.waiting for r in self.renditions.values())

    def touch(self) -> None:
        self.last_activity = self._clock()

    def played(self) -> None:
        """An HTTP player asked for a playlist. Called per request: one float stored.
        HTTP players hold no reader, so what is fed only while watched (a relay) asks
        `played_within` too."""
        self.last_played = self._clock()

    def played_within(self, seconds: float) -> bool:
        """Whether an HTTP player asked for a playlist in the last `seconds`."""
        return self._clock() - self.last_played <= seconds

    def end(self) -> None:
        if self.state is StreamState.ENDED:
            raise InvalidTransition(f"stream {self.name!r} has already ended")
        self.state = StreamState.ENDED
        self.ended_at = self._clock()
        for rendition in self.renditions.values():
            rendition.end()
        for reader, subscription in list(self._readers.items()):
            if not subscription.through_end:
                reader.close()
                del self._readers[reader]
        self._on_event(HubEvent(HubEventKind.ENDED, self))

    def resume(self, *, publisher: str, kind: PublisherKind, session: str) -> None:
        """A publisher (the same after a restart, or a new one taking over) carries on."""
        self.state = StreamState.LIVE
        self.ended_at = None
        self.publisher = publisher
        self.kind = kind
        self.session = session
        self.touch()  # else the next sweep finds it idle since its end, and ends it again
        for rendition in self.renditions.values():
            rendition.resume(session)
        self._on_event(HubEvent(HubEventKind.PUBLISHED, self))

    def snapshot(self) -> StreamSnapshot:
        """Its exact state, to make it again in another hub (`hlsd.streams.snapshot`,
        `StreamHub.restore`). Spilled segments are read back (blocking; a few)."""
        return StreamSnapshot(
            name=self.name, publisher=self.publisher, kind=self.kind, session=self.session,
            ended=self.state is StreamState.ENDED, last_activity=self.last_activity,
            ended_at=self.ended_at,
            renditions=tuple(r.snapshot() for r in self.renditions.values()))

    def restore(self, snapshot: StreamSnapshot) -> None:
        """Take the state `snapshot` carries, into this stream just made for it (by
        `StreamHub.restore`), telling no one: no session begins and no segment is
        committed, so the hub's watchers see nothing twice."""
        if self.renditions or self.state is not StreamState.LIVE:
            raise RuntimeError(f"stream {self.name!r} is not new: it cannot be restored")
        self.publisher = snapshot.publisher
        self.kind = snapshot.kind
        self.session = snapshot.session
        for carried in snapshot.renditions:
            self.rendition(carried.name).restore(carried)
        self.last_activity = snapshot.last_activity
        if snapshot.ended:
            self.state = StreamState.ENDED
            self.ended_at = (snapshot.ended_at if snapshot.ended_at is not None
                             else self._clock())

    def close(self) -> None:
        """Release the memory and spill files of every rendition. Readers attached
        `through_end` are let go (open: their consumer may attach them to the stream's
        successor); others still attached (a live stream replaced by
        `StreamHub.restore`) are closed, as at the end."""
        for reader, subscription in self._readers.items():
            if not subscription.through_end:
                reader.close()
        self._readers.clear()
        for rendition in self.renditions.values():
            rendition.close()
        if self._spill is not None:
            self._spill.remove_folder(folder_for(self.name))

    def current(self) -> list[tuple[str, LiveRendition]]:
        """The variants players are offered, by name: those with segments and, while the
        stream is live, that its publisher still feeds. A variant left more than
        `STALE_TARGETS` target durations behind the freshest is an earlier encoding (a
        publisher that went from several variants to one, or whose variants never got
        a segment): it is left out, so a master never names what will not play."""
        variants = [(n, r) for n, r in sorted(self.renditions.items()) if r.segments]
        if self.state is StreamState.LIVE and len(variants) > 1:
            newest = max(r.updated or 0.0 for _, r in variants)
            variants = [(n, r) for n, r in variants if newest - (r.updated or 0.0)
                        <= STALE_TARGETS * (r.target_duration or 1)]
        return variants

    @property
    def multivariant(self) -> bool:
        variants = self.current()
        if not variants:
            return "" not in self.renditions
        return len(variants) > 1 or variants[0][0] != ""

    def master(self) -> Rendered | None:
        """The master playlist of a multivariant stream, re-rendered when a variant's
        attributes change."""
        variants = self.current()
        if not variants:
            return None
        key = tuple((n, r.info, r.peak_bandwidth() if r.info.bandwidth is None else 0)
                    for n, r in variants)
        if self._master is None or key != self._master_key:
            self._master = rendered(render_master(MasterPlaylist(
                variants=tuple(VariantStream(
                    uri=f"{n}/{MASTER}",
                    bandwidth=r.info.bandwidth or max(1, r.peak_bandwidth()),
                    average_bandwidth=r.info.average_bandwidth,
                    codecs=r.info.codecs, resolution=r.info.resolution,
                    frame_rate=r.info.frame_rate,
                ) for n, r in variants),
                independent_segments=True)))
            self._master_key = key
        return self._master
