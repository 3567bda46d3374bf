"""The browser side: the dashboard at ``/``, the websocket client module (an npm-style
package folder in ``hlsd/web/client``), the spectate page that uses it, and hls.js.

hls.js is third-party and never in the repository: it is served from a ``node_modules``
folder installed at set-up time (``npm ci``). Nothing is ever fetched from another host:
without that folder the pages say how to install it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from hlsd.api._openapi import ERRORS

WEB = Path(__file__).resolve().parent.parent / "web"
CLIENT_FILES = {"hlsd-ws-client.js": "text/javascript", "package.json": "application/json",
                "README.md": "text/markdown"}
HLS_JS_MISSING = ("hls.js is not installed next to hlsd: run `npm ci` in the hlsd folder "
                  "(it installs the version package-lock.json pins into node_modules/)")


def find_hls_js(*roots: Path) -> Path | None:
    for root in roots:
        candidate = root / "node_modules" / "hls.js" / "dist" / "hls.min.js"
        if candidate.is_file():
            return candidate
    return None


def router(*, ws_path: str, hls_js: Path | None) -> APIRouter:
    api = APIRouter(tags=["web"], responses=ERRORS)
    dashboard = (WEB / "dashboard.html").read_text(encoding="utf-8")
    page = (WEB / "spectate.html").read_text(encoding="utf-8").replace(
        "<body>", f'<body data-ws-path="{ws_path}">', 1)

    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home() -> HTMLResponse:
        """The dashboard: this node's live streams, to watch over HLS or the websocket."""
        return HTMLResponse(dashboard)

    @api.get("/web/spectate", response_class=HTMLResponse)
    async def spectate() -> HTMLResponse:
        """Watch a websocket stream (``?stream=…&token=…&delay=…``)."""
        return HTMLResponse(page)

    @api.get("/web/client/{name}")
    async def client(name: str) -> Response:
        media_type = CLIENT_FILES.get(name)
        if media_type is None:
            return Response('{"error": "no such file"}', status_code=404,
                            media_type="application/json")
        return FileResponse(WEB / "client" / name, media_type=media_type,
                            headers={"cache-control": "no-cache"})

    @api.get("/web/vendor/hls.min.js", response_class=Response, responses={
        200: {"content": {"text/javascript": {}}, "description": "hls.js"},
        503: {"description": "hls.js is not installed (`npm ci`)"}})
    async def hls() -> Response:
        if hls_js is None:
            return JSONResponse({"error": HLS_JS_MISSING}, status_code=503)
        return FileResponse(hls_js, media_type="text/javascript",
                            headers={"cache-control": "public, max-age=86400"})

    return api
