"""The Go-HLS-Streamer token API, exactly as the seed speaks it.

``POST /api/token``, ``POST /api/batch``, ``POST /api/unlock``; every error is JSON
``{"error": ...}``: 401 for a bad handshake, 422 for a malformed body.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field, StrictStr

from hlsd.api._body import read_body
from hlsd.api._bounds import Body, Seconds
from hlsd.api._openapi import ERRORS, body
from hlsd.auth.access import check_handshake
from hlsd.infra.client_address import client_of
from hlsd.infra.statuses import status_of
from hlsd.metrics import Metrics
from hlsd.vod.streams import OnDemandStreams

MAX_BATCH = 1000
"""Ids in one batch."""
MAX_EXPIRY = 24 * 3600.0
"""The longest life a client may ask for, on ``/api/token`` and ``/api/batch``."""

Qid = Annotated[StrictStr, Field(max_length=1024)]
Expiry = Annotated[float, Seconds(MAX_EXPIRY)]


class _Body(Body):
    model_config = ConfigDict(extra="ignore")
    handshake: StrictStr | None = Field(default=None, max_length=1024)


class TokenRequest(_Body):
    qid: Qid
    expiry: Expiry | None = None
    """hlsd's: the life of the stream and its token, as for ``/api/batch`` (default
    ``cache.expiry``)."""


class UnlockRequest(_Body):
    rid: StrictStr = Field(max_length=4096)


class BatchRequest(_Body):
    qids: list[Qid] = Field(min_length=1, max_length=MAX_BATCH)
    expiry: Expiry | None = None


def router(*, streams: OnDemandStreams, handshake: str | None, default_expiry: float,
           metrics: Metrics) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["gostreamer"], responses=ERRORS)

    @api.post("/token", status_code=201, openapi_extra=body(TokenRequest, form=True))
    async def token(request: Request) -> JSONResponse:
        body = await read_body(request, TokenRequest)
        check_handshake(body.handshake, handshake, local=client_of(request.scope).local)
        issued = await streams.issue(body.qid, body.expiry)
        metrics.tokens_issued.labels("token").inc()
        return JSONResponse({"token": issued.token, "rid": issued.rid}, status_code=201)

    @api.post("/batch", status_code=201, openapi_extra=body(BatchRequest, form=True))
    async def batch(request: Request) -> JSONResponse:
        body = await read_body(request, BatchRequest)
        check_handshake(body.handshake, handshake, local=client_of(request.scope).local)
        expiry = default_expiry if body.expiry is None else body.expiry
        result = await streams.issue_batch(body.qids, expiry)
        out: list[dict[str, object]] = []
        for item in result.items:
            if item.error is None:
                out.append({"rid": item.rid, "qid": item.qid})
            else:
                out.append({"qid": item.qid, "error": item.error.message,
                            "status": status_of(item.error)})
        metrics.tokens_issued.labels("batch").inc(sum(1 for i in result.items if i.rid))
        return JSONResponse({"batchid": result.batch_id, "expires": result.expires_at,
                             "streams": out}, status_code=201)

    @api.post("/unlock", status_code=201, openapi_extra=body(UnlockRequest, form=True))
    async def unlock(request: Request) -> JSONResponse:
        body = await read_body(request, UnlockRequest)
        check_handshake(body.handshake, handshake, local=client_of(request.scope).local)
        token = streams.unlock(body.rid)
        metrics.tokens_issued.labels("unlock").inc()
        return JSONResponse({"token": token}, status_code=201)

    return api
