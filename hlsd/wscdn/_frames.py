"""RFC 6455 framing: pure, no I/O.

`FrameReader` takes bytes as they arrive and gives whole messages: a client's frames
must be masked and a server's must not be, fragmented messages are joined (control
frames may come between their pieces), text must be UTF-8, and every message is bounded
before its payload is read. What breaks the rules is a `FrameError` carrying the close
code to answer with (1002 protocol error, 1007 bad UTF-8, 1009 too big). `encode` makes
unfragmented frames, a server's unmasked, a client's masked; `accept_key` answers a
handshake's ``Sec-WebSocket-Key``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

__all__ = ["FrameError", "FrameReader", "Message", "Opcode", "accept_key", "close_payload",
           "encode", "header", "tokens"]

try:  # websockets' C helper: unmasking a 1 MB fragment in pure Python costs ~50 ms
    from websockets.speedups import apply_mask as _c_apply_mask
except ImportError:  # pragma: no cover - its wheels ship it
    _c_apply_mask = None  # type: ignore[assignment]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

PROTOCOL_ERROR = 1002
BAD_DATA = 1007
TOO_BIG = 1009


class Opcode(IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class FrameError(Exception):
    """The peer broke the framing rules: close with `code`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Message:
    """A whole message: text (decoded), binary, or a control frame's payload."""

    opcode: Opcode
    payload: bytes
    text: str | None = None


def accept_key(key: str) -> str:
    # RFC 6455 fixes SHA-1 here: a handshake check, not a security boundary.
    digest = hashlib.sha1(key.encode("ascii") + _GUID, usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


def tokens(value: str) -> set[str]:
    """The tokens of a handshake header's comma-separated list, lower case."""
    return {token.strip().lower() for token in value.split(",")}


def header(opcode: Opcode, length: int, *, masked: bool = False) -> bytes:
    """The header of a final frame of `length` payload bytes (without its mask)."""
    first, bit = 0x80 | opcode, 0x80 if masked else 0
    if length < 126:
        return bytes((first, bit | length))
    if length < 1 << 16:
        return bytes((first, bit | 126)) + length.to_bytes(2, "big")
    return bytes((first, bit | 127)) + length.to_bytes(8, "big")


def encode(opcode: Opcode, payload: bytes, mask: bytes | None = None) -> bytes:
    """A whole frame; with `mask` (4 random bytes: a client's frames), masked."""
    if mask is None:
        return header(opcode, len(payload)) + payload
    return header(opcode, len(payload), masked=True) + mask + _unmask(payload, mask)


def close_payload(code: int, reason: str = "") -> bytes:
    """A close frame's payload; the reason is cut to what a control frame holds."""
    return code.to_bytes(2, "big") + reason.encode()[:123].decode("utf-8", "ignore").encode()


def _unmask(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    if _c_apply_mask is not None:
        return bytes(_c_apply_mask(data, mask))
    n = len(data)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


_CONTROL = frozenset((Opcode.CLOSE, Opcode.PING, Opcode.PONG))
_DATA = frozenset((Opcode.TEXT, Opcode.BINARY))


class FrameReader:
    """Frames in, whole messages out: a client's (`masked`, as a server reads) or a
    server's (as a client reads). `max_text` and `max_binary` bound a message (all its
    fragments together), checked from the headers alone."""

    def __init__(self, *, max_text: int, max_binary: int, masked: bool = True) -> None:
        self._max = {Opcode.TEXT: max_text, Opcode.BINARY: max_binary}
        self._masked = masked
        self._buffer = bytearray()
        self._message: Opcode | None = None  # the data message being joined
        self._pieces: list[bytes] = []
        self._joined = 0

    @property
    def buffered(self) -> int:
        return len(self._buffer) + self._joined

    def feed(self, data: bytes | memoryview) -> Iterator[Message]:
        """The messages `data` completes, in order; `FrameError` at the first fault."""
        self._buffer += data
        while True:
            message = self._next()
            if message is None:
                return
            if isinstance(message, Message):
                yield message

    def _next(self) -> Message | bool | None:
        """A message; True for a frame that completed none; None for "need more"."""
        buf = self._buffer
        if len(buf) < 2:
            return None
        first, second = buf[0], buf[1]
        if first & 0x70:
            raise FrameError(PROTOCOL_ERROR, "reserved bits set (no extension was agreed)")
        if bool(second & 0x80) is not self._masked:
            raise FrameError(PROTOCOL_ERROR, "client frames must be masked" if self._masked
                             else "server frames must not be masked")
        try:
            opcode = Opcode(first & 0x0F)
        except ValueError:
            raise FrameError(PROTOCOL_ERROR, f"unknown opcode {first & 0x0F}") from None
        final = bool(first & 0x80)
        length, at = second & 0x7F, 2
        if opcode in _CONTROL and (length > 125 or not final):
            raise FrameError(PROTOCOL_ERROR, "control frames are whole and at most 125 bytes")
        if length == 126:
            if len(buf) < 4:
                return None
            length, at = int.from_bytes(buf[2:4], "big"), 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length, at = int.from_bytes(buf[2:10], "big"), 10
        self._check(opcode, length)
        mask = 4 if self._masked else 0
        end = at + mask + length
        if len(buf) < end:
            return None
        with memoryview(buf) as view:  # one copy of the payload out of the buffer
            payload = (_unmask(view[at + 4:end], bytes(buf[at:at + 4])) if mask
                       else bytes(view[at:end]))
        del buf[:end]
        if opcode in _CONTROL:
            return Message(opcode, payload)
        self._pieces.append(payload)
        self._joined += len(payload)
        if opcode in _DATA:
            self._message = opcode
        if not final:
            return True
        assert self._message is not None
        kind, data = self._message, b"".join(self._pieces)
        self._message, self._pieces, self._joined = None, [], 0
        if kind is Opcode.TEXT:
            try:
                return Message(kind, data, data.decode("utf-8"))
            except UnicodeDecodeError:
                raise FrameError(BAD_DATA, "text is not UTF-8") from None
        return Message(kind, data)

    def _check(self, opcode: Opcode, length: int) -> None:
        """Refuse a frame that cannot start, continue or bound its message."""
        if opcode in _CONTROL:
            return
        if opcode is Opcode.CONTINUATION:
            if self._message is None:
                raise FrameError(PROTOCOL_ERROR, "a continuation frame with nothing to continue")
            kind = self._message
        else:
            if self._message is not None:
                raise FrameError(PROTOCOL_ERROR, "a new message before the last one ended")
            kind = opcode
        if self._joined + length > self._max[kind]:
            raise FrameError(TOO_BIG, "message too big")
