"""The names a push may use: stream ids, and paths within a stream (a file, or a
variant folder and a file)."""

from __future__ import annotations

import re

from hlsd.ingest.errors import IngestError

STREAM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.~-]{0,127}$")
_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.~-]{0,127}$")
_MAX_DEPTH = 2


def validate_stream_id(stream: str) -> str:
    if not STREAM_ID.match(stream) or ".." in stream:
        raise IngestError("stream ids are 1-128 characters of A-Z a-z 0-9 _ . ~ -", status=400)
    return stream


def validate_path(path: str) -> str:
    parts = path.split("/")
    if len(parts) > _MAX_DEPTH or not all(_PART.match(p) and ".." not in p for p in parts):
        raise IngestError(f"invalid ingest path {path!r}", status=400)
    return path
