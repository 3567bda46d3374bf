"""``PUT|POST|DELETE /ingest/{stream}/{path}``: HLS pushed by ffmpeg's HLS muxer.

The publish key comes in ``?key=`` or ``Authorization: Bearer``; with no keys
configured, only loopback publishers are let in. Bodies are read with a bound
(`infra.bounded`), so an oversized segment is refused (413) while it streams in. A
playlist is answered 201 when everything it names is in, 202 when it names segments
still to come (``awaited``).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from hlsd.api._openapi import ERRORS, raw_body
from hlsd.auth.access import bearer
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


def answer(accepted: Accepted) -> JSONResponse:
    return JSONResponse({"committed": accepted.committed, "awaited": list(accepted.awaited)},
                        status_code=202 if accepted.awaited else 201)


async def publish_continuous(publishers: Publishers, stream: str,
                             request: Request) -> Response:
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
                       openapi_extra=raw_body("video/mp2t", "application/octet-stream"))
        async def publish(stream: str, request: Request) -> Response:
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

