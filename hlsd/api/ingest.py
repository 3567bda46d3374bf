"""``PUT|POST|DELETE /ingest/{stream}/{path}``: HLS pushed by ffmpeg's HLS muxer;
``PUT|POST /ingest/{stream}.ts``: one continuous upload of MPEG-TS, which hlsd cuts.

The publish key comes in ``?key=`` or ``Authorization: Bearer``; with no keys
configured, only loopback publishers are let in. Bodies are read with a bound
(`infra.bounded`), so an oversized segment is refused (413) while it streams in. A
playlist is answered 201 when everything it names is in, 202 when it names segments
still to come (``awaited``).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from hlsd.api._openapi import ERROR_SCHEMA, ERRORS, JSON, raw_body
from hlsd.auth.access import bearer
from hlsd.infra.admission import answer_at_once
from hlsd.infra.bounded import read_request
from hlsd.infra.client_address import client_of
from hlsd.infra.logs import clip
from hlsd.infra.statuses import status_of
from hlsd.ingest.continuous import (
    Container,
    Publishers,
    PublishRefused,
    PublishRequest,
    SessionEnded,
)
from hlsd.ingest.errors import PublishKeyMissing
from hlsd.ingest.http_push import Accepted, HttpPushIngest, IngestError, Publisher
from hlsd.ingest.publish_keys import PublishKeys
from hlsd.streams import PublisherKind, StreamBusy

log = logging.getLogger(__name__)


class PublishAuth:
    """Who may publish over HTTP: the key in ``?key=`` or ``Authorization: Bearer``,
    checked by `PublishKeys` for the request's client."""

    def __init__(self, keys: PublishKeys) -> None:
        self._keys = keys

    def __call__(self, request: Request) -> Publisher:
        client = client_of(request.scope)
        given = request.query_params.get("key") or bearer(request.headers.get("authorization"))
        try:
            return self._keys.check(given, host=client.host, local=client.local)
        except PublishKeyMissing:
            raise PublishKeyMissing("a publish key is required (?key= or Authorization: "
                                    "Bearer)") from None


def refusal(stream: str, path: str, exc: IngestError) -> JSONResponse:
    status = status_of(exc)
    log.info("ingest %s/%s refused (%d): %s", clip(stream), clip(path), status,
             clip(exc.message))
    return JSONResponse(exc.body(), status_code=status)


_CONTINUOUS = """One continuous upload of MPEG-TS, chunked or not, such as
`ffmpeg -re -i IN -c copy -f mpegts -method PUT "http://HOST/ingest/cam.ts?key=K"`.
hlsd cuts it as it arrives, at keyframes and without a transcode, into CMAF segments
(`live.segment_duration`) and Low-Latency HLS parts (`live.part_duration`); it plays at
`/live/{stream}/index.m3u8` while it lasts, as LL-HLS for players that ask for it and as
classic HLS for the others. The stream ends when the upload does.

The publish key comes as `?key=` or `Authorization: Bearer` (the keys of HTTP push; with
none configured, loopback publishers only). A refusal is answered at once, before any
media is read: 401 without a key where one is needed, 403 for a wrong one, 409 when
another publisher holds the stream and `live.publish_policy` is `reject` (with
`takeover`, this upload takes it over), 422 for a stream id no stream may have, 429
when this node or this key publishes as many streams as it may. Otherwise the answer
comes when the upload ends: 200, or 422 with the reason when the media could not be
segmented (not MPEG-TS, an unsupported codec)."""
_CONTINUOUS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The upload ended, and all of it was taken",
          "content": {JSON: {"schema": {
              "type": "object", "required": ["stream", "ended"],
              "properties": {"stream": {"type": "string"}, "ended": {"const": True}}}}}},
    422: {"description": "A stream id no stream may have, or media that could not be "
                         "segmented (at the end of the upload)",
          "content": {JSON: {"schema": ERROR_SCHEMA}}},
}
_CONTINUOUS_STREAM = Path(description=(
    "The stream's id: 1-255 bytes, no `.` or `..`, no control or invisible "
    "format character."))
"""Described only: the publish checks it (422), as every producer's (`check_stream_name`)."""
_KEY = {"name": "key", "in": "query", "required": False, "schema": {"type": "string"},
        "description": "The publish key (or `Authorization: Bearer <key>`)."}


def answer(accepted: Accepted) -> JSONResponse:
    return JSONResponse({"committed": accepted.committed, "awaited": list(accepted.awaited)},
                        status_code=202 if accepted.awaited else 201)


async def publish_continuous(publishers: Publishers, stream: str,
                             request: Request) -> Response:
    answer_at_once(request.scope)  # a refusal must reach a live publisher at once
    client = client_of(request.scope)
    given = request.query_params.get("key") or bearer(request.headers.get("authorization"))
    try:
        session = await publishers.open(PublishRequest(
            stream=stream, key=given, host=client.host, port=0, local=client.local,
            kind=PublisherKind.HTTP_TS, container=Container.MPEGTS))
    except PublishRefused as exc:
        status = status_of(exc)
        log.info("ingest %s.ts refused (%d): %s", clip(stream), status, clip(exc.message))
        return JSONResponse({"error": exc.message}, status_code=status)
    try:
        async for chunk in request.stream():
            if chunk:
                await session.write(chunk)
    except SessionEnded as exc:
        await session.close()
        return JSONResponse({"error": str(exc)}, status_code=422)
    except ClientDisconnect:
        await session.close("the publisher disconnected")
        return Response(status_code=400)
    except BaseException:
        await session.close("the request failed")
        raise
    # The upload's end: what the segmenter found in its last bytes decides the answer.
    refused = await session.close()
    if refused is not None:
        return JSONResponse({"error": refused}, status_code=422)
    return JSONResponse({"stream": stream, "ended": True})


def router(*, ingest: HttpPushIngest, authorize: PublishAuth, max_body: int,
           continuous: Publishers | None = None) -> APIRouter:
    api = APIRouter(tags=["live"], responses=ERRORS)

    if continuous is not None:
        @api.api_route("/ingest/{stream}.ts", methods=["PUT", "POST"], status_code=200,
                       summary="Publish a live stream as one continuous MPEG-TS upload",
                       description=_CONTINUOUS, responses=_CONTINUOUS_RESPONSES,
                       openapi_extra={**raw_body("video/mp2t", "application/octet-stream"),
                                      "parameters": [_KEY]})
        async def publish(stream: Annotated[str, _CONTINUOUS_STREAM],
                          request: Request) -> Response:
            """One continuous upload of MPEG-TS (``ffmpeg -f mpegts -method PUT``), cut
            into LL-HLS segments by hlsd as it arrives; it plays at ``/live/<stream>/``
            while it lasts."""
            return await publish_continuous(continuous, stream, request)

    @api.api_route("/ingest/{stream}/{path:path}", methods=["PUT", "POST"], status_code=201,
                   openapi_extra=raw_body("application/vnd.apple.mpegurl", "video/mp2t",
                                          "application/octet-stream", required=False))
    async def push(stream: str, path: str, request: Request) -> Response:
        try:
            publisher = authorize(request)
            if path.endswith(".m3u8"):
                body = await read_request(request, max_body, what="the upload")
                accepted = await ingest.receive_playlist(stream, path, body, publisher)
            else:
                ingest.admit_upload(stream, path, publisher)
                body = await read_request(request, max_body, what="the upload")
                accepted = ingest.receive_upload(stream, path, body, publisher)
                await ingest.settled()
        except IngestError as exc:
            return refusal(stream, path, exc)
        except StreamBusy as exc:
            log.info("ingest %s/%s refused (409): %s", clip(stream), clip(path), clip(exc))
            return JSONResponse({"error": str(exc)}, status_code=409)
        except ClientDisconnect:
            # A publisher that vanished mid-upload: nothing of it was kept.
            return Response(status_code=400)
        return answer(accepted)

    @api.delete("/ingest/{stream}/{path:path}", status_code=204)
    async def delete(stream: str, path: str, request: Request) -> Response:
        try:
            authorize(request)
            ingest.delete(stream, path)
        except IngestError as exc:
            return JSONResponse(exc.body(), status_code=status_of(exc))
        return Response(status_code=204)

    return api

