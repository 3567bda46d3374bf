"""Service endpoints: ``/api/health`` and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from hlsd import __version__
from hlsd.api._admin import require_admin
from hlsd.api._openapi import ERRORS
from hlsd.metrics import Metrics


def router(*, metrics: Metrics, admin_key: str | None) -> APIRouter:
    api = APIRouter(tags=["service"], responses=ERRORS)

    @api.get("/api/health")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    @api.get("/metrics", include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        require_admin(request, admin_key)
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return api
