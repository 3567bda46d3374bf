"""The edge link endpoint, ``/v1/edge`` (``docs/EDGE.md``): edges dial the control here.

Documented as what it is on the wire, as ``/ws`` is: a GET that upgrades (101), with the
protocol in ``x-websocket``; a plain GET gets 426 and a reason.
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse, Response

from hlsd.api._openapi import ERROR_SCHEMA, JSON
from hlsd.cluster import edge_protocol as wire
from hlsd.cluster.control import EdgeControl

_DESCRIPTION = f"""The edge ↔ control link, version {wire.VERSION} (docs/EDGE.md): an edge
node connects with `Upgrade: websocket`, the subprotocol `{wire.SUBPROTOCOL}` and
`Authorization: Bearer <edge key>` (`livemix.edge_keys`); a missing or unknown key, or
another subprotocol, is refused with 403 before the upgrade. Text frames are LiveMix's
IPC messages (`hello` first); binary frames carry segments."""


def router(*, control: EdgeControl) -> APIRouter:
    api = APIRouter(tags=["livemix"])

    @api.websocket(wire.PATH)
    async def endpoint(ws: WebSocket) -> None:
        """An edge's link."""
        await control.serve(ws)

    @api.get(wire.PATH, summary="The edge link (edge nodes dial in)",
             description=_DESCRIPTION, response_class=Response, status_code=101,
             responses={
                 101: {"description": "Switching Protocols: the link is open"},
                 403: {"description": "Forbidden: no or a wrong edge key, another "
                                      "subprotocol, or too many edges"},
                 426: {"description": "Upgrade Required: a plain HTTP request",
                       "content": {JSON: {"schema": ERROR_SCHEMA}}}},
             openapi_extra={"x-websocket": {"protocol": wire.SUBPROTOCOL,
                                            "specification": "docs/EDGE.md"}})
    async def upgrade_required() -> Response:
        return JSONResponse(
            {"error": f"{wire.PATH} is a websocket endpoint (the edge link, "
                      f"{wire.SUBPROTOCOL}): connect with Upgrade: websocket"},
            status_code=426, headers={"upgrade": "websocket"})

    return api
