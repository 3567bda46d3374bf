"""Media work with PyAV: probe, keyframe index, MPEG-TS segments, WebVTT. No HTTP here.

Every function is synchronous and blocking; callers run them in worker threads.
"""

from hlsd.media.errors import MediaError
from hlsd.media.index import Action, MediaIndex, SegmentSpan, build_index
from hlsd.media.probe import AudioTrack, MediaInfo, VideoTrack, probe
from hlsd.media.segment import build_segment
from hlsd.media.source import MediaSource, Source
from hlsd.media.timeline import TS_OFFSET
from hlsd.media.webvtt import Cue, parse_webvtt, render_vtt_segment

__all__ = [
    "TS_OFFSET",
    "Action",
    "AudioTrack",
    "Cue",
    "MediaError",
    "MediaIndex",
    "MediaInfo",
    "MediaSource",
    "SegmentSpan",
    "Source",
    "VideoTrack",
    "build_index",
    "build_segment",
    "parse_webvtt",
    "probe",
    "render_vtt_segment",
]
