"""The service endpoints (`/api/health`, `/api/ready`, `/metrics`), the console (`/`,
`/ui/…`), the spectate page and the front-end files (`/web/…`) and the API docs
(`/docs`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from hlsd.api import console, service, web
from hlsd.features.common import Common
from hlsd.features.feature import Feature

__all__ = ["build"]


def build(common: Common, *, title: str, openapi_url: str,
          health: Mapping[str, Callable[[], object]] | None = None) -> Feature:
    """`health`: more parts of ``/api/health`` (the edge's link), each asked per request."""
    vendor = web.locate_vendor()
    ws_path = common.settings.websocket.path
    return Feature(name="service", routers=[
        service.router(metrics=common.metrics, admin_key=common.admin_key,
                       backends=common.backends, parts=health),
        web.router(vendor=vendor),
        console.router(admin_key=common.admin_key, ws_path=ws_path),
        web.docs_router(title=title, openapi_url=openapi_url, vendor=vendor)])
