"""The messages this server sends: protocol control (RTMP 1.0 §5.4), user control
(§6.2) and the command answers encoders wait for (§7.2), with the chunk stream each
goes on (2 for control, 3 for the connection's commands, 5 for a stream's status, as
Flash Media Server did and clients expect)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from hlsd.ingest.continuous import RefusalReason
from hlsd.ingest.rtmp import _amf0
from hlsd.ingest.rtmp._chunks import Message, MessageType

__all__ = ["CONTROL", "Outgoing", "acknowledgement", "connected", "ping_response",
           "play_refused", "publish_refused", "published", "result", "set_chunk_size",
           "set_peer_bandwidth", "status", "stream_begin", "stream_failed",
           "window_ack_size"]

CONTROL = 2
_COMMANDS = 3
_STATUS = 5
_U32 = struct.Struct(">I")
_DYNAMIC = 2
"""Set Peer Bandwidth's limit type: the peer may treat it as soft or hard."""
_STREAM_BEGIN, _PING_RESPONSE = 0, 7
# What Flash Media Server named these refusals, as clients (librtmp, GStreamer) know them.
_REFUSALS = {RefusalReason.UNAUTHORIZED: "NetStream.Publish.Denied",
             RefusalReason.BAD_NAME: "NetStream.Publish.BadName",
             RefusalReason.BUSY: "NetStream.Publish.BadName",
             RefusalReason.FULL: "NetStream.Publish.Rejected"}
_PLAY_REFUSED = ("this server takes RTMP publishers only: play the stream over HLS at "
                 "/live/<stream>/index.m3u8")


@dataclass(frozen=True, slots=True)
class Outgoing:
    chunk_stream_id: int
    message: Message


def _control(type_id: MessageType, body: bytes) -> Outgoing:
    return Outgoing(CONTROL, Message(type_id, 0, 0, body))


def set_chunk_size(size: int) -> Outgoing:
    return _control(MessageType.SET_CHUNK_SIZE, _U32.pack(size))


def window_ack_size(size: int) -> Outgoing:
    return _control(MessageType.WINDOW_ACK_SIZE, _U32.pack(size))


def set_peer_bandwidth(size: int) -> Outgoing:
    return _control(MessageType.SET_PEER_BANDWIDTH, _U32.pack(size) + bytes([_DYNAMIC]))


def acknowledgement(received: int) -> Outgoing:
    return _control(MessageType.ACKNOWLEDGEMENT, _U32.pack(received & 0xFFFFFFFF))


def stream_begin(stream_id: int) -> Outgoing:
    return _control(MessageType.USER_CONTROL, struct.pack(">HI", _STREAM_BEGIN, stream_id))


def ping_response(timestamp: bytes) -> Outgoing:
    return _control(MessageType.USER_CONTROL, struct.pack(">H", _PING_RESPONSE) + timestamp)


def result(transaction: float, *values: _amf0.Value) -> Outgoing:
    """``_result`` of a call on the connection."""
    body = _amf0.encode("_result", transaction, *values)
    return Outgoing(_COMMANDS, Message(MessageType.COMMAND_AMF0, 0, 0, body))


def connected(transaction: float, *, window: int, chunk_size: int) -> list[Outgoing]:
    """The answer to ``connect``: the window, bandwidth and chunk size, then success."""
    # objectEncoding 0: this server speaks AMF0, whatever the client offered.
    return [window_ack_size(window), set_peer_bandwidth(window), set_chunk_size(chunk_size),
            result(transaction, {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0},
                   {"level": "status", "code": "NetConnection.Connect.Success",
                    "description": "Connection succeeded.", "objectEncoding": 0.0})]


def status(stream_id: int, code: str, description: str, *, error: bool = False) -> Outgoing:
    """``onStatus`` on a stream: what ffmpeg prints (``Server error: <description>``) and
    stops on when the level is ``error``, as librtmp (OBS) does on the codes it knows."""
    info: dict[str, _amf0.Value] = {"level": "error" if error else "status", "code": code,
                                    "description": description}
    body = _amf0.encode("onStatus", 0.0, None, info)
    return Outgoing(_STATUS, Message(MessageType.COMMAND_AMF0, stream_id, 0, body))


def published(stream_id: int, stream: str) -> list[Outgoing]:
    return [stream_begin(stream_id),
            status(stream_id, "NetStream.Publish.Start", f"{stream} is now published.")]


def publish_refused(stream_id: int, reason: RefusalReason | None, message: str) -> Outgoing:
    code = "NetStream.Publish.Rejected" if reason is None else _REFUSALS[reason]
    return status(stream_id, code, message, error=True)


def play_refused(stream_id: int) -> Outgoing:
    return status(stream_id, "NetStream.Play.Failed", _PLAY_REFUSED, error=True)


def stream_failed(stream_id: int, why: str) -> Outgoing:
    """The session ended under a publisher (taken over, media refused)."""
    return status(stream_id, "NetStream.Failed", why, error=True)
