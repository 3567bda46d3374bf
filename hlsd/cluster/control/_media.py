"""What one edge link publishes live: its segments appended to the control's hub streams
of their names (`PublisherKind.EDGE`), with the edge's PROGRAM-DATE-TIME and duration,
and the fMP4 init sections it sent on this connection."""

from __future__ import annotations

import logging
import math
import posixpath
from collections import OrderedDict

from hlsd.cluster import edge_protocol as wire
from hlsd.infra.logs import clip
from hlsd.streams import InitSegment, Producer, PublisherKind, StreamBusy, StreamHub
from hlsd.streams.producer import FRAGMENT_TARGET_HEADROOM
from hlsd.streams.segment import SEGMENT_MEDIA_TYPES

log = logging.getLogger(__name__)

MAX_INITS = 64
"""Init sections kept per connection (the oldest goes first)."""
MAX_STREAMS = wire.MAX_ITEMS
"""Streams one link may publish at once."""
_BY_TYPE = {"video/mp2t": "ts", "video/iso.segment": "m4s", "video/mp4": "mp4",
            "audio/aac": "aac"}


class UnknownInit(wire.LinkProtocolError):
    """A segment named an init section not sent on this connection."""


def extension(meta: wire.SegmentMeta) -> str:
    """The extension a segment is served with: its name's, if hlsd serves that kind, else
    its content type's, else ``ts``."""
    ext = posixpath.splitext(meta.name)[1]
    if ext in SEGMENT_MEDIA_TYPES:
        return ext[1:]
    return _BY_TYPE.get(meta.content_type, "ts")


class LiveFeed:
    def __init__(self, hub: StreamHub, *, edge: str) -> None:
        self._hub = hub
        self._publisher = f"edge:{edge}"
        self._producers: dict[str, Producer] = {}
        self._inits: OrderedDict[str, InitSegment] = OrderedDict()
        self._busy: set[str] = set()

    def keep_init(self, meta: wire.InitMeta, payload: bytes) -> None:
        self._inits[meta.init_id] = InitSegment(name=f"init-{meta.init_id}.mp4",
                                                data=payload)
        self._inits.move_to_end(meta.init_id)
        while len(self._inits) > MAX_INITS:
            self._inits.popitem(last=False)

    def init_for(self, meta: wire.SegmentMeta) -> InitSegment | None:
        """The init section `meta` names (`UnknownInit` if this connection sent none of
        that id)."""
        if meta.init is None:
            return None
        init = self._inits.get(meta.init)
        if init is None:
            raise UnknownInit(f"segment {meta.name!r} needs init section {meta.init!r}, "
                              "not sent on this connection")
        return init

    def append(self, meta: wire.SegmentMeta, payload: bytes, *, segment_length: int,
               init: InitSegment | None) -> bool:
        """Append a live segment to the stream of its name: True if it joined it. A
        segment the stream already has (as new as its newest: sent again after a
        reconnect) is not appended again; nor is one the hub will not take (the stream
        busy with another publisher, or longer than its target duration)."""
        producer = self._producer(meta.source_name)
        if producer is None:
            return False
        stream = producer.stream
        rendition = stream.renditions.get(meta.variant) if stream is not None else None
        if rendition is not None:
            newest = rendition.segments[-1] if rendition.segments else None
            if newest is not None and meta.start <= newest.program_date_time:
                return False
        target = math.ceil(max(meta.length, segment_length) * FRAGMENT_TARGET_HEADROOM)
        appended = producer.append(
            meta.variant, duration=meta.length, data=payload, extension=extension(meta),
            program_date_time=meta.start, target_hint=target,
            discontinuity=meta.discontinuity, init=init)
        if appended is None:
            log.info("edge segment %r of %r is longer than the stream's target duration: "
                     "not live", clip(meta.name), clip(meta.source_name))
        return appended is not None

    def _producer(self, name: str) -> Producer | None:
        producer = self._producers.get(name)
        if producer is None:
            if len(self._producers) >= MAX_STREAMS:
                return None
            producer = self._hub.producer(name, self._publisher, kind=PublisherKind.EDGE)
            self._producers[name] = producer
        if not producer.holds:
            try:
                producer.publish()
            except StreamBusy as exc:
                if name not in self._busy:  # once per stream and link
                    self._busy.add(name)
                    log.warning("edge stream %r not published live: %s", clip(name),
                                clip(exc))
                return None
            self._busy.discard(name)
        return producer

    def end(self, name: str | None = None) -> None:
        """End one stream (its source stopped streaming) or all (the link closed)."""
        names = [name] if name is not None else list(self._producers)
        for each in names:
            producer = self._producers.pop(each, None)
            if producer is not None:
                producer.end()
