"""RFC 6455 framing (`hlsd.wscdn._frames`): what a client may send, and what is refused
with which close code."""

from __future__ import annotations

import pytest

from hlsd.wscdn._frames import (
    FrameError,
    FrameReader,
    Message,
    Opcode,
    accept_key,
    close_payload,
    encode,
    header,
)


def client_frame(opcode: int, payload: bytes, *, final: bool = True, masked: bool = True,
                 rsv: int = 0) -> bytes:
    """A frame as a client sends it: masked (unless told), any length encoding."""
    n = len(payload)
    first = bytes([(0x80 if final else 0) | rsv | opcode])
    mask_bit = 0x80 if masked else 0
    if n < 126:
        length = bytes([mask_bit | n])
    elif n < 1 << 16:
        length = bytes([mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        length = bytes([mask_bit | 127]) + n.to_bytes(8, "big")
    if not masked:
        return first + length + payload
    mask = b"\x37\xfa\x21\x3d"  # fixed: the frames are test ids (pytest-xdist)
    return first + length + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def reader(max_text: int = 1600, max_binary: int = 1 << 20) -> FrameReader:
    return FrameReader(max_text=max_text, max_binary=max_binary)


def test_the_rfc_example_key() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("n", [0, 125, 126, 65535, 65536, 200_000])
def test_server_frames_use_the_shortest_length(n: int) -> None:
    framed = encode(Opcode.BINARY, b"x" * n)
    assert framed[0] == 0x82 and len(framed) == len(header(Opcode.BINARY, n)) + n
    parsed = framed[1] & 0x7F
    assert parsed == (n if n < 126 else 126 if n < 65536 else 127)


def test_messages_in_any_chunking() -> None:
    data = (client_frame(1, b"PULL:stream=a") + client_frame(2, b"\x00" * 70_000)
            + client_frame(9, b"hi"))
    for size in (1, 7, 4096, len(data)):
        r, got = reader(), []
        for at in range(0, len(data), size):
            got += list(r.feed(data[at:at + size]))
        assert got == [Message(Opcode.TEXT, b"PULL:stream=a", "PULL:stream=a"),
                       Message(Opcode.BINARY, b"\x00" * 70_000), Message(Opcode.PING, b"hi")]


def test_fragments_are_joined_around_control_frames() -> None:
    data = (client_frame(2, b"ab", final=False) + client_frame(9, b"p")
            + client_frame(0, b"cd", final=False) + client_frame(0, b"e"))
    assert list(reader().feed(data)) == [Message(Opcode.PING, b"p"),
                                         Message(Opcode.BINARY, b"abcde")]


@pytest.mark.parametrize(("data", "code", "why"), [
    (client_frame(1, b"H", masked=False), 1002, "masked"),
    (client_frame(1, b"H", rsv=0x40), 1002, "reserved"),
    (client_frame(3, b"H"), 1002, "opcode"),
    (client_frame(0, b"H"), 1002, "continuation"),
    (client_frame(1, b"a", final=False) + client_frame(1, b"b"), 1002, "before the last"),
    (client_frame(9, b"p" * 126), 1002, "control"),
    (client_frame(9, b"p", final=False), 1002, "control"),
    (client_frame(1, b"\xff\xfe"), 1007, "UTF-8"),
    (client_frame(1, b"x" * 1601), 1009, "too big"),
    (client_frame(2, b"x" * 4097), 1009, "too big"),
    (client_frame(2, b"x" * 4000, final=False) + client_frame(0, b"x" * 97), 1009, "too big"),
], ids=["unmasked", "reserved", "opcode", "continuation", "interleaved", "long-control",
        "split-control", "utf-8", "long-text", "long-binary", "long-joined"])
def test_faults_carry_their_close_code(data: bytes, code: int, why: str) -> None:
    with pytest.raises(FrameError, match=why) as caught:
        list(reader(max_binary=4096).feed(data))
    assert caught.value.code == code


def test_an_oversize_message_is_refused_from_its_header_alone() -> None:
    announced = bytes([0x82, 0x80 | 127]) + (1 << 40).to_bytes(8, "big")
    with pytest.raises(FrameError) as caught:
        list(reader().feed(announced))  # no payload sent (and none buffered)
    assert caught.value.code == 1009


def test_close_payloads() -> None:
    assert close_payload(1000) == b"\x03\xe8"
    assert len(close_payload(1009, "é" * 100)) <= 125


def test_a_client_reads_unmasked_frames_and_masks_its_own() -> None:
    """The client end (relays): a server's frames are unmasked (a masked one is
    refused), and what `encode` masks a server reads back."""
    client = FrameReader(max_text=1600, max_binary=1 << 20, masked=False)
    assert list(client.feed(encode(Opcode.BINARY, b"x" * 70_000))) == [
        Message(Opcode.BINARY, b"x" * 70_000)]
    with pytest.raises(FrameError) as refused:
        list(client.feed(client_frame(Opcode.TEXT, b"OK")))
    assert refused.value.code == 1002
    masked = encode(Opcode.TEXT, b"PULL:stream=a", b"\x01\x02\x03\x04")
    assert masked[1] & 0x80 and b"PULL" not in masked
    assert list(reader().feed(masked)) == [Message(Opcode.TEXT, b"PULL:stream=a",
                                                   "PULL:stream=a")]
