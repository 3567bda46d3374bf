"""Recordings of live streams: the recorder, replay as HLS, and MP4 export."""

from hlsd.recording._sent import SentSegment
from hlsd.recording.auto import AutoRecorder
from hlsd.recording.errors import RecordingError
from hlsd.recording.export import Exporter
from hlsd.recording.recorder import Recorder
from hlsd.recording.replay import Replay, ReplayCatalog, ReplayVariant

__all__ = [
    "AutoRecorder",
    "Exporter",
    "Recorder",
    "RecordingError",
    "Replay",
    "ReplayCatalog",
    "ReplayVariant",
    "SentSegment",
]
