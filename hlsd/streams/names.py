"""What a live stream's name may be, wherever it comes from.

hls-websocket-cdn names streams freely: up to 255 bytes, ``/`` allowed (``room/cam``
plays at ``/live/room%2Fcam/…``). A name ends up in log lines, playlist URIs, the
spill folder, registry keys and the console, so some names are refused everywhere:

- an empty part, ``.`` or ``..`` (``a//b``, ``/a``, ``a/``, ``../../etc``): they read
  as paths that go elsewhere, or as two names for one stream;
- control characters (C0, DEL, C1), line and paragraph separators: they end or forge log
  lines and break the text protocols;
- Unicode format characters (bidirectional overrides, zero-width joiners and spaces, the
  byte-order mark): invisible, they make two different names look the same;
- lone surrogates, which are no text (they cannot even be encoded as UTF-8).

Each ingest keeps its own stricter rule on top (HTTP push:
`hlsd.ingest.http_push.validate_stream_id`); the hub applies this one to every publish.
"""

from __future__ import annotations

import unicodedata

MAX_NAME_BYTES = 255
"""A name's length in UTF-8 bytes, as hls-websocket-cdn counts it."""

_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


class InvalidStreamName(ValueError):
    """A name no stream may have; the message says why."""


def name_problem(name: str) -> str | None:
    """Why `name` is no stream name, or None when it is one."""
    if not name:
        return "is empty"
    try:
        size = len(name.encode())
    except UnicodeEncodeError:
        return "is not valid Unicode text"
    if size > MAX_NAME_BYTES:
        return f"is longer than {MAX_NAME_BYTES} bytes"
    for char in name:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            return f"contains the control or format character U+{ord(char):04X}"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "has an empty, '.' or '..' part between slashes"
    return None


def check_stream_name(name: str) -> str:
    """`name`, if it is a stream name; else `InvalidStreamName`."""
    problem = name_problem(name)
    if problem is not None:
        raise InvalidStreamName(f"a stream name {problem}")
    return name
