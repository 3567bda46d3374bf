"""``GET /live/{stream}/…``: live streams from the hub, as plain ASGI (a hot path).

``index.m3u8`` is the media playlist of a single-variant stream, or the master of a
multivariant one whose variants are at ``<variant>/index.m3u8``. Segments are served by
the unique names the playlists give them.
"""

from __future__ import annotations

import posixpath

from starlette.types import Receive, Scope, Send

from hlsd.api._asgi import Cors, Headers, request_headers, respond, respond_error
from hlsd.hls import Rendered
from hlsd.streams import InitSegment, StreamHub
from hlsd.streams.stream import MASTER

PREFIX = "/live/"
_WANTED = frozenset({b"if-none-match", b"origin"})
# A CDN may hold a live playlist for about a second; segment names are never reused.
_PLAYLIST = [(b"content-type", b"application/vnd.apple.mpegurl"),
             (b"cache-control", b"public, max-age=1")]
_IMMUTABLE = (b"cache-control", b"public, max-age=31536000, immutable")
_TYPES = {".ts": b"video/mp2t", ".m4s": b"video/iso.segment", ".aac": b"audio/aac",
          ".mp4": b"video/mp4"}


class LiveHls:
    def __init__(self, *, hub: StreamHub, cors: Cors) -> None:
        self._hub = hub
        self._cors = cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = request_headers(scope, _WANTED)
        cors = self._cors.headers(headers.get(b"origin"))
        head = scope["method"] == "HEAD"
        parts = scope["path"][len(PREFIX):].split("/")
        stream = self._hub.get(parts[0]) if len(parts) in (2, 3) else None
        if stream is None:
            await respond_error(send, 404, "no such live stream", cors)
            return
        variant, name = ("/".join(parts[1:-1]), parts[-1])
        if name == MASTER and not variant and stream.multivariant:
            await _playlist(send, stream.master(), headers, cors, head)
            return
        rendition = stream.renditions.get(variant)
        if rendition is None:
            await respond_error(send, 404, "no such variant", cors)
            return
        if name == MASTER:
            await _playlist(send, rendition.playlist(), headers, cors, head)
            return
        item = rendition.get(name)
        if item is None:
            await respond_error(send, 404, "no such segment (or no longer available)", cors)
            return
        ctype = _TYPES.get(posixpath.splitext(name)[1], b"application/octet-stream")
        if isinstance(item, InitSegment):
            ctype = b"video/mp4"
        await respond(send, 200, [(b"content-type", ctype), _IMMUTABLE, *cors], item.data,
                      head=head)


async def _playlist(send: Send, playlist: Rendered | None, headers: dict[bytes, bytes],
                    cors: Headers, head: bool) -> None:
    if playlist is None:
        await respond_error(send, 404, "the stream has no segments yet", cors)
        return
    out = [*_PLAYLIST, (b"etag", playlist.etag.encode()), *cors]
    tags = headers.get(b"if-none-match")
    if tags is not None and playlist.etag.encode() in tags:
        await respond(send, 304, out, head=True)
        return
    await respond(send, 200, out, playlist.body, head=head)
