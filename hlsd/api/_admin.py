"""The management rule (`auth.access.check_admin`) applied to a request."""

from __future__ import annotations

from starlette.requests import Request

from hlsd.auth.access import check_admin
from hlsd.infra.client_address import client_of


def require_admin(request: Request, admin_key: str | None) -> None:
    """Raise `Refused` unless the request carries the admin key (or, with none set,
    comes from this host)."""
    check_admin(request.headers.get("authorization"), admin_key,
                local=client_of(request.scope).local)
