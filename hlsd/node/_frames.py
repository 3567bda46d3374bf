"""Frames between the worker processes of one node: a JSON header and the byte blobs it
refers to, over a local (unix) stream socket.

A frame is a 4-byte big-endian header length, the header (a JSON object whose ``blobs``
lists the blobs' lengths), then the blobs back to back. Bytes travel as they are, never
inside JSON: a segment crosses once, with no encoding. Both bounds are checked before
anything is read past them; the peers are this node's own processes, but a bug in one
must not make another allocate without bound.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

__all__ = ["MAX_BLOBS", "MAX_HEADER", "FrameError", "encode", "read_frame"]

MAX_HEADER = 1 << 20
"""Bytes of one frame's JSON header."""
MAX_BLOBS = 256 << 20
"""Bytes of one frame's blobs together: a segment (``live.max_segment_bytes`` is at
most a few dozen MB) or a stream's snapshot."""
_LENGTH = struct.Struct(">I")

Header = dict[str, Any]


class FrameError(ValueError):
    """A frame that breaks the format or its bounds: the link is closed."""


def encode(header: Header, blobs: list[bytes] | tuple[bytes, ...] = ()) -> bytes:
    """One frame, ready to write (made once, however many peers it goes to)."""
    head = json.dumps({**header, "blobs": [len(b) for b in blobs]},
                      separators=(",", ":")).encode()
    return b"".join((_LENGTH.pack(len(head)), head, *blobs))


async def read_frame(reader: asyncio.StreamReader, *,
                     max_blobs: int = MAX_BLOBS) -> tuple[Header, list[bytes]]:
    """The next frame; `asyncio.IncompleteReadError` at the end of the stream."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    if length > MAX_HEADER:
        raise FrameError(f"a frame header of {length} bytes (at most {MAX_HEADER})")
    try:
        header = json.loads(await reader.readexactly(length))
    except ValueError as exc:
        raise FrameError(f"a frame header that is not JSON: {exc}") from None
    sizes = header.get("blobs") if isinstance(header, dict) else None
    if not isinstance(sizes, list) or not all(isinstance(n, int) and n >= 0 for n in sizes):
        raise FrameError("a frame header without its blobs' lengths")
    if sum(sizes) > max_blobs:
        raise FrameError(f"a frame of {sum(sizes)} bytes (at most {max_blobs})")
    return header, [await reader.readexactly(n) for n in sizes]
