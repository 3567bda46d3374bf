"""``PUT|POST|DELETE /ingest/{stream}/{path}``: HLS pushed by ffmpeg's HLS muxer.

The publish key comes in ``?key=`` or ``Authorization: Bearer``; with no keys
configured, only loopback publishers are let in. Bodies are read with a bound
(`infra.bounded`), so an oversized segment is refused (413) while it streams in. A
playlist is answered 201 when everything it names is in, 202 when it names segments
still to come (``awaited``).
"""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from hlsd.api._openapi import ERRORS, raw_body
from hlsd.auth.access import bearer
from hlsd.auth.keys import fingerprint
from hlsd.infra.bounded import read_request
from hlsd.infra.client_address import client_of
from hlsd.infra.logs import clip
from hlsd.infra.statuses import status_of
from hlsd.ingest.errors import PublishKeyMissing, PushForbidden
from hlsd.ingest.http_push import Accepted, HttpPushIngest, IngestError, Publisher
from hlsd.streams import StreamBusy

log = logging.getLogger(__name__)


class PublishAuth:
    """Who may publish: a configured key (``?key=`` or Bearer), or with none configured,
    loopback clients only. Returns the publisher: the client's address and its key's
    fingerprint (keyed with `secret`), never any part of the key itself."""

    def __init__(self, keys: tuple[str, ...], *, secret: bytes) -> None:
        self._keys = keys
        self._secret = secret

    def __call__(self, request: Request) -> Publisher:
        client = client_of(request.scope)
        host = client.host
        given = request.query_params.get("key") or bearer(request.headers.get("authorization"))
        if not self._keys:
            if client.local:
                return Publisher(identity=host)
            raise PushForbidden("no publish keys are configured, so only loopback "
                                "publishers may push; set live.publish_keys")
        if given is None:
            raise PublishKeyMissing("a publish key is required (?key= or Authorization: "
                                    "Bearer)")
        if not any(hmac.compare_digest(given.encode(), k.encode()) for k in self._keys):
            raise PushForbidden("wrong publish key")
        key = fingerprint(self._secret, given)
        return Publisher(identity=f"{host}:{key}", key=key)


def refusal(stream: str, path: str, exc: IngestError) -> JSONResponse:
    status = status_of(exc)
    log.info("ingest %s/%s refused (%d): %s", clip(stream), clip(path), status,
             clip(exc.message))
    return JSONResponse(exc.body(), status_code=status)


def answer(accepted: Accepted) -> JSONResponse:
    return JSONResponse({"committed": accepted.committed, "awaited": list(accepted.awaited)},
                        status_code=202 if accepted.awaited else 201)


def router(*, ingest: HttpPushIngest, authorize: PublishAuth, max_body: int) -> APIRouter:
    api = APIRouter(tags=["live"], responses=ERRORS)

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

