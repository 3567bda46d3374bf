"""RTMP messages to an FLV byte stream (the FLV file format, Adobe's spec v10.1 annex E),
which FFmpeg's ``flv`` demuxer reads.

Audio and video message bodies are FLV tag bodies already, so they pass through
unchanged, Enhanced RTMP's FourCC ex-headers (HEVC, AV1, Opus…) included. The metadata
comes as ``@setDataFrame`` ``onMetaData`` {…}: the ``@setDataFrame`` string is dropped,
which makes it the ``onMetaData`` script tag a file holds. The file header's audio and
video flags are taken from that metadata when it comes first (FFmpeg waits for the
streams the header announces before it calls the stream's layout known).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from hlsd.ingest.rtmp import _amf0

__all__ = ["AUDIO", "SCRIPT", "VIDEO", "FlvWriter", "aggregate_tags", "metadata_script"]

AUDIO, VIDEO, SCRIPT = 8, 9, 18
_HAS_AUDIO, _HAS_VIDEO = 0x04, 0x01
_HEADER_SIZE = 9
_TAG_HEADER = 11
_U32 = struct.Struct(">I")
_SET_DATA_FRAME = _amf0.encode("@setDataFrame")
_ON_METADATA = _amf0.encode("onMetaData")


def _file_header(flags: int) -> bytes:
    # The header, then PreviousTagSize0 (always 0).
    return b"FLV\x01" + bytes([flags]) + _U32.pack(_HEADER_SIZE) + _U32.pack(0)


def _tag(kind: int, timestamp: int, body: bytes) -> bytes:
    timestamp &= 0xFFFFFFFF
    header = (bytes([kind]) + len(body).to_bytes(3, "big")
              + (timestamp & 0xFFFFFF).to_bytes(3, "big") + bytes([timestamp >> 24])
              + b"\x00\x00\x00")
    return header + body + _U32.pack(_TAG_HEADER + len(body))


def metadata_script(body: bytes) -> bytes | None:
    """The script tag body for an RTMP data message: ``onMetaData`` {…} (from
    ``@setDataFrame`` or sent bare); None for any other data (cue points, text), which
    hlsd does not carry."""
    if body.startswith(_SET_DATA_FRAME):
        body = body[len(_SET_DATA_FRAME):]
    return body if body.startswith(_ON_METADATA) else None


def _flags(script: bytes) -> int:
    """The header's flags from the ``onMetaData`` properties; both when they say neither."""
    try:
        _, end = _amf0.decode_one(script)
        properties, _ = _amf0.decode_one(script, end)
    except _amf0.AmfError:
        return _HAS_AUDIO | _HAS_VIDEO
    if not isinstance(properties, dict):
        return _HAS_AUDIO | _HAS_VIDEO
    flags = 0
    if "videocodecid" in properties or properties.get("hasVideo") is True:
        flags |= _HAS_VIDEO
    if "audiocodecid" in properties or properties.get("hasAudio") is True:
        flags |= _HAS_AUDIO
    return flags or _HAS_AUDIO | _HAS_VIDEO


class FlvWriter:
    """One publish's FLV stream: `tag` returns the bytes to append for one tag (the
    file header before the first)."""

    def __init__(self) -> None:
        self._started = False

    def tag(self, kind: int, timestamp: int, body: bytes) -> bytes:
        data = _tag(kind, timestamp, body)
        if self._started:
            return data
        self._started = True
        flags = _flags(body) if kind == SCRIPT else _HAS_AUDIO | _HAS_VIDEO
        return _file_header(flags) + data


def aggregate_tags(body: bytes, timestamp: int) -> Iterator[tuple[int, int, bytes]]:
    """The (kind, timestamp, body) of each FLV tag of an Aggregate message (RTMP 1.0
    §7.1.6): its tags' timestamps are moved so the first is the message's. A truncated
    tag ends the walk."""
    at, first = 0, None
    while at + _TAG_HEADER <= len(body):
        kind = body[at]
        size = int.from_bytes(body[at + 1:at + 4], "big")
        stamp = int.from_bytes(body[at + 4:at + 7], "big") | body[at + 7] << 24
        end = at + _TAG_HEADER + size
        if end > len(body):
            return
        if first is None:
            first = stamp
        yield kind, (timestamp + stamp - first) & 0xFFFFFFFF, body[at + _TAG_HEADER:end]
        at = end + 4  # the tag's PreviousTagSize
