"""SRT publish ingest: one UDP port, many publishers, each routed by its stream id
(`streamid`) into `hlsd.ingest.continuous.Publishers`; libsrt through ctypes."""

from hlsd.ingest.srt._libsrt import SrtUnavailable
from hlsd.ingest.srt.server import SrtServer
from hlsd.ingest.srt.streamid import PublishTarget, RejectCode, StreamIdRefused, parse_stream_id

__all__ = ["PublishTarget", "RejectCode", "SrtServer", "SrtUnavailable", "StreamIdRefused",
           "parse_stream_id", "srt_available"]


def srt_available() -> bool:
    """True when libsrt can be loaded (`SrtServer.start` raises `SrtUnavailable` else)."""
    from hlsd.ingest.srt._libsrt import load

    try:
        load()
    except SrtUnavailable:
        return False
    return True
