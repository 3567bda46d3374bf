"""One edge's link, from its ``hello`` to its close: the requests and reports it sends
answered, its media frames appended live and stored into recordings, and commands sent
to it as the sources it holds change (`Told`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from hlsd.cluster import edge_protocol as wire
from hlsd.cluster.control._link import Link
from hlsd.cluster.control._media import LiveFeed, extension
from hlsd.cluster.control._told import MAX_HELD, Held, Told
from hlsd.db import Recording, Source, repo
from hlsd.db.errors import NotFound
from hlsd.db.models import FEED_EDGE
from hlsd.db.repo import Sessions
from hlsd.db.timestamps import utcnow
from hlsd.infra.logs import clip
from hlsd.ingest.livemix_json import OFFLINE_AFTER, online, recording_json, source_json
from hlsd.metrics import Metrics
from hlsd.recording import Recorder, SentSegment
from hlsd.storage import StorageError
from hlsd.streams import InitSegment, StreamHub

log = logging.getLogger(__name__)

Name = wire.Name


@dataclass(frozen=True, kw_only=True, slots=True)
class Services:
    """What every link uses, from the control."""

    hub: StreamHub
    sessions: Sessions
    recorder: Recorder
    metrics: Metrics
    node: str
    report_interval: float
    max_segment: int


class EdgeSession:
    def __init__(self, link: Link, services: Services, *, edge: str, key: str) -> None:
        self.link = link
        self.edge = edge
        self.key = key
        self.told = Told()
        self._refused: set[str] = set()
        """Sources refused to this edge (another holds them), each logged once."""
        self.lock = asyncio.Lock()
        """Held while the edge's state is read or changed across an await."""
        self._s = services
        self._feed = LiveFeed(services.hub, edge=edge)
        self._origins: dict[tuple[str, str], object] = {}

    async def send(self, messages: list[wire.Message]) -> None:
        for message in messages:
            await self.link.send(message)

    def close(self) -> None:
        self._feed.end()

    # -- the edge's frames ---------------------------------------------------------------

    async def hello(self, message: wire.Message) -> None:
        """Answer the hello, then tell the edge the state of the sources it names, the
        recordings to send, and which of those it holds are over."""
        f = message.fields
        names = _names(f.get("sources"))
        listed = wire.ids(f.get("recordings"))
        await self.link.send(wire.Message(Name.HELLO_RESP, {
            "success": True, "report_interval": self._s.report_interval,
            "node": self._s.node}, message.request_id))
        async with self.lock:
            for name in names:
                try:
                    source = await repo.get_source_by_name(self._s.sessions, name)
                except NotFound:
                    continue
                if self._mine(source):
                    self.told.hold(source)
            known = await repo.recordings_by_id(self._s.sessions, listed)
            for recording in known.values():  # still wanted: its source is held
                if recording.active and recording.feed == FEED_EDGE and \
                        recording.source_id is not None:
                    with contextlib.suppress(NotFound):
                        self.told.hold(await repo.get_source(self._s.sessions,
                                                             recording.source_id))
            out = [self.told.stop_gone(rid, known.get(rid)) for rid in listed
                   if rid not in known or not known[rid].active
                   or known[rid].feed != FEED_EDGE]
        await self.send(out)
        await self.refresh()

    async def refresh(self) -> None:
        """Read what the sources this edge holds are now, and tell it what changed."""
        async with self.lock:
            held = list(self.told.held)
            sources = await repo.sources_by_id(self._s.sessions, held)
            active = await repo.active_fed_recordings(self._s.sessions, held, FEED_EDGE)
            out, ended = self.told.catch_up(sources, active)
            gone = await repo.recordings_by_id(self._s.sessions, ended)
            out += [self.told.stop_gone(rid, gone.get(rid)) for rid in ended]
            for message in out:
                if message.name is Name.CHANGE_STREAM_STATE and message.fields["new_state"] < 0:
                    self._feed.end(message.fields["source_name"])
        await self.send(out)

    async def text(self, message: wire.Message) -> None:
        f = message.fields
        if message.name is Name.GET_VIDEO_SOURCE:
            await self._get_source(message)
        elif message.name is Name.LIST_ACTIVE_RECORDINGS:
            await self._list_recordings(message)
        elif message.name is Name.REPORT_VIDEO_SOURCE_STATUS:
            source_id = wire.ids([f.get("source_id")])[0]
            local = wire.parse_time(f.get("local_timestamp"))
            silent = utcnow() - timedelta(seconds=OFFLINE_AFTER * self._s.report_interval)
            if await repo.report_source(self._s.sessions, source_id, rr_target=self.edge,
                                        local_time=local, others_silent_since=silent):
                await self._hold_id(source_id)
        elif message.name is Name.GENERAL_RESP:
            if f.get("success") is not True:
                log.info("edge %r answered %s: %s", clip(self.edge), message.request_id,
                         clip(f.get("error")))
        elif message.name is Name.HELLO:
            raise wire.LinkProtocolError("a second hello")
        else:
            raise wire.LinkProtocolError(f"{message.name} is not the edge's to send")

    async def _get_source(self, message: wire.Message) -> None:
        name = _names([message.fields.get("target_name")])[0]
        try:
            source = await repo.get_source_by_name(self._s.sessions, name)
        except NotFound:
            await self.link.send(wire.Message(Name.GENERAL_RESP, {
                "success": False, "error": f"video source {name!r} is not defined"},
                message.request_id))
            return
        if not self._mine(source):
            await self.link.send(wire.Message(Name.GENERAL_RESP, {
                "success": False, "error": f"video source {name!r} is held by edge "
                                           f"{source.rr_target!r}"}, message.request_id))
            return
        await self.link.send(wire.Message(Name.GET_VIDEO_SOURCE_RESP, {
            "source": self._source_json(source)}, message.request_id))
        async with self.lock:
            # The edge takes its streaming flag from change_stream_state alone (not from
            # the answer's `streaming`): a source held here for the first time is told
            # its flag by the refresh, with the recordings it must send.
            self.told.hold(source)
        await self.refresh()

    async def _list_recordings(self, message: wire.Message) -> None:
        source_id = wire.ids([message.fields.get("source_id")])[0]
        async with self.lock:
            held = await self._hold_id(source_id)
            active = await repo.active_fed_recordings(self._s.sessions, [source_id],
                                                      FEED_EDGE)
            if held is not None:
                held.recordings.update((r.id, r) for r in active)
        await self.link.send(wire.Message(Name.LIST_ACTIVE_RECORDINGS_RESP, {
            "recordings": [recording_json(r) for r in active]}, message.request_id))

    async def _hold_id(self, source_id: str) -> Held | None:
        """The source held, from now on (the next refresh tells the edge its state)."""
        held = self.told.held.get(source_id)
        if held is None:
            try:
                source = await repo.get_source(self._s.sessions, source_id)
            except NotFound:
                return None
            held = self.told.hold(source) if self._mine(source) else None
        return held

    def _mine(self, source: Source) -> bool:
        """Whether this edge may hold `source`: no other edge has reported it within the
        offline bound. Two edges taking the same camera name: the first keeps it while
        it reports; the other is told so once, and takes it when the first goes quiet."""
        if source.rr_target in (None, self.edge) or not online(
                source, now=utcnow(), report_interval=self._s.report_interval):
            return True
        if source.id not in self._refused and len(self._refused) < MAX_HELD:
            self._refused.add(source.id)
            log.warning("edge %r refused source %r: edge %r holds it", clip(self.edge),
                        clip(source.name), clip(source.rr_target))
        return False

    def _source_json(self, source: Source) -> dict[str, Any]:
        return source_json(source, now=utcnow(), report_interval=self._s.report_interval)

    # -- media ---------------------------------------------------------------------------

    async def binary(self, data: bytes) -> None:
        meta, payload = wire.decode_binary(data, self._s.max_segment)
        if isinstance(meta, wire.InitMeta):
            self._feed.keep_init(meta, payload)
            return
        self._s.metrics.edge_segments.labels("received").inc()
        init = self._feed.init_for(meta)
        held = self.told.by_name(meta.source_name)
        if held is None:
            try:
                source = await repo.get_source_by_name(self._s.sessions, meta.source_name)
            except NotFound:
                log.info("edge %r sent a segment of %r, which is no source here",
                         clip(self.edge), clip(meta.source_name))
                await self._ack(meta.seq)  # nothing of it is wanted
                return
            if not self._mine(source):
                await self._ack(meta.seq)  # another edge's camera of that name
                return
            held = self.told.hold(source)
        if meta.live and held is not None and held.streaming is not False:
            self._feed.append(meta, payload, segment_length=held.segment_length, init=init)
        durable = True
        for recording_id in meta.recordings:
            durable &= await self._record(recording_id, held, meta, payload, init)
        if durable:
            await self._ack(meta.seq)

    async def _record(self, recording_id: str, held: Held | None, meta: wire.SegmentMeta,
                      payload: bytes, init: InitSegment | None) -> bool:
        """Store the segment into one recording; False when it could not be made durable
        (the edge sends it again after a reconnect)."""
        recording = held.recordings.get(recording_id) if held is not None else None
        if recording is None:
            try:
                recording = await repo.get_recording(self._s.sessions, recording_id)
            except NotFound:
                return True  # gone: nothing is wanted
        if not _wants(recording, held, meta):
            log.info("edge %r sent segment %r for recording %s, which does not want it",
                     clip(self.edge), clip(meta.name), recording_id)
            return True
        origin = self._origins.setdefault((meta.source_name, meta.variant), object())
        segment = SentSegment(
            variant=meta.variant, data=payload, duration=meta.length,
            program_date_time=meta.start, sequence=meta.sequence, origin=origin,
            discontinuity=meta.discontinuity, extension=f".{extension(meta)}", init=init)
        try:
            await self._s.recorder.put_segment(recording, segment)
        except NotFound:
            return True
        except StorageError as exc:
            log.error("recording %s: the store refused a segment from edge %r: %s",
                      recording_id, clip(self.edge), exc)
            return False
        return True

    async def _ack(self, seq: int) -> None:
        await self.link.send(wire.Message(Name.SEGMENT_ACK, {"seqs": [seq]}))
        self._s.metrics.edge_segments.labels("acked").inc()


def _wants(recording: Recording, held: Held | None, meta: wire.SegmentMeta) -> bool:
    """Whether `recording` is one this edge feeds, of the source the segment is of, and
    the segment begins within its range."""
    return (recording.feed == FEED_EDGE and held is not None
            and recording.source_id == held.source_id
            and recording.start_ts <= meta.start
            and (recording.end_ts is None or meta.start < recording.end_ts))


def _names(value: object) -> list[str]:
    """Stream names, as a hello or a request gives them."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > wire.MAX_ITEMS:
        raise wire.LinkProtocolError(f"expected a list of at most {wire.MAX_ITEMS} names")
    out = []
    for name in value:
        if not isinstance(name, str) or not 0 < len(name) <= 255 or not name.isprintable():
            raise wire.LinkProtocolError("a stream name is 1-255 printable characters")
        out.append(name)
    return out
