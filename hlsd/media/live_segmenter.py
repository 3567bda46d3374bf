"""hlsd's live CMAF segmenter: the media half of continuous ingest (RTMP's FLV, SRT's and
chunked HTTP's MPEG-TS).

`segment_stream` demuxes a byte stream with PyAV (no transcoding), cuts it into LL-HLS
parts and segments of CMAF fMP4 and reports them, in order, to a `SegmenterOutput`: an
init (`CmafInit`) first and again whenever a codec's configuration changes, then parts
(`CmafPart`), each saying whether it starts a segment. It knows no HTTP and no hub.

Rules (RFC 8216bis, Apple's LL-HLS):
- a segment ends at the first video keyframe at or after `segment_duration`, and never
  lasts longer than the init's `target_duration` (then it ends at a frame that is not a
  keyframe: that part is not independent). The target is learnt from the first GOP,
  held back for that (at most `max_gop_seconds`): the whole GOPs a segment spans.
  Audio-only streams are cut every `segment_duration`;
- parts end at frame boundaries, each at most `part_duration` long (unless one frame
  alone is longer) and, except a segment's last, as long as the frame rate allows;
- decode times start near 0 and run on across parts, segments and inits; input
  timestamps that jump or reset are closed up, and a segment starts at the next keyframe.

Blocking: run it in a thread over a `hlsd.infra.byte_pipe.BytePipe` the transport writes
into, and `abort` the pipe when it returns or raises, so the writer stops.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from hlsd.media._cmaf_ts import cmaf_to_ts
from hlsd.media._live_input import LiveInput, Readable
from hlsd.media._live_model import (
    CmafInit,
    CmafPart,
    MediaRefused,
    SegmenterOutput,
    TrackInfo,
)
from hlsd.media._live_run import Settings, run

__all__ = ["CONTAINERS", "CmafInit", "CmafPart", "MediaRefused", "SegmenterOutput",
           "TrackInfo", "cmaf_to_ts", "segment_stream"]

CONTAINERS = frozenset({"flv", "mpegts"})


def _utc_now() -> datetime:
    return datetime.now(UTC)


def segment_stream(source: Readable, *, container: str, segment_duration: float,
                   part_duration: float, output: SegmenterOutput,
                   wall_clock: Callable[[], datetime] = _utc_now,
                   max_gop_seconds: float = 10.0) -> None:
    """Segment `source` (anything with a blocking ``read(n)`` returning bytes, ``b""``
    at the end) as `container` (``flv`` or ``mpegts``) until its end; the last part is
    handed on before it returns. `MediaRefused` when the input cannot be segmented
    (not that container, no audio or video, a codec CMAF here does not carry); what was
    handed on before stays valid."""
    if container not in CONTAINERS:
        raise ValueError(f"container is one of {sorted(CONTAINERS)}, not {container!r}")
    if not 0 < part_duration <= segment_duration:
        raise ValueError("0 < part_duration <= segment_duration, in seconds")
    if max_gop_seconds < segment_duration:
        raise ValueError("max_gop_seconds is at least segment_duration")
    live = LiveInput(source, container, wall_clock)
    try:
        run(live, Settings(segment=segment_duration, part=part_duration,
                           max_gop=max_gop_seconds), output)
    finally:
        live.close()
