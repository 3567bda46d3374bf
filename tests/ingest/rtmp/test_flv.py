"""RTMP messages to FLV tags."""

from __future__ import annotations

from hlsd.ingest.rtmp import _amf0
from hlsd.ingest.rtmp._flv import AUDIO, SCRIPT, VIDEO, FlvWriter, aggregate_tags, metadata_script
from tests.ingest.rtmp._support import flv_tags


def test_file_header_then_tags_with_previous_tag_sizes() -> None:
    writer = FlvWriter()
    data = writer.tag(VIDEO, 0, b"\x17\x00v") + writer.tag(AUDIO, 0x12345678, b"\xaf\x01a")
    flags, tags = flv_tags(data)
    assert flags == 0x05
    assert [(t.kind, t.timestamp, t.body) for t in tags] == [
        (VIDEO, 0, b"\x17\x00v"), (AUDIO, 0x12345678, b"\xaf\x01a")]
    # the timestamp's upper byte goes in the extension byte after the lower 24 bits
    second = 13 + 11 + 3 + 4
    assert data[second + 4:second + 8] == bytes([0x34, 0x56, 0x78, 0x12])


def test_set_data_frame_is_removed_and_only_metadata_kept() -> None:
    metadata = _amf0.encode("onMetaData", {"width": 320.0})
    assert metadata_script(_amf0.encode("@setDataFrame") + metadata) == metadata
    assert metadata_script(metadata) == metadata
    assert metadata_script(_amf0.encode("@setDataFrame", "onTextData", {})) is None
    assert metadata_script(_amf0.encode("onCuePoint", {})) is None


def test_header_flags_follow_the_metadata_when_it_comes_first() -> None:
    def flags(properties: dict[str, _amf0.Value]) -> int:
        data = FlvWriter().tag(SCRIPT, 0, _amf0.encode("onMetaData", properties))
        return flv_tags(data)[0]

    assert flags({"audiocodecid": 10.0}) == 0x04
    assert flags({"videocodecid": 7.0}) == 0x01
    assert flags({"videocodecid": 7.0, "audiocodecid": 10.0}) == 0x05
    assert flags({"duration": 0.0}) == 0x05


def test_aggregate_tags_are_moved_to_the_message_time() -> None:
    def tag(kind: int, timestamp: int, body: bytes) -> bytes:
        return (bytes([kind]) + len(body).to_bytes(3, "big") + timestamp.to_bytes(3, "big")
                + b"\x00\x00\x00\x00" + body + (11 + len(body)).to_bytes(4, "big"))

    body = tag(VIDEO, 5000, b"v1") + tag(AUDIO, 5020, b"a1") + tag(VIDEO, 5040, b"v2")[:-6]
    assert list(aggregate_tags(body, 100)) == [(VIDEO, 100, b"v1"), (AUDIO, 120, b"a1")]
