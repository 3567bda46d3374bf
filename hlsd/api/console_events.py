"""What the console's overview reads (management: the admin key, or loopback without
one): ``GET /api/console/events``, the node's overview as server-sent events, and
``GET /api/streams/{stream}/thumbnail.jpg``, a live stream's newest picture."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import Response, StreamingResponse

from hlsd.api._admin import require_admin
from hlsd.api._openapi import ERROR_SCHEMA, ERRORS, JSON
from hlsd.console import Follower, Overview, Thumbnails

__all__ = ["KEEP_ALIVE", "router"]

KEEP_ALIVE = 15.0
"""Seconds of silence after which a comment line is sent: proxies and browsers keep
the connection, and a page that went away is noticed."""
_MAX_NAME = 255

_THUMBNAIL_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "a JPEG about 320 pixels wide",
          "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
    404: {"description": "the stream is not live here, has no segment yet, or carries no "
                         "video", "content": {JSON: {"schema": ERROR_SCHEMA}}},
}
AnyStreamName = Annotated[str, PathParam(
    description="a live stream's id (a websocket stream's may hold '/')",
    json_schema_extra={"minLength": 1, "maxLength": _MAX_NAME})]


def router(*, overview: Overview, thumbnails: Thumbnails, admin_key: str | None
           ) -> APIRouter:
    api = APIRouter(responses=ERRORS)

    # Out of /openapi.json: an answer that never ends is no operation to fuzz or try.
    @api.get("/api/console/events", include_in_schema=False)
    async def events(request: Request) -> StreamingResponse:
        """The node's overview (``event: overview``, its data the snapshot as JSON: see
        `Overview.snapshot`) at once and at each change, a comment line after
        `KEEP_ALIVE` seconds of silence. 503 past the bound of pages following."""
        require_admin(request, admin_key)
        follower = overview.follow()
        return StreamingResponse(_stream(follower), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache",
                                          "x-accel-buffering": "no"})

    @api.get("/api/streams/{stream:path}/thumbnail.jpg", tags=["live"],
             response_class=Response, responses=_THUMBNAIL_RESPONSES)
    async def thumbnail(stream: AnyStreamName, request: Request) -> Response:
        """The first picture of a live stream's newest segment (its first variant), as a
        JPEG about 320 pixels wide: made once per segment, for the console."""
        require_admin(request, admin_key)
        picture = await thumbnails.of(stream)
        return Response(picture, media_type="image/jpeg",
                        headers={"cache-control": "no-store"})

    return api


async def _stream(follower: Follower) -> AsyncIterator[bytes]:
    try:
        while True:
            snapshot = await follower.next(KEEP_ALIVE)
            if snapshot is None:
                yield b": keep-alive\n\n"
            else:
                # JSON holds no raw line break: one data line.
                yield b"event: overview\ndata: " + snapshot + b"\n\n"
    finally:
        follower.close()
