"""Service endpoints: ``/api/health`` (liveness, and the state of each backend),
``/api/ready`` (readiness, for load balancers) and ``/metrics``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from hlsd import __version__
from hlsd.api._admin import require_admin
from hlsd.api._openapi import ERRORS
from hlsd.infra.backends import Backends, BackendState
from hlsd.metrics import Metrics


def health_report(backends: Backends, parts: Mapping[str, Callable[[], object]]
                  ) -> dict[str, object]:
    """What ``GET /api/health`` answers (the console's overview shows it too)."""
    states = {b.state for b in backends.all}
    status = ("degraded" if BackendState.DOWN in states
              else "ok" if states <= {BackendState.UP} else "starting")
    return {
        "status": status, "version": __version__,
        "backends": {b.name: {"state": b.state.value,
                              "since": datetime.fromtimestamp(b.since, UTC).isoformat()}
                     for b in backends.all},
        **{name: part() for name, part in parts.items()}}


def router(*, metrics: Metrics, admin_key: str | None, backends: Backends,
           parts: Mapping[str, Callable[[], object]] | None = None) -> APIRouter:
    """`parts`: more parts of ``/api/health`` by name (an edge's ``edge``: its link)."""
    more = dict(parts or {})

    api = APIRouter(tags=["service"], responses=ERRORS)

    @api.get("/api/health")
    async def health() -> JSONResponse:
        """Always 200 while the process serves. ``status`` is ``ok`` when every backend
        answers, ``degraded`` when one is down (``backends`` says which: everything
        that does not need it is still served), ``starting`` before the first answers.
        On an edge, ``edge`` is its link to the control: ``control``, ``state``
        (``connected``, ``connecting``, ``disconnected``), ``since``, and its cache.
        """
        return JSONResponse(health_report(backends, more))

    @api.get("/api/ready")
    async def ready() -> JSONResponse:
        """200 once every backend answers; 503 (with the ones it waits for) until then,
        so a load balancer sends nothing here that would be refused."""
        waiting = [b.name for b in backends.all if b.state is not BackendState.UP]
        if waiting:
            return JSONResponse({"ready": False, "waiting_for": waiting}, status_code=503,
                                headers={"retry-after": "5"})
        return JSONResponse({"ready": True})

    @api.get("/metrics", response_class=Response, responses={200: {
        "description": "Prometheus text exposition (caches, fetches, segment builds, "
                       "websocket fan-out, backends, ...)",
        "content": {"text/plain": {"schema": {"type": "string"}}}}})
    async def prometheus(request: Request) -> Response:
        """This node's metrics for Prometheus. Management: the admin key as a bearer
        token (with none set, loopback clients only)."""
        require_admin(request, admin_key)
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return api
