"""What a resolver hands the responder: a `Resource` (a body and how to describe and
cache it), a `Redirect`, or a `Refused` raised with its status and reason.

A body is one of two things, and the responder sends each one way:
- ``bytes``: a playlist rendered once, a live segment (one shared object for every
  listener), a spilled segment or a stored object once read (by the service that owns
  it, through its own bounded cache);
- a `FileBody`: a file on this node (a local object store's object, an MP4 export),
  sent with the server's sendfile path when it can be, else streamed.

Header values are bytes built once here, so that a response allocates only its list.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from hlsd.hls import Rendered

__all__ = ["GATED_ASSET", "IMMUTABLE", "LIVE_PLAYLIST", "M3U8",
           "NO_STORE", "ONE_DAY", "PLAYLIST", "Caching", "FileBody", "Header", "Redirect",
           "Refused", "Resource", "content_type", "playlist_of", "strong_etag"]

Header = tuple[bytes, bytes]

M3U8: Header = (b"content-type", b"application/vnd.apple.mpegurl")


def content_type(media_type: str) -> Header:
    return (b"content-type", media_type.encode("latin-1"))


class Caching:
    """A Cache-Control policy, in its two forms: public (shared caches and CDNs may keep
    it) and private (the request passed a token gate: only the player's own cache)."""

    __slots__ = ("private", "public")

    def __init__(self, value: str | None = None, *, max_age: int = 0,
                 immutable: bool = False) -> None:
        if value is not None:
            self.public = self.private = (b"cache-control", value.encode())
            return
        tail = f"max-age={max_age}" + (", immutable" if immutable else "")
        self.public = (b"cache-control", f"public, {tail}".encode())
        self.private = (b"cache-control", f"private, {tail}".encode())


LIVE_PLAYLIST = Caching(max_age=1)
"""A live playlist (or a recording still growing): a CDN may hold it about a second."""
PLAYLIST = Caching(max_age=60)
"""A playlist that changes seldom (a stopped recording's; on-demand ones)."""
IMMUTABLE = Caching(max_age=31536000, immutable=True)
"""A segment whose name is never reused, an asset's files: a year."""
ONE_DAY = Caching(max_age=86400, immutable=True)
"""An on-demand segment: it lives as long as its (expiring) stream."""
GATED_ASSET = Caching(max_age=3600)
"""A token-gated asset's files: an hour, in the player's cache only."""
NO_STORE = Caching("no-store")


def strong_etag(data: bytes) -> str:
    """A strong ETag of these bytes (the form `hlsd.hls.Rendered` uses)."""
    return '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'


@dataclass(frozen=True, slots=True)
class FileBody:
    path: Path
    missing: str
    """What a 404 says when the file is not there (any more)."""
    download: str | None = None
    """A file name to offer the file under (Content-Disposition: attachment)."""
    release: Callable[[], Awaitable[None]] | None = None
    """For a temporary file: called once the answer has ended (sent, refused or cut
    off), to remove it. Such a file is streamed here, never handed to the server's
    sendfile path (which may read it after the answer has returned)."""


class Resource:
    __slots__ = ("body", "caching", "etag", "playlist", "type")

    def __init__(self, body: bytes | FileBody, type: Header, caching: Caching,
                 etag: str | None = None, playlist: bool = False) -> None:
        self.body = body
        self.type = type
        """Its Content-Type header."""
        self.caching = caching
        self.etag = etag
        """A strong ETag (quoted); a file without one gets one from its size and mtime."""
        self.playlist = playlist
        """A playlist (whose body is then bytes): a token that came as ``?token=`` is
        carried into its URIs."""


def playlist_of(rendered: Rendered, caching: Caching) -> Resource:
    """A playlist as rendered once: its bytes and strong ETag. (Resources are made
    with positional arguments on the hot paths: keywords double the cost of a call.)"""
    return Resource(rendered.body, M3U8, caching, rendered.etag, True)


@dataclass(frozen=True, slots=True)
class Redirect:
    status: int
    location: str
    headers: tuple[Header, ...] = ()


class Refused(Exception):
    """No resource: answered as ``{"error": message}`` with this status."""

    def __init__(self, status: int, message: str, headers: tuple[Header, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
