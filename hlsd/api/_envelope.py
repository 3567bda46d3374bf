"""LiveMix's response envelope: ``{"success", "request_id", …}`` on every ``/v1`` answer,
errors included (``error: {"code", "message"}``)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

PREFIX = "/v1/"
"""Every LiveMix route is under it."""


def envelope(request: Request, status: int = 200, **body: Any) -> JSONResponse:
    request_id = request.headers.get("x-request-id") or str(uuid.uuid4())
    return JSONResponse({"success": status < 400, "request_id": request_id, **body},
                        status_code=status, headers={"x-request-id": request_id})


def failure(request: Request, status: int, message: str,
            limit: str | None = None) -> JSONResponse:
    error: dict[str, Any] = {"code": status, "message": message}
    if limit is not None:
        error["limit"] = limit  # the setting whose bound refused the request
    return envelope(request, status, error=error)
