"""A playlist rendered once: the bytes as served, with a strong ETag."""

from __future__ import annotations

import hashlib
from typing import NamedTuple


class Rendered(NamedTuple):
    body: bytes
    etag: str


def rendered(text: str) -> Rendered:
    body = text.encode()
    return Rendered(body, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"')
