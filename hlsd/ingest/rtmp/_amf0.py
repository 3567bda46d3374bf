"""AMF0, the encoding of RTMP's commands (``connect``, ``publish``, ``onStatus``…) and of
the stream's metadata.

Decoding is bounded: the input is one RTMP message (itself bounded), nesting is capped,
and an array's announced count is never trusted for an allocation. References and AMF3
values are not resolved: no encoder's publish commands use them.
"""

from __future__ import annotations

import enum
import math
import struct
from typing import TypeAlias

__all__ = ["UNDEFINED", "AmfError", "Undefined", "Value", "decode", "decode_one", "encode"]

MAX_DEPTH = 16
"""Nested objects and arrays accepted (metadata goes two deep)."""


class AmfError(ValueError):
    """The bytes are not AMF0 this module reads."""


class Undefined(enum.Enum):
    """AMF0's ``undefined``, told apart from ``null`` (None)."""

    UNDEFINED = "undefined"


UNDEFINED = Undefined.UNDEFINED

Value: TypeAlias = "float | bool | str | Undefined | dict[str, Value] | list[Value] | None"

_NUMBER, _BOOLEAN, _STRING, _OBJECT = 0x00, 0x01, 0x02, 0x03
_NULL, _UNDEFINED, _REFERENCE, _ECMA_ARRAY, _OBJECT_END = 0x05, 0x06, 0x07, 0x08, 0x09
_STRICT_ARRAY, _DATE, _LONG_STRING, _UNSUPPORTED = 0x0A, 0x0B, 0x0C, 0x0D
_XML, _TYPED_OBJECT, _AVMPLUS = 0x0F, 0x10, 0x11

_DOUBLE = struct.Struct(">d")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


class _Decoder:
    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data = data
        self.at = offset

    def _take(self, n: int) -> bytes:
        end = self.at + n
        if end > len(self.data):
            raise AmfError("truncated AMF0 value")
        chunk = self.data[self.at:end]
        self.at = end
        return chunk

    def _text(self, length: int) -> str:
        return self._take(length).decode("utf-8", "replace")

    def _key(self) -> str:
        return self._text(_U16.unpack(self._take(2))[0])

    def value(self, depth: int = 0) -> Value:
        if depth > MAX_DEPTH:
            raise AmfError("AMF0 nested too deep")
        marker = self._take(1)[0]
        if marker == _NUMBER:
            return float(_DOUBLE.unpack(self._take(8))[0])
        if marker == _BOOLEAN:
            return self._take(1)[0] != 0
        if marker == _STRING:
            return self._key()
        if marker in (_OBJECT, _ECMA_ARRAY, _TYPED_OBJECT):
            if marker == _ECMA_ARRAY:
                self._take(4)  # an approximate count; the end marker is what counts
            elif marker == _TYPED_OBJECT:
                self._key()  # the class name
            return self._properties(depth)
        if marker in (_NULL, _UNSUPPORTED):
            return None
        if marker == _UNDEFINED:
            return UNDEFINED
        if marker == _REFERENCE:
            self._take(2)
            return None
        if marker == _STRICT_ARRAY:
            count = _U32.unpack(self._take(4))[0]
            if count > len(self.data) - self.at:  # every value takes at least a byte
                raise AmfError("AMF0 array longer than its message")
            return [self.value(depth + 1) for _ in range(count)]
        if marker == _DATE:
            milliseconds = _DOUBLE.unpack(self._take(8))[0]
            self._take(2)  # the time zone, always 0
            return float(milliseconds)
        if marker in (_LONG_STRING, _XML):
            return self._text(_U32.unpack(self._take(4))[0])
        if marker == _AVMPLUS:
            raise AmfError("AMF3 values are not supported")
        raise AmfError(f"unknown AMF0 marker 0x{marker:02x}")

    def _properties(self, depth: int) -> dict[str, Value]:
        properties: dict[str, Value] = {}
        while True:
            key = self._key()
            if not key and self.at < len(self.data) and self.data[self.at] == _OBJECT_END:
                self.at += 1
                return properties
            properties[key] = self.value(depth + 1)


def decode_one(data: bytes, offset: int = 0) -> tuple[Value, int]:
    """The value at `offset`, and the offset after it."""
    decoder = _Decoder(data, offset)
    value = decoder.value()
    return value, decoder.at


def decode(data: bytes) -> list[Value]:
    """Every value in `data`, in order."""
    decoder = _Decoder(data)
    values: list[Value] = []
    while decoder.at < len(data):
        values.append(decoder.value())
    return values


def _string(text: str) -> bytes:
    raw = text.encode()
    if len(raw) <= 0xFFFF:
        return bytes([_STRING]) + _U16.pack(len(raw)) + raw
    return bytes([_LONG_STRING]) + _U32.pack(len(raw)) + raw


def _encode(value: Value, out: bytearray) -> None:
    if value is None:
        out.append(_NULL)
    elif value is UNDEFINED:
        out.append(_UNDEFINED)
    elif isinstance(value, bool):
        out += bytes([_BOOLEAN, int(value)])
    elif isinstance(value, int | float):
        if not math.isfinite(value):
            raise AmfError("AMF0 numbers sent by hlsd are finite")
        out.append(_NUMBER)
        out += _DOUBLE.pack(float(value))
    elif isinstance(value, str):
        out += _string(value)
    elif isinstance(value, dict):
        out.append(_OBJECT)
        for key, item in value.items():
            raw = key.encode()
            out += _U16.pack(len(raw)) + raw
            _encode(item, out)
        out += b"\x00\x00" + bytes([_OBJECT_END])
    elif isinstance(value, list):
        out.append(_STRICT_ARRAY)
        out += _U32.pack(len(value))
        for item in value:
            _encode(item, out)
    else:
        raise AmfError(f"cannot encode {type(value).__name__} as AMF0")


def encode(*values: Value) -> bytes:
    out = bytearray()
    for value in values:
        _encode(value, out)
    return bytes(out)
