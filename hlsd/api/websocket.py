"""The websocket CDN endpoint (``websocket.path``, ``/ws`` by default)."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from hlsd.wscdn.server import WebsocketCdn


def router(*, cdn: WebsocketCdn, path: str) -> APIRouter:
    api = APIRouter(tags=["websocket"])

    @api.websocket(path)
    async def endpoint(ws: WebSocket) -> None:
        """PUSH and PULL of the hls-websocket-cdn protocol."""
        await cdn.serve(ws)

    return api
