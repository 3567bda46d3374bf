"""AMF0: what encoders send decodes; what the server sends encodes as the spec says;
hostile input is refused within bounds."""

from __future__ import annotations

import struct

import pytest

from hlsd.ingest.rtmp._amf0 import (
    MAX_DEPTH,
    UNDEFINED,
    AmfError,
    Value,
    decode,
    decode_one,
    encode,
)


def test_values_round_trip() -> None:
    values: list[Value] = ["connect", 1.0, {"app": "live", "tcUrl": "rtmp://h/live", "fpad": False},
              None, UNDEFINED, [1.0, "two", {"three": 3.0}], True, "é" * 3]
    assert decode(encode(*values)) == values


def test_layout_of_a_command_as_the_spec_shows_it() -> None:
    assert encode("a", 1.0, None) == (b"\x02\x00\x01a" + b"\x00" + struct.pack(">d", 1.0)
                                      + b"\x05")
    assert encode({"k": True}) == b"\x03\x00\x01k\x01\x01\x00\x00\x09"


def test_ecma_array_long_string_date_and_typed_object_decode() -> None:
    ecma = b"\x08\x00\x00\x00\x63" + b"\x00\x01w\x00" + struct.pack(">d", 320.0) + b"\x00\x00\x09"
    long_string = b"\x0c\x00\x00\x00\x02hi"
    date = b"\x0b" + struct.pack(">d", 1000.0) + b"\x00\x00"
    typed = b"\x10\x00\x03Foo\x00\x01x\x05\x00\x00\x09"
    assert decode(ecma + long_string + date + typed) == [{"w": 320.0}, "hi", 1000.0, {"x": None}]


def test_decode_one_gives_the_end() -> None:
    data = encode("@setDataFrame", "onMetaData")
    value, end = decode_one(data)
    assert value == "@setDataFrame" and decode_one(data, end) == ("onMetaData", len(data))


@pytest.mark.parametrize("data", [
    b"\x02\x00\x05ab",                    # string shorter than its length
    b"\x00\x00\x00",                      # number cut short
    b"\x0a\xff\xff\xff\xff\x05",          # strict array announcing more than it holds
    b"\x03\x00\x01a",                     # object without its end
    b"\x11\x01",                          # AMF3
    b"\x42",                              # unknown marker
])
def test_malformed_input_is_an_amf_error(data: bytes) -> None:
    with pytest.raises(AmfError):
        decode(data)


def test_nesting_is_bounded() -> None:
    deep = b"\x0a\x00\x00\x00\x01" * (MAX_DEPTH + 2) + b"\x05"
    with pytest.raises(AmfError, match="deep"):
        decode(deep)
