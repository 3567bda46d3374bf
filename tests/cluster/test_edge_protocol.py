"""The edge link's codec: round trips, and every malformed frame refused."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime

import pytest

from hlsd.cluster.edge_protocol import (
    MAX_HEADER_BYTES,
    InitMeta,
    Kind,
    LinkProtocolError,
    Message,
    Name,
    SegmentMeta,
    decode_binary,
    decode_text,
    encode_init,
    encode_segment,
    ids,
    parse_time,
)

START = datetime(2026, 12, 6, 21, 0, 0, 250000, tzinfo=UTC)


def test_a_request_round_trips_in_livemix_envelope() -> None:
    message = Message(Name.CHANGE_STREAM_STATE,
                      {"source_id": "s1", "source_name": "cam", "new_state": 1}, "r-1")
    raw = json.loads(message.encode())
    assert raw == {"type": "request", "request_type": "change_stream_state",
                   "request_id": "r-1", "source_id": "s1", "source_name": "cam",
                   "new_state": 1}
    assert decode_text(message.encode()) == message
    assert decode_text(message.encode()).kind is Kind.REQUEST


def test_a_broadcast_has_no_request_id() -> None:
    message = Message(Name.SEGMENT_ACK, {"seqs": [1, 2]})
    assert "request_id" not in json.loads(message.encode())
    assert decode_text(message.encode()) == message


def test_a_segment_round_trips_without_copying_its_meaning() -> None:
    meta = SegmentMeta(seq=7, source_name="room/cam", name="seg12.ts", start=START,
                       length=2.002, sequence=12, discontinuity=True, source_id="abc",
                       recordings=("r1", "r2"), live=True)
    payload = b"\x47" * 376
    frame = encode_segment(meta, payload)
    decoded, data = decode_binary(frame, 1 << 20)
    assert decoded == meta
    assert data == payload
    header = json.loads(frame[4:4 + struct.unpack(">I", frame[:4])[0]])
    segment = header["segments"][0]
    # LiveMix's VideoSegment fields are all there.
    assert {"id", "name", "start", "end", "length", "uri", "source"} <= segment.keys()
    assert segment["end"] == "2026-12-06T21:00:02.252000Z"


def test_an_init_section_round_trips() -> None:
    meta = InitMeta(init_id="i1", source_name="cam", variant="720p")
    assert decode_binary(encode_init(meta, b"ftyp"), 10) == (meta, b"ftyp")


@pytest.mark.parametrize("frame", [
    "not json", "[]", '{"type": "request"}', '{"type": "gossip", "gossip_type": "x"}',
    '{"type": "request", "request_type": "segment_ack", "request_id": "1"}',
    '{"type": "request", "request_type": "hello"}',
    '{"type": "request", "request_type": "hello", "request_id": ""}',
    '{"type": "broadcast", "broadcast_type": "init_section"}',
    "x" * (1 << 19),
])
def test_malformed_text_is_refused(frame: str) -> None:
    with pytest.raises(LinkProtocolError):
        decode_text(frame)


def _binary(header: dict[str, object], payload: bytes = b"") -> bytes:
    encoded = json.dumps(header).encode()
    return struct.pack(">I", len(encoded)) + encoded + payload


GOOD = {"type": "broadcast", "broadcast_type": "new_video_recording_segment", "seq": 1,
        "segments": [{"stream": "cam", "name": "a.ts", "start": "2026-12-06T21:00:00Z",
                      "length": 2.0, "sequence": 0, "content_type": "video/mp2t"}]}


def test_a_minimal_segment_header_is_taken() -> None:
    meta, data = decode_binary(_binary(GOOD, b"xy"), 10)
    assert isinstance(meta, SegmentMeta) and data == b"xy" and not meta.live


@pytest.mark.parametrize("change", [
    {"seq": -1}, {"seq": True}, {"segments": []}, {"segments": [1]},
    {"segments": [{**GOOD["segments"][0], "length": float("inf")}]},  # type: ignore[index]
    {"segments": [{**GOOD["segments"][0], "length": 0}]},  # type: ignore[index]
    {"segments": [{**GOOD["segments"][0], "stream": "../x"}]},  # type: ignore[index]
    {"segments": [{**GOOD["segments"][0], "start": "yesterday"}]},  # type: ignore[index]
    {"segments": [{**GOOD["segments"][0], "start": "2026-12-06T21:00:00"}]},  # type: ignore[index]
    {"recordings": ["x" * 65]}, {"live": "yes"}, {"size": 5},
    {"broadcast_type": "segment_ack"},
])
def test_malformed_media_headers_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(LinkProtocolError):
        decode_binary(_binary({**GOOD, **change}, b"xy"), 10)


def test_media_frame_bounds() -> None:
    with pytest.raises(LinkProtocolError):
        decode_binary(b"\x00\x00", 10)
    with pytest.raises(LinkProtocolError):
        decode_binary(struct.pack(">I", MAX_HEADER_BYTES + 1) + b"{}", 10)
    with pytest.raises(LinkProtocolError):
        decode_binary(struct.pack(">I", 50) + b"{}", 10)
    with pytest.raises(LinkProtocolError, match="over the bound"):
        decode_binary(_binary(GOOD, b"x" * 11), 10)


def test_field_rules() -> None:
    assert parse_time("2026-12-06T22:00:00+01:00") == datetime(2026, 12, 6, 21, tzinfo=UTC)
    assert ids(None) == () and ids(["a"]) == ("a",)
    with pytest.raises(LinkProtocolError):
        ids(["a"] * 1025)
    with pytest.raises(LinkProtocolError):
        ids(["a\nb"])
