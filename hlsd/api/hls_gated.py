"""``/hls/<rid>/…``: token-gated on-demand HLS (the seed's stream surface).

A token comes in ``x-gostreamer-token``, ``Authorization: Bearer`` or ``?token=``. When
it comes as ``?token=``, the playlists carry it in their URIs, so native players that
cannot set headers keep it on every request.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, RedirectResponse, Response

from hlsd.api.errors import error
from hlsd.api.playlist_response import playlist_response
from hlsd.auth.access import bearer
from hlsd.hls import with_query
from hlsd.metrics import Metrics
from hlsd.vod.packager import Package, Packager
from hlsd.vod.playlists import MASTER, MEDIA, SUBTITLES, Rendered, rendered
from hlsd.vod.streams import AccessDenied, OnDemandStreams

TOKEN_HEADER = "x-gostreamer-token"  # noqa: S105 (a header name)
_SEGMENT = re.compile(r"^seg-(\d{1,7})\.ts$")
_SUBTITLE = re.compile(r"^sub-(\d{1,7})\.vtt$")
# Gated content must not sit in shared caches; browsers may keep it.
_PLAYLIST_CACHE = "private, max-age=60"
_SEGMENT_CACHE = "private, max-age=86400, immutable"


def router(*, streams: OnDemandStreams, packager: Packager, metrics: Metrics) -> APIRouter:
    api = APIRouter(prefix="/hls", tags=["gostreamer"])

    @api.api_route("/{rid}", methods=["GET", "HEAD"], include_in_schema=False)
    @api.api_route("/{rid}/", methods=["GET", "HEAD"], include_in_schema=False)
    async def stream_root(rid: str, request: Request) -> Response:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/hls/{quote(rid, safe='')}/{MASTER}{query}", status_code=307)

    @api.api_route("/{rid}/{name}", methods=["GET", "HEAD"])
    async def stream_file(rid: str, name: str, request: Request) -> Response:
        token, in_query = _token(request)
        try:
            stream = streams.authorize(rid, token)
        except AccessDenied as exc:
            metrics.auth_failures.labels("missing" if exc.status == 401 else "invalid").inc()
            raise
        if not (name.endswith((".m3u8", ".ts", ".vtt"))):
            return error(404, "no such file")
        package = await streams.package(stream)
        if name.endswith(".m3u8"):
            playlist = _playlist(package, name)
            if playlist is None:
                return error(404, "no such playlist")
            if in_query and token:
                # Relative URIs only: our token must never travel to another host.
                playlist = rendered(with_query(playlist.body.decode(),
                                               "token=" + quote(token, safe=""),
                                               relative_only=True))
            return playlist_response(request, playlist, cache_control=_PLAYLIST_CACHE)
        if match := _SEGMENT.match(name):
            path = await packager.segment(package, int(match.group(1)))
            return FileResponse(path, media_type="video/mp2t",
                                headers={"cache-control": _SEGMENT_CACHE})
        if match := _SUBTITLE.match(name):
            body = packager.subtitle_segment(package, int(match.group(1)))
            return Response(body, media_type="text/vtt; charset=utf-8",
                            headers={"cache-control": _SEGMENT_CACHE})
        return error(404, "no such file")

    return api


def _playlist(package: Package, name: str) -> Rendered | None:
    if name == MASTER:
        return package.master
    if name == MEDIA:
        return package.media
    if name == SUBTITLES:
        return package.subtitles
    return None


def _token(request: Request) -> tuple[str | None, bool]:
    """The token and whether it came in the query string."""
    header = request.headers.get(TOKEN_HEADER) or bearer(request.headers.get("authorization"))
    if header:
        return header, False
    query = request.query_params.get("token")
    return (query, True) if query else (None, False)
