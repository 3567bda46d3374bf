"""Every error a client sees is JSON ``{"error": "..."}`` with a fitting status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from hlsd.api._body import describe
from hlsd.api._envelope import PREFIX as LIVEMIX_PREFIX
from hlsd.api._envelope import failure
from hlsd.assets.service import AssetError
from hlsd.auth.access import Refused
from hlsd.channels import ChannelError
from hlsd.db import NotFound
from hlsd.infra.backends import Backends, BackendUnavailable
from hlsd.infra.logs import clip
from hlsd.ingest.http_push import IngestError
from hlsd.recording import RecordingError
from hlsd.streams import InvalidStreamName
from hlsd.vod.errors import InsufficientStorage, SourceError
from hlsd.vod.streams import StreamGone, UnknownStream

log = logging.getLogger(__name__)

RETRY_AFTER = "5"
"""Seconds a client is told to wait when a backend is down."""


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


def install_error_handlers(app: FastAPI, backends: Backends) -> None:
    async def source_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SourceError)
        level = logging.WARNING if exc.status >= 500 or isinstance(
            exc, InsufficientStorage) else logging.INFO
        log.log(level, "%s %s -> %d: %s", request.method, clip(request.url.path),
                exc.status, clip(exc.message))
        return error(exc.status, exc.message)

    async def refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Refused)
        status = exc.status
        return error(status, str(exc))

    async def gone(request: Request, exc: Exception) -> JSONResponse:
        return error(410, str(exc))

    async def unknown(request: Request, exc: Exception) -> JSONResponse:
        return error(404, str(exc))

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

    async def ingest_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, IngestError)
        return JSONResponse(exc.body(), status_code=exc.status)

    async def status_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RecordingError | ChannelError | AssetError)
        return error(exc.status, exc.message)

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return error(404, str(exc))

    async def went_away(request: Request, exc: Exception) -> JSONResponse:
        # The client left mid-body (or its body timed out): no one reads the answer,
        # and it is no server error to log.
        return error(400, "the request body ended early")

    async def bad_name(request: Request, exc: Exception) -> JSONResponse:
        return error(400, str(exc))

    app.add_exception_handler(InvalidStreamName, bad_name)
    app.add_exception_handler(RecordingError, status_error)
    app.add_exception_handler(ChannelError, status_error)
    app.add_exception_handler(AssetError, status_error)
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(ClientDisconnect, went_away)
    app.add_exception_handler(SourceError, source_error)
    app.add_exception_handler(IngestError, ingest_error)
    app.add_exception_handler(Refused, refused)
    app.add_exception_handler(StreamGone, gone)
    app.add_exception_handler(UnknownStream, unknown)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(BackendUnavailable, backend_down)
    app.add_exception_handler(Exception, crashed)
