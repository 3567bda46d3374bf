"""Every error a client sees is JSON ``{"error": "..."}`` with a fitting status (LiveMix's
envelope under ``/v1/``).

Domain errors carry a kind (`hlsd.errors`), never a status: `infra.statuses.STATUS` is
the one table from kinds to statuses, used by the app's handlers, by the playback paths
(`delivery/`) and by the per-item statuses of ``/api/batch``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from hlsd import errors
from hlsd.api._body import describe
from hlsd.api._envelope import PREFIX as LIVEMIX_PREFIX
from hlsd.api._envelope import failure
from hlsd.infra.backends import Backends, BackendUnavailable
from hlsd.infra.logs import clip
from hlsd.infra.statuses import RETRY_AFTER, status_of
from hlsd.streams import InvalidStreamName
from hlsd.vod.errors import InsufficientStorage, SourceError

log = logging.getLogger(__name__)

def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def unavailable(request: Request, exc: BackendUnavailable) -> JSONResponse:
    """503, in LiveMix's envelope on its routes."""
    if request.url.path.startswith(LIVEMIX_PREFIX):
        response = failure(request, 503, str(exc))
    else:
        response = JSONResponse({"error": str(exc)}, status_code=503)
    response.headers["retry-after"] = RETRY_AFTER
    return response


def refusal(request: Request, exc: errors.DomainError) -> JSONResponse:
    """A domain error's answer: its kind's status, its message, and the setting whose
    bound refused it, if one did; in LiveMix's envelope on its routes."""
    status = status_of(exc)
    if request.url.path.startswith(LIVEMIX_PREFIX):
        return failure(request, status, exc.message, exc.limit)
    body = {"error": exc.message}
    if exc.limit is not None:
        body["limit"] = exc.limit
    return JSONResponse(body, status_code=status)


def install_error_handlers(app: FastAPI, backends: Backends) -> None:
    async def domain_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, errors.DomainError)
        if isinstance(exc, SourceError):
            status = status_of(exc)
            level = logging.WARNING if status >= 500 or isinstance(
                exc, InsufficientStorage) else logging.INFO
            log.log(level, "%s %s -> %d: %s", request.method, clip(request.url.path),
                    status, clip(exc.message))
        return refusal(request, exc)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error(422, describe(exc.errors()))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code,
                            headers=exc.headers)

    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        outage = backends.classify(exc)
        if outage is not None:
            return unavailable(request, outage)
        log.exception("%s %s failed", request.method, clip(request.url.path), exc_info=exc)
        return error(500, "internal error")

    async def backend_down(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, BackendUnavailable)
        return unavailable(request, exc)

    async def went_away(request: Request, exc: Exception) -> JSONResponse:
        # The client left mid-body (or its body timed out): no one reads the answer,
        # and it is no server error to log.
        return error(400, "the request body ended early")

    async def bad_name(request: Request, exc: Exception) -> JSONResponse:
        return error(400, str(exc))

    app.add_exception_handler(InvalidStreamName, bad_name)
    app.add_exception_handler(errors.DomainError, domain_error)
    app.add_exception_handler(ClientDisconnect, went_away)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(BackendUnavailable, backend_down)
    app.add_exception_handler(Exception, crashed)
