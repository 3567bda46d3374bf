"""``/hls/<rid>/…``: token-gated on-demand HLS (the Go-HLS-Streamer surface).

Always gated: the token (``x-gostreamer-token``, ``Authorization: Bearer`` or
``?token=``) must be one issued for this rid, which `OnDemandStreams.authorize` checks
(once per pair until it expires). This is the server's hottest path: per request one
cached authorization, one lookup of the package, and bytes already made (playlists
rendered once, segments from the hot set).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote

from hlsd.delivery.request import Request
from hlsd.delivery.resource import (
    ONE_DAY,
    PLAYLIST,
    Redirect,
    Refused,
    Resource,
    content_type,
    playlist_of,
)
from hlsd.hls import Rendered
from hlsd.infra.logs import clip
from hlsd.infra.statuses import status_of
from hlsd.metrics import Metrics
from hlsd.vod.errors import SourceError
from hlsd.vod.packager import Package, Packager
from hlsd.vod.playlists import MASTER, MEDIA, SUBTITLES
from hlsd.vod.streams import AccessDenied, OnDemandStreams, StreamGone, TokenMissing, UnknownStream

__all__ = ["PREFIX", "HlsResolver"]

log = logging.getLogger(__name__)

PREFIX = "/hls/"
_SEGMENT = re.compile(r"^seg-(\d{1,7})\.ts$")
_SUBTITLE = re.compile(r"^sub-(\d{1,7})\.vtt$")
_TS = content_type("video/mp2t")
_VTT = content_type("text/vtt; charset=utf-8")


class HlsResolver:
    def __init__(self, *, streams: OnDemandStreams, packager: Packager,
                 metrics: Metrics) -> None:
        self._streams = streams
        self._packager = packager
        self._metrics = metrics

    async def __call__(self, request: Request) -> Resource | Redirect:
        rid, _, name = request.rest.partition("/")
        if not name:
            query = request.scope["query_string"].decode("latin-1")
            return Redirect(307, f"{PREFIX}{quote(rid, safe='')}/{MASTER}"
                                 + (f"?{query}" if query else ""))
        if "/" in name or not name.endswith((".m3u8", ".ts", ".vtt")):
            raise Refused(404, "no such file")
        token, in_query = request.token()
        try:
            stream = self._streams.authorize(rid, token)
        except AccessDenied as exc:
            self._metrics.auth_failures.labels(
                "missing" if isinstance(exc, TokenMissing) else "invalid").inc()
            raise Refused(status_of(exc), str(exc)) from None
        except (StreamGone, UnknownStream) as exc:
            raise Refused(status_of(exc), str(exc)) from None
        request.admit(token if in_query else None)  # private: no shared caches
        try:
            package = await self._streams.package(stream)
            if name.endswith(".m3u8"):
                playlist = _playlist(package, name)
                if playlist is None:
                    raise Refused(404, "no such playlist")
                return playlist_of(playlist, PLAYLIST)
            if match := _SEGMENT.match(name):
                data = await self._packager.segment(package, int(match.group(1)))
                return Resource(data, _TS, ONE_DAY)
            if match := _SUBTITLE.match(name):
                data = self._packager.subtitle_segment(package, int(match.group(1)))
                return Resource(data, _VTT, ONE_DAY)
        except SourceError as exc:
            status = status_of(exc)
            log.log(logging.WARNING if status >= 500 else logging.INFO,
                    "GET %s -> %d: %s", clip(request.scope["path"]), status,
                    clip(exc.message))
            raise Refused(status, exc.message) from None
        raise Refused(404, "no such file")


def _playlist(package: Package, name: str) -> Rendered | None:
    if name == MEDIA:
        return package.media
    if name == MASTER:
        return package.master
    return package.subtitles if name == SUBTITLES else None
