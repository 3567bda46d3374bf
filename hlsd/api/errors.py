"""Every error a client sees is JSON ``{"error": "..."}`` with a fitting status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from hlsd.assets.service import AssetError
from hlsd.auth.access import Refused
from hlsd.channels import ChannelError
from hlsd.db import NotFound
from hlsd.ingest.http_push import IngestError
from hlsd.recording import RecordingError
from hlsd.vod.errors import InsufficientStorage, SourceError
from hlsd.vod.streams import StreamGone, UnknownStream

log = logging.getLogger(__name__)


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    async def source_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SourceError)
        level = logging.WARNING if exc.status >= 500 or isinstance(
            exc, InsufficientStorage) else logging.INFO
        log.log(level, "%s %s -> %d: %s", request.method, request.url.path, exc.status,
                exc.message)
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
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return error(422, "; ".join(parts) or "malformed request")

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code,
                            headers=exc.headers)

    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error(500, "internal error")

    async def ingest_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, IngestError)
        return JSONResponse(exc.body(), status_code=exc.status)

    async def status_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RecordingError | ChannelError | AssetError)
        return error(exc.status, exc.message)

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return error(404, str(exc))

    app.add_exception_handler(RecordingError, status_error)
    app.add_exception_handler(ChannelError, status_error)
    app.add_exception_handler(AssetError, status_error)
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(SourceError, source_error)
    app.add_exception_handler(IngestError, ingest_error)
    app.add_exception_handler(Refused, refused)
    app.add_exception_handler(StreamGone, gone)
    app.add_exception_handler(UnknownStream, unknown)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, crashed)
