from __future__ import annotations

import math

import pytest

from hlsd.wscdn import protocol
from hlsd.wscdn.protocol import Message, ProtocolError


@pytest.mark.parametrize(("text", "expected"), [
    ("H", Message("H")),
    ("ok", Message("OK")),
    ("OK:", Message("OK:")),  # the original keeps a trailing colon in the type
    ("PULL:stream=a%2Fb&auth=t&only_source=true",
     Message("PULL", {"stream": "a/b", "auth": "t", "only_source": "true"})),
    ("F:duration=2.5", Message("F", {"duration": "2.5"})),
    ("E:code=AUTH_ERROR&message=Invalid+auth+token",
     Message("E", {"code": "AUTH_ERROR", "message": "Invalid auth token"})),
    ("PUSH:stream=a&stream=b", Message("PUSH", {"stream": "ab"})),  # joined, as in Go
    ("PUSH:%zz", Message("PUSH")),  # a query that does not parse: no parameters
])
def test_parse(text: str, expected: Message) -> None:
    assert protocol.parse(text) == expected


def test_encode_round_trips() -> None:
    message = Message("PULL", {"stream": "room/1 x", "auth": ""})
    assert protocol.parse(message.encode()) == message
    assert Message("CLOSE").encode() == "CLOSE"
    assert protocol.fragment(2.0).encode() == "F:duration=2"
    assert protocol.fragment(1.5).encode() == "F:duration=1.5"


@pytest.mark.parametrize(("raw", "message"), [
    ("", "The fragment duration must be provided"),
    ("x", "The fragment duration is not a valid floating point number"),
    ("nan", "The fragment duration is not a valid floating point number"),
    ("inf", "The fragment duration is not a valid floating point number"),
    ("0", "The fragment duration must be positive"),
    ("-2", "The fragment duration must be positive"),
    ("1e308", "The fragment duration must be at most 3600 seconds"),
    ("3600.001", "The fragment duration must be at most 3600 seconds"),
])
def test_bad_durations(raw: str, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        protocol.duration_of(Message("F", {"duration": raw} if raw else {}))
    assert (caught.value.code, caught.value.message) == ("FRAGMENT_METADATA_ERROR", message)


def test_good_duration_and_stream_ids() -> None:
    assert math.isclose(protocol.duration_of(Message("F", {"duration": "1.25"})), 1.25)
    assert protocol.stream_id(Message("PULL", {"stream": "r/1/640x360-30~800"})) \
        == "r/1/640x360-30~800"
    with pytest.raises(ProtocolError, match="larger than 255"):
        protocol.stream_id(Message("PULL", {"stream": "é" * 128}))  # 256 bytes
    assert protocol.duration_of(Message("F", {"duration": "3600"})) == 3600.0


@pytest.mark.parametrize("stream", ["../../etc", "a//b", "a/", "/a", ".", "a/./b",
                                    "a\x00b", "a\u202eb"])
def test_unsafe_stream_ids(stream: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        protocol.stream_id(Message("PUSH", {"stream": stream}))
    assert (caught.value.code, caught.value.message) == protocol.BAD_ID


def test_error_frames_are_the_originals() -> None:
    frame = protocol.error(protocol.BAD_AUTH).message_frame()
    assert protocol.parse(frame) == Message(
        "E", {"code": "AUTH_ERROR", "message": "Invalid auth token"})
