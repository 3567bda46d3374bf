"""The websocket CDN endpoint (``websocket.path``, ``/ws`` by default).

OpenAPI has no websockets, so the endpoint is documented as what it is on the wire: a
GET that upgrades (101), with the protocol in its description and in ``x-websocket``.
A plain GET without the upgrade gets 426 and a reason, rather than a bare 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse, Response

from hlsd.api._openapi import ERROR_SCHEMA, JSON
from hlsd.wscdn.server import WebsocketCdn

PROTOCOL: dict[str, Any] = {
    "protocol": "hls-websocket-cdn",
    "messages": {
        "text": "TYPE[:urlencoded params], at most 1600 bytes",
        "client": {
            "PUSH:stream=<id>&auth=<jwt>": "publish a stream (JWT sub PUSH:<id>)",
            "PULL:stream=<id>&auth=<jwt>[&only_source=true][&max_initial_fragments=N]":
                "watch a stream (JWT sub PULL:<id>)",
            "F:duration=<seconds>": "a publisher's fragment: one binary frame of MPEG-TS "
                                    "follows",
            "H": "heartbeat",
            "CLOSE": "the publisher ends the stream",
        },
        "server": {
            "OK": "accepted",
            "F:duration=<seconds>": "a fragment for a spectator: one binary frame of "
                                    "MPEG-TS follows",
            "E:code=<code>&message=<text>": "an error (AUTH_ERROR, RELAY_LOOP, ...)",
            "H": "heartbeat, every 30 s",
            "CLOSE": "the stream ended, or there is no such stream",
        },
    },
}
_DESCRIPTION = """The hls-websocket-cdn protocol: connect with `Upgrade: websocket`.

Text messages are `TYPE[:urlencoded params]`. A publisher sends
`PUSH:stream=<id>&auth=<jwt>`, then `F:duration=<seconds>` each followed by one binary
frame of MPEG-TS, and `CLOSE`. A spectator sends
`PULL:stream=<id>&auth=<jwt>[&only_source=true][&max_initial_fragments=N]` and gets
`OK`, the last buffered fragments, then live ones (`F:duration=…` + a binary frame), and
`CLOSE` when the stream ends (or at once when there is none). Errors are
`E:code=…&message=…`; both sides send `H` heartbeats. Tokens are HS256 JWTs with `sub`
`PUSH:<id>` or `PULL:<id>` (`websocket.push_secret`, `websocket.pull_secret`).
Stream ids are at most 255 characters and may contain `/`."""


def router(*, cdn: WebsocketCdn, path: str) -> APIRouter:
    api = APIRouter(tags=["websocket"])

    @api.websocket(path)
    async def endpoint(ws: WebSocket) -> None:
        """PUSH and PULL of the hls-websocket-cdn protocol."""
        await cdn.serve(ws)

    @api.get(path, summary="The websocket CDN (PUSH and PULL)", description=_DESCRIPTION,
             response_class=Response, status_code=101, responses={
                 101: {"description": "Switching Protocols: the websocket is open"},
                 426: {"description": "Upgrade Required: a plain HTTP request, not a "
                                      "websocket handshake",
                       "content": {JSON: {"schema": ERROR_SCHEMA}}}},
             openapi_extra={"x-websocket": PROTOCOL})
    async def upgrade_required() -> Response:
        return JSONResponse(
            {"error": f"{path} is a websocket endpoint (the hls-websocket-cdn protocol): "
                      "connect with Upgrade: websocket"},
            status_code=426, headers={"upgrade": "websocket"})

    return api
