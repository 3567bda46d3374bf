"""The Go-HLS-Streamer token API, exactly as the seed speaks it.

``POST /api/token``, ``POST /api/batch``, ``POST /api/unlock``; every error is JSON
``{"error": ...}``: 401 for a bad handshake, 422 for a malformed body.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from hlsd._units import parse_duration
from hlsd.api._body import read_body
from hlsd.auth.access import check_handshake
from hlsd.infra.client_address import client_of
from hlsd.metrics import Metrics
from hlsd.vod.streams import OnDemandStreams


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")
    handshake: StrictStr | None = None


class TokenRequest(_Body):
    qid: StrictStr


class UnlockRequest(_Body):
    rid: StrictStr = Field(max_length=4096)


class BatchRequest(_Body):
    qids: list[StrictStr] = Field(min_length=1)
    expiry: StrictStr | int | float | None = None

    @field_validator("expiry")
    @classmethod
    def _duration(cls, value: str | int | float | None) -> str | int | float | None:
        if value is not None:
            parse_duration(value, bare_unit=1.0)
        return value


def router(*, streams: OnDemandStreams, handshake: str | None, default_expiry: float,
           max_batch: int, max_expiry: float, metrics: Metrics) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["gostreamer"])

    @api.post("/token", status_code=201)
    async def token(request: Request) -> JSONResponse:
        body = await read_body(request, TokenRequest)
        check_handshake(body.handshake, handshake, local=client_of(request.scope).local)
        issued = await streams.issue(body.qid)
        metrics.tokens_issued.labels("token").inc()
        return JSONResponse({"token": issued.token, "rid": issued.rid}, status_code=201)

    @api.post("/batch", status_code=201)
    async def batch(request: Request) -> JSONResponse:
        body = await read_body(request, BatchRequest)
        check_handshake(body.handshake, handshake, local=client_of(request.scope).local)
        if len(body.qids) > max_batch:
            return JSONResponse({"error": f"at most {max_batch} qids per batch"},
                                status_code=422)
        expiry = default_expiry if body.expiry is None else parse_duration(
            body.expiry, bare_unit=1.0)
        if expiry > max_expiry:
            return JSONResponse({"error": f"expiry may be at most {int(max_expiry)}s"},
                                status_code=422)
        result = await streams.issue_batch(body.qids, expiry)
        out: list[dict[str, object]] = []
        for item in result.items:
            if item.rid is not None:
                out.append({"rid": item.rid, "qid": item.qid})
            else:
                out.append({"qid": item.qid, "error": item.error, "status": item.status})
        metrics.tokens_issued.labels("batch").inc(sum(1 for i in result.items if i.rid))
        return JSONResponse({"batchid": result.batch_id, "expires": result.expires_at,
                             "streams": out}, status_code=201)

    @api.post("/unlock", status_code=201)
    async def unlock(request: Request) -> JSONResponse:
        body = await read_body(request, UnlockRequest)
        check_handshake(body.handshake, handshake, local=client_of(request.scope).local)
        token = streams.unlock(body.rid)
        metrics.tokens_issued.labels("unlock").inc()
        return JSONResponse({"token": token}, status_code=201)

    return api
