"""Live streams: the one central object every producer feeds and every consumer reads.

A `Stream` is a named set of `LiveRendition`s (variants); each holds a sliding window
of `Segment`s and renders its live playlist once per change. The `StreamHub` owns the
streams of this node and the publish policy.
"""

from hlsd.streams.hub import PublishPolicy, StreamBusy, StreamHub
from hlsd.streams.names import InvalidStreamName, check_stream_name
from hlsd.streams.rendition import LiveRendition, RenditionInfo
from hlsd.streams.segment import InitSegment, Segment
from hlsd.streams.stream import Stream, StreamState

__all__ = [
    "InitSegment",
    "InvalidStreamName",
    "LiveRendition",
    "PublishPolicy",
    "RenditionInfo",
    "Segment",
    "Stream",
    "StreamBusy",
    "StreamHub",
    "StreamState",
    "check_stream_name",
]
