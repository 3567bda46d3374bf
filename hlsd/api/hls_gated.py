"""``/hls/<rid>/…``: token-gated on-demand HLS (the seed's stream surface).

A token comes in ``x-gostreamer-token``, ``Authorization: Bearer`` or ``?token=``. When
it comes as ``?token=``, the playlists carry it in their URIs, so native players that
cannot set headers keep it on every request.

This is the hottest path of the server, so it is a plain ASGI app that the dispatcher
hands GET and HEAD requests to before the framework: per request it does one cached
authorization, one dict lookup for the package, and sends bytes that are already made.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote

from starlette.types import Receive, Scope, Send

from hlsd.api._asgi import (
    Cors,
    Headers,
    byte_range,
    request_headers,
    respond,
    respond_error,
    send_playlist,
)
from hlsd.api._query_token import TOKEN_HEADERS, TokenPlaylists, request_token
from hlsd.api.errors import status_of
from hlsd.hls import Rendered
from hlsd.infra.logs import clip
from hlsd.metrics import Metrics
from hlsd.vod.errors import SourceError
from hlsd.vod.packager import Package, Packager
from hlsd.vod.playlists import MASTER, MEDIA, SUBTITLES
from hlsd.vod.streams import AccessDenied, OnDemandStreams, StreamGone, TokenMissing, UnknownStream

log = logging.getLogger(__name__)

PREFIX = "/hls/"
_WANTED = TOKEN_HEADERS | {b"if-none-match", b"range", b"origin"}
_SEGMENT = re.compile(r"^seg-(\d{1,7})\.ts$")
_SUBTITLE = re.compile(r"^sub-(\d{1,7})\.vtt$")
# Gated content must not sit in shared caches; browsers may keep it.
_PLAYLIST_HEADERS: Headers = [(b"content-type", b"application/vnd.apple.mpegurl"),
                              (b"cache-control", b"private, max-age=60")]
_SEGMENT_HEADERS: Headers = [(b"content-type", b"video/mp2t"), (b"accept-ranges", b"bytes"),
                             (b"cache-control", b"private, max-age=86400, immutable")]
_VTT_HEADERS: Headers = [(b"content-type", b"text/vtt; charset=utf-8"),
                         (b"cache-control", b"private, max-age=86400, immutable")]
_MAX_TOKEN_PLAYLISTS = 4096


class GatedHls:
    def __init__(self, *, streams: OnDemandStreams, packager: Packager, metrics: Metrics,
                 cors: Cors) -> None:
        self._streams = streams
        self._packager = packager
        self._metrics = metrics
        self._cors = cors
        self._token_playlists = TokenPlaylists()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = request_headers(scope, _WANTED)
        cors = self._cors.headers(headers.get(b"origin"))
        try:
            await self._serve(scope, headers, cors, send)
        except AccessDenied as exc:
            self._metrics.auth_failures.labels(
                "missing" if isinstance(exc, TokenMissing) else "invalid").inc()
            await respond_error(send, status_of(exc), str(exc), cors)
        except StreamGone as exc:
            await respond_error(send, 410, str(exc), cors)
        except UnknownStream as exc:
            await respond_error(send, 404, str(exc), cors)
        except SourceError as exc:
            status = status_of(exc)
            log.log(logging.WARNING if status >= 500 else logging.INFO,
                    "GET %s -> %d: %s", clip(scope["path"]), status, clip(exc.message))
            await respond_error(send, status, exc.message, cors)
        except Exception:
            log.exception("GET %s failed", clip(scope["path"]))
            await respond_error(send, 500, "internal error", cors)

    async def _serve(self, scope: Scope, headers: dict[bytes, bytes], cors: Headers,
                     send: Send) -> None:
        head = scope["method"] == "HEAD"
        rid, _, name = scope["path"][len(PREFIX):].partition("/")
        if not name:
            query = scope["query_string"]
            location = f"{PREFIX}{quote(rid, safe='')}/{MASTER}".encode()
            if query:
                location += b"?" + query
            await respond(send, 307, [(b"location", location), *cors], head=head)
            return
        if "/" in name or not name.endswith((".m3u8", ".ts", ".vtt")):
            await respond_error(send, 404, "no such file", cors)
            return
        token, in_query = request_token(scope, headers)
        stream = self._streams.authorize(rid, token)
        package = await self._streams.package(stream)
        if name.endswith(".m3u8"):
            playlist = self._playlist(package, name, token if in_query else None)
            if playlist is None:
                await respond_error(send, 404, "no such playlist", cors)
                return
            await send_playlist(send, playlist.body, playlist.etag, [*_PLAYLIST_HEADERS, *cors],
                                headers.get(b"if-none-match"), head=head)
        elif match := _SEGMENT.match(name):
            data = await self._packager.segment(package, int(match.group(1)))
            await _send_segment(send, data, headers.get(b"range"), [*_SEGMENT_HEADERS, *cors],
                                head=head)
        elif match := _SUBTITLE.match(name):
            body = self._packager.subtitle_segment(package, int(match.group(1)))
            await respond(send, 200, [*_VTT_HEADERS, *cors], body, head=head)
        else:
            await respond_error(send, 404, "no such file", cors)

    def _playlist(self, package: Package, name: str, query_token: str | None
                  ) -> Rendered | None:
        playlist = {MASTER: package.master, MEDIA: package.media,
                    SUBTITLES: package.subtitles}.get(name)
        if playlist is None or query_token is None:
            return playlist
        return self._token_playlists.with_token(playlist, query_token)


async def _send_segment(send: Send, data: bytes, range_header: bytes | None,
                        headers: Headers, *, head: bool) -> None:
    span = byte_range(range_header, len(data)) if range_header else None
    if span is None:
        await respond(send, 200, headers, data, head=head)
        return
    start, end = span
    if start >= len(data):
        await respond(send, 416, [*headers, (b"content-range", f"bytes */{len(data)}".encode())],
                      head=head)
        return
    content_range = f"bytes {start}-{end - 1}/{len(data)}".encode()
    await respond(send, 206, [*headers, (b"content-range", content_range)], data[start:end],
                  head=head)
