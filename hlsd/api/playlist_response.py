"""Serving rendered playlists: cached bytes, a strong ETag, 304 on a match."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hlsd.vod.playlists import Rendered

M3U8 = "application/vnd.apple.mpegurl"


def playlist_response(request: Request, playlist: Rendered, *, cache_control: str,
                      media_type: str = M3U8) -> Response:
    headers = {"etag": playlist.etag, "cache-control": cache_control}
    if _matches(request.headers.get("if-none-match"), playlist.etag):
        return Response(status_code=304, headers=headers)
    return Response(playlist.body, media_type=media_type, headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in candidates or "*" in candidates
