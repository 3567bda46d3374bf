"""Live streams: the one central object every producer feeds and every consumer reads.

A `Stream` is a named set of `LiveRendition`s (variants); each holds a sliding window
of `Segment`s and renders its live playlist once per change. The `StreamHub` owns the
streams of this node and the publish policy. Ingest writes through a `Producer`
(`StreamHub.producer`); every consumer reads through a bounded `Reader` (a stream's
`Committed` segments, or the hub's `HubEvent`s). A worker that mirrors another's
streams starts from each one's `StreamSnapshot` (`Stream.snapshot`, `StreamHub.restore`;
on the wire, `snapshot_to_wire` and `snapshot_from_wire`).
"""

from hlsd.streams._parts import PartRefused
from hlsd.streams._snapshot_wire import snapshot_from_wire, snapshot_to_wire
from hlsd.streams.changes import ChangeSignal
from hlsd.streams.events import Committed, HubEvent, HubEventKind
from hlsd.streams.hub import PublishPolicy, StreamBusy, StreamHub
from hlsd.streams.keepers import Keeper
from hlsd.streams.names import InvalidStreamName, check_stream_name
from hlsd.streams.playlists import Skipping
from hlsd.streams.producer import HubProducer, NotPublishing, Producer
from hlsd.streams.reader import (
    ConsumerKind,
    Overflow,
    Reader,
    ReaderClosed,
    SlowReaderPolicy,
)
from hlsd.streams.rendition import LiveRendition, RenditionInfo
from hlsd.streams.segment import InitSegment, OpenSegment, Part, Segment, part_name
from hlsd.streams.snapshot import OpenSegmentSnapshot, RenditionSnapshot, StreamSnapshot
from hlsd.streams.stream import PublisherKind, Stream, StreamState

__all__ = [
    "ChangeSignal",
    "Committed",
    "ConsumerKind",
    "HubEvent",
    "HubEventKind",
    "HubProducer",
    "InitSegment",
    "InvalidStreamName",
    "Keeper",
    "LiveRendition",
    "NotPublishing",
    "OpenSegment",
    "OpenSegmentSnapshot",
    "Overflow",
    "Part",
    "PartRefused",
    "Producer",
    "PublishPolicy",
    "PublisherKind",
    "Reader",
    "ReaderClosed",
    "RenditionInfo",
    "RenditionSnapshot",
    "Segment",
    "Skipping",
    "SlowReaderPolicy",
    "Stream",
    "StreamBusy",
    "StreamHub",
    "StreamSnapshot",
    "StreamState",
    "check_stream_name",
    "part_name",
    "snapshot_from_wire",
    "snapshot_to_wire",
]
