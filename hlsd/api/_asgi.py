"""Plain ASGI responses for the playback hot paths, which skip the framework.

Headers are lists of byte pairs built once where they can be; the CORS headers a
simple request needs are added here, because these paths bypass the CORS middleware.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import Scope, Send

from hlsd.infra.asgi import Headers, respond, respond_error

__all__ = ["EXPOSE", "Cors", "Headers", "byte_range", "etag_matches", "request_headers",
           "respond", "respond_error", "send_playlist"]

EXPOSE = (b"access-control-expose-headers", b"content-length, content-range, etag")


class Cors:
    """The simple-request CORS headers for a configured list of origins."""

    def __init__(self, origins: Iterable[str]) -> None:
        self._origins = frozenset(origins)
        self._any = "*" in self._origins

    def headers(self, origin: bytes | None) -> Headers:
        if origin is None:
            return []
        if self._any:
            return [(b"access-control-allow-origin", b"*"), EXPOSE]
        if origin.decode("latin-1") in self._origins:
            return [(b"access-control-allow-origin", origin), EXPOSE, (b"vary", b"origin")]
        return []


def request_headers(scope: Scope, wanted: frozenset[bytes]) -> dict[bytes, bytes]:
    """The first value of each wanted header (names are lower-case in ASGI)."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in wanted and name not in found:
            found[name] = value
    return found


def byte_range(spec: bytes, size: int) -> tuple[int, int] | None:
    """One ``bytes=a-b`` range as (start, end exclusive); None to send the whole body.

    Multiple ranges are answered with the whole body, which RFC 9110 allows.
    """
    text = spec.decode("latin-1").strip()
    if not text.startswith("bytes=") or "," in text:
        return None
    first, _, last = text[6:].partition("-")
    try:
        if first == "":
            length = int(last)
            return (max(0, size - length), size) if length > 0 else None
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if start >= size or end <= start:
        return (size, size)  # unsatisfiable
    return start, min(end, size)


async def send_playlist(send: Send, body: bytes, etag: str, headers: Headers,
                        if_none_match: bytes | None, *, head: bool) -> None:
    """Cached playlist bytes with their ETag; 304 when the client already has them."""
    out = [*headers, (b"etag", etag.encode())]
    if etag_matches(if_none_match, etag):
        await respond(send, 304, out, head=True)
        return
    await respond(send, 200, out, body, head=head)


def etag_matches(if_none_match: bytes | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.decode("latin-1").split(",")}
    return etag in tags or "*" in tags
