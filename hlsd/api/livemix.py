"""The LiveMix HTTP API, with LiveMix's paths, JSON fields and response envelope
(``{"success", "request_id", …}``; errors add ``{"error": {"code", "message"}}``).

Sources are management (admin key, or loopback without one); ``POST /v1/playlist`` is
ingest (publish keys). A source streams as the hlsd live stream of the same name, so it
also plays at ``/live/<name>/index.m3u8``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field, StrictInt, StrictStr

from hlsd.api._admin import require_admin
from hlsd.api._body import describe, parse_model
from hlsd.api._bounds import Body
from hlsd.api._envelope import envelope, failure
from hlsd.api._openapi import LIVEMIX_ERRORS, body, raw_body
from hlsd.api.ingest import PublishAuth
from hlsd.auth.access import Refused
from hlsd.errors import Conflict, NotFound
from hlsd.infra.bounded import read_request
from hlsd.infra.guarded_http import FetchRefused
from hlsd.infra.logs import clip
from hlsd.infra.statuses import status_of
from hlsd.ingest.errors import IngestError, MalformedPush
from hlsd.ingest.livemix import LiveMixIngest
from hlsd.ingest.livemix_json import source_json
from hlsd.ingest.livemix_sources import LiveMixSources, Source, utcnow
from hlsd.ingest.names import STREAM_ID
from hlsd.streams import StreamBusy

log = logging.getLogger(__name__)


MAX_SEGMENT_LEN = 3600
"""Seconds: LiveMix's segment length, bounded as every live segment is."""


class NewSource(Body):
    model_config = ConfigDict(extra="ignore")
    name: StrictStr = Field(max_length=128, json_schema_extra={"pattern": STREAM_ID.pattern})
    """A stream id (the HTTP ingest rule, checked with its own message): ``/live/<name>/``
    plays it."""
    segment_len: StrictInt = Field(ge=1, le=MAX_SEGMENT_LEN)
    description: StrictStr | None = Field(default=None, max_length=4096)


def admin_refusal(request: Request, admin_key: str | None) -> JSONResponse | None:
    """LiveMix's envelope for a management request without the admin key, else None."""
    try:
        require_admin(request, admin_key)
    except Refused as exc:
        return failure(request, status_of(exc), exc.message)
    return None


def router(*, sources: LiveMixSources, ingest: LiveMixIngest, authorize: PublishAuth,
           admin_key: str | None, report_interval: float) -> APIRouter:
    """`report_interval`: how often edges report their sources (``online`` is judged by
    it)."""
    api = APIRouter(prefix="/v1", tags=["livemix"], responses=LIVEMIX_ERRORS)

    def shown(source: Source) -> dict[str, Any]:
        return source_json(source, now=utcnow(), report_interval=report_interval)

    def admin(request: Request) -> JSONResponse | None:
        return admin_refusal(request, admin_key)

    def no_source(request: Request, source_id: str) -> JSONResponse:
        return failure(request, 404, f"video source {source_id} not found")

    @api.post("/source", openapi_extra=body(NewSource))
    async def define_source(request: Request) -> JSONResponse:
        if (refused := admin(request)) is not None:
            return refused
        try:
            params = parse_model(await read_request(request, 1 << 16), NewSource)
        except RequestValidationError as exc:
            return failure(request, 400, "invalid video source parameters: "
                                         f"{describe(exc.errors())}")
        try:
            source = await sources.create(name=params.name, segment_length=params.segment_len,
                                          description=params.description)
        except IngestError as exc:
            return failure(request, 400, f"invalid source name: {exc.message}")
        except Conflict as exc:
            return failure(request, 409, exc.message)
        return envelope(request, source=shown(source))

    @api.get("/source")
    async def list_sources(request: Request) -> JSONResponse:
        if (refused := admin(request)) is not None:
            return refused
        return envelope(request, sources=[shown(s) for s in await sources.list()])

    @api.get("/source/{source_id}")
    async def get_source(source_id: str, request: Request) -> JSONResponse:
        if (refused := admin(request)) is not None:
            return refused
        try:
            source = await sources.get(source_id)
        except NotFound:
            return no_source(request, source_id)
        return envelope(request, source=shown(source))

    @api.delete("/source/{source_id}")
    async def delete_source(source_id: str, request: Request) -> JSONResponse:
        if (refused := admin(request)) is not None:
            return refused
        try:
            await sources.delete(source_id)
        except NotFound:
            return no_source(request, source_id)
        return envelope(request)

    @api.put("/source/{source_id}/streaming")
    async def set_streaming(source_id: str, request: Request) -> JSONResponse:
        if (refused := admin(request)) is not None:
            return refused
        state = request.query_params.get("new_state", "").lower()
        if state not in ("true", "false"):
            return failure(request, 400, "new_state must be true or false")
        try:
            await sources.set_streaming(source_id, state == "true")
        except NotFound:
            return no_source(request, source_id)
        return envelope(request)

    @api.post("/playlist", openapi_extra=raw_body(
        "application/vnd.apple.mpegurl", "application/x-mpegurl", headers={
            "Video-Source-Name": "the name of a source (POST /v1/source)",
            "MPEG-TS-URI-Prefix": "where the segments are: file://… or http(s)://…"}))
    async def new_playlist(request: Request) -> JSONResponse:
        name = request.headers.get("video-source-name", "")
        prefix = request.headers.get("mpeg-ts-uri-prefix", "")
        try:
            publisher = authorize(request)
            if not prefix:
                raise MalformedPush("request missing MPEG-TS-URI-Prefix")
            stream = await sources.stream_of(name)
            body = await read_request(request, 1 << 20, what="the playlist")
            await ingest.receive(stream, body, prefix, publisher)
        except IngestError as exc:
            status = status_of(exc)
            if not isinstance(exc.__cause__, FetchRefused):  # that one logged itself
                log.info("/v1/playlist for %r refused (%d): %s", clip(name), status,
                         clip(exc.message))
            return failure(request, status, exc.message, exc.limit)
        except StreamBusy as exc:
            return failure(request, 409, str(exc))
        return envelope(request)

    return api
