"""The edge ↔ control link, version 1: LiveMix's IPC messages over one websocket that
the edge dials (``docs/EDGE.md`` is the specification; this module is its only codec).

Pure: no I/O. Text frames are JSON objects in LiveMix's IPC envelope (``type`` is
``request``, ``response`` or ``broadcast``, and ``request_type``, ``response_type`` or
``broadcast_type`` names the message). Binary frames carry media: a 4-byte big-endian
header length, that many bytes of JSON header (a ``new_video_recording_segment`` or an
``init_section`` broadcast), then the bytes. Every decode is bounded and validated: a
frame that breaks the rules is a `LinkProtocolError`, which closes the link.
"""

from __future__ import annotations

import enum
import json
import math
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hlsd.streams.names import name_problem

PATH = "/v1/edge"
VERSION = 1
SUBPROTOCOL = f"hlsd-edge.{VERSION}"
MAX_TEXT_BYTES = 1 << 18
"""A text frame: a hello or a status report names at most `MAX_ITEMS` sources."""
MAX_HEADER_BYTES = 1 << 14
MAX_ITEMS = 1024
MAX_ID = 64
_LENGTH = struct.Struct(">I")


class LinkProtocolError(ValueError):
    """A frame that breaks the protocol: the link is closed with code 1002."""


class Kind(enum.StrEnum):
    REQUEST = "request"
    RESPONSE = "response"
    BROADCAST = "broadcast"


class Name(enum.StrEnum):
    """Every message of version 1, with who sends it."""

    # edge → control
    HELLO = "hello"
    GET_VIDEO_SOURCE = "get_video_source"
    LIST_ACTIVE_RECORDINGS = "list_active_recordings"
    REPORT_VIDEO_SOURCE_STATUS = "report_video_source_status"
    NEW_VIDEO_RECORDING_SEGMENT = "new_video_recording_segment"
    INIT_SECTION = "init_section"
    # control → edge
    CHANGE_STREAM_STATE = "change_stream_state"
    START_RECORDING = "start_recording"
    STOP_RECORDING = "stop_recording"
    CLOSE_ALL_ACTIVE_RECORDING = "close_all_active_recording"
    SEGMENT_ACK = "segment_ack"
    # responses
    GENERAL_RESP = "general_resp"
    HELLO_RESP = "hello_resp"
    GET_VIDEO_SOURCE_RESP = "get_video_source_resp"
    LIST_ACTIVE_RECORDINGS_RESP = "list_active_recordings_resp"


KIND_OF: dict[Name, Kind] = {
    **{n: Kind.REQUEST for n in (Name.HELLO, Name.GET_VIDEO_SOURCE,
                                 Name.LIST_ACTIVE_RECORDINGS, Name.CHANGE_STREAM_STATE,
                                 Name.START_RECORDING, Name.STOP_RECORDING,
                                 Name.CLOSE_ALL_ACTIVE_RECORDING)},
    **{n: Kind.RESPONSE for n in (Name.GENERAL_RESP, Name.HELLO_RESP,
                                  Name.GET_VIDEO_SOURCE_RESP,
                                  Name.LIST_ACTIVE_RECORDINGS_RESP)},
    **{n: Kind.BROADCAST for n in (Name.REPORT_VIDEO_SOURCE_STATUS,
                                   Name.NEW_VIDEO_RECORDING_SEGMENT, Name.INIT_SECTION,
                                   Name.SEGMENT_ACK)},
}


@dataclass(frozen=True, slots=True)
class Message:
    """One text message: its name, the request id it carries or answers (requests and
    responses; ``""`` for broadcasts), and its other fields as LiveMix names them."""

    name: Name
    fields: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""

    @property
    def kind(self) -> Kind:
        return KIND_OF[self.name]

    def encode(self) -> str:
        out: dict[str, Any] = {"type": self.kind.value,
                               f"{self.kind.value}_type": self.name.value}
        if self.kind is not Kind.BROADCAST:
            out["request_id"] = self.request_id
        out.update(self.fields)
        return json.dumps(out, separators=(",", ":"), allow_nan=False)


def decode_text(data: str | bytes) -> Message:
    raw = _object(data, MAX_TEXT_BYTES, "text frame")
    message = _message(raw)
    if message.name in (Name.NEW_VIDEO_RECORDING_SEGMENT, Name.INIT_SECTION):
        raise LinkProtocolError(f"{message.name} travels in a binary frame")
    return message


# -- media frames ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SegmentMeta:
    """A segment's metadata: LiveMix's VideoSegment fields (``id``, ``name``, ``start``,
    ``end``, ``length``, ``uri``, ``source``) and what hlsd's hub needs besides."""

    seq: int
    """The edge's link sequence number: what `segment_ack` names. Increasing per edge."""
    source_name: str
    """The stream the edge took it for (LiveMix's ``Video-Source-Name``)."""
    name: str
    """Its file name on the edge (unique within the stream and variant)."""
    start: datetime
    """Its PROGRAM-DATE-TIME on the edge's clock."""
    length: float
    sequence: int
    """Its media sequence number on the edge (a new publishing session restarts it)."""
    variant: str = ""
    discontinuity: bool = False
    content_type: str = "video/mp2t"
    init: str | None = None
    """The id of the `init_section` it needs (fMP4), sent earlier on this connection."""
    source_id: str = ""
    """The control's id for the source, once the edge knows it."""
    recordings: tuple[str, ...] = ()
    """The recordings it is sent for (ids from ``start_recording``)."""
    live: bool = False
    """Sent because the source is streaming: the control appends it to its live stream."""


@dataclass(frozen=True, slots=True)
class InitMeta:
    init_id: str
    source_name: str
    variant: str = ""
    content_type: str = "video/mp4"


def encode_segment(meta: SegmentMeta, payload: bytes) -> bytes:
    end = meta.start.timestamp() + meta.length
    segment = {"id": f"{meta.source_name}/{meta.variant}/{meta.sequence}",
               "name": meta.name, "start": iso(meta.start),
               "end": iso(datetime.fromtimestamp(end, UTC)), "length": meta.length,
               "uri": meta.name, "source": meta.source_id, "stream": meta.source_name,
               "variant": meta.variant, "sequence": meta.sequence,
               "discontinuity": meta.discontinuity, "content_type": meta.content_type,
               "init": meta.init, "size": len(payload)}
    header = Message(Name.NEW_VIDEO_RECORDING_SEGMENT, {
        "seq": meta.seq, "live": meta.live, "recordings": list(meta.recordings),
        "segments": [segment]}).encode()
    return _frame(header, payload)


def encode_init(meta: InitMeta, payload: bytes) -> bytes:
    header = Message(Name.INIT_SECTION, {
        "init_id": meta.init_id, "stream": meta.source_name, "variant": meta.variant,
        "content_type": meta.content_type, "size": len(payload)}).encode()
    return _frame(header, payload)


def decode_binary(data: bytes, max_payload: int) -> tuple[SegmentMeta | InitMeta, bytes]:
    """The metadata and the bytes of a media frame (a view: no copy of the payload)."""
    if len(data) < _LENGTH.size:
        raise LinkProtocolError("binary frame shorter than its header length")
    (size,) = _LENGTH.unpack_from(data)
    if size > MAX_HEADER_BYTES or _LENGTH.size + size > len(data):
        raise LinkProtocolError("binary frame header length out of bounds")
    message = _message(_object(bytes(data[_LENGTH.size:_LENGTH.size + size]),
                               MAX_HEADER_BYTES, "binary frame header"))
    payload = memoryview(data)[_LENGTH.size + size:]
    if len(payload) > max_payload:
        raise LinkProtocolError(f"media frame of {len(payload)} bytes over the bound")
    f = message.fields
    if "size" in f and _integer(f, "size", 0) != len(payload):
        raise LinkProtocolError("media frame size does not match its header")
    if message.name is Name.INIT_SECTION:
        return InitMeta(init_id=_text(f, "init_id", MAX_ID), source_name=_stream(f, "stream"),
                        variant=_text(f, "variant", 255, empty=True),
                        content_type=_text(f, "content_type", 128)), bytes(payload)
    if message.name is not Name.NEW_VIDEO_RECORDING_SEGMENT:
        raise LinkProtocolError(f"{message.name} is not a media frame")
    segments = f.get("segments")
    if not isinstance(segments, list) or len(segments) != 1 or \
            not isinstance(segments[0], dict):
        raise LinkProtocolError("a media frame carries exactly one segment")
    s: dict[str, Any] = segments[0]
    length = s.get("length")
    if not isinstance(length, int | float) or isinstance(length, bool) or \
            not math.isfinite(length) or not 0 < length <= 3600:
        raise LinkProtocolError("segment length must be a number in (0, 3600]")
    init = s.get("init")
    return SegmentMeta(
        seq=_integer(f, "seq", 0), source_name=_stream(s, "stream"),
        name=_text(s, "name", 255), start=parse_time(s.get("start")), length=float(length),
        sequence=_integer(s, "sequence", 0), variant=_text(s, "variant", 255, empty=True),
        discontinuity=_flag(s, "discontinuity"),
        content_type=_text(s, "content_type", 128),
        init=None if init is None else _text(s, "init", MAX_ID),
        source_id=_text(s, "source", MAX_ID, empty=True),
        recordings=ids(f.get("recordings")), live=_flag(f, "live")), bytes(payload)


# -- field rules, shared by both ends ------------------------------------------------------


def iso(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` and microseconds, as Go's time.Time reads it."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: object) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise LinkProtocolError("a time must be an RFC 3339 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise LinkProtocolError(f"not an RFC 3339 time: {value[:40]!r}") from exc
    if parsed.tzinfo is None:
        raise LinkProtocolError("a time must carry its offset")
    return parsed.astimezone(UTC)


def ids(value: object) -> tuple[str, ...]:
    """A list of at most `MAX_ITEMS` ids (recording or source ids)."""
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise LinkProtocolError(f"expected a list of at most {MAX_ITEMS} ids")
    return tuple(_id(item) for item in value)


def seqs(value: object) -> tuple[int, ...]:
    """`segment_ack`'s ``seqs``: at most `MAX_ITEMS` link sequence numbers."""
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise LinkProtocolError(f"seqs must be a list of at most {MAX_ITEMS} numbers")
    return tuple(_integer({"seq": item}, "seq", 0) for item in value)


def _id(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID or \
            not value.isprintable():
        raise LinkProtocolError("an id is 1-64 printable characters")
    return value


def _frame(header: str, payload: bytes) -> bytes:
    encoded = header.encode()
    return b"".join((_LENGTH.pack(len(encoded)), encoded, payload))


def _object(data: str | bytes, bound: int, what: str) -> dict[str, Any]:
    if len(data) > bound:
        raise LinkProtocolError(f"{what} over {bound} bytes")
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LinkProtocolError(f"{what} is not JSON") from exc
    if not isinstance(raw, dict):
        raise LinkProtocolError(f"{what} is not a JSON object")
    return raw


def _message(raw: dict[str, Any]) -> Message:
    try:
        kind = Kind(raw.pop("type"))
        name = Name(raw.pop(f"{kind.value}_type"))
    except (KeyError, ValueError, TypeError):
        raise LinkProtocolError("unknown message type") from None
    if KIND_OF[name] is not kind:
        raise LinkProtocolError(f"{name} is not a {kind}")
    request_id = ""
    if kind is not Kind.BROADCAST:
        request_id = _id(raw.pop("request_id", None))
    return Message(name, raw, request_id)


def _text(fields: dict[str, Any], key: str, bound: int, *, empty: bool = False) -> str:
    value = fields.get(key, "" if empty else None)
    if not isinstance(value, str) or len(value) > bound or (not value and not empty) \
            or not value.isprintable():
        raise LinkProtocolError(f"{key} must be printable text of at most {bound} chars")
    return value


def _stream(fields: dict[str, Any], key: str) -> str:
    value = _text(fields, key, 255)
    if (problem := name_problem(value)) is not None:
        raise LinkProtocolError(f"{key}: {problem}")
    return value


def _integer(fields: dict[str, Any], key: str, low: int) -> int:
    value = fields.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value < 1 << 62:
        raise LinkProtocolError(f"{key} must be an integer >= {low}")
    return value


def _flag(fields: dict[str, Any], key: str) -> bool:
    value = fields.get(key, False)
    if not isinstance(value, bool):
        raise LinkProtocolError(f"{key} must be true or false")
    return value
