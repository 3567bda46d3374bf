"""The browser side besides the console (``api/console.py``): the websocket client module
(an npm-style package folder in ``hlsd/web/client``), the script every page shares
(``/web/pages.js``: saying on the page why a stream cannot play), the third-party files
under ``/web/vendor/`` (hls.js, tus-js-client, Swagger UI; `hlsd.frontend`) and
``/docs`` (Swagger UI over ``/openapi.json``).

Nothing is ever loaded from another host. A third-party file missing from the
installation is a 503 whose reason says how to get it, and the pages show that reason.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from hlsd import frontend
from hlsd.api._openapi import ERROR_SCHEMA, ERRORS, JSON

WEB = Path(__file__).resolve().parent.parent / "web"
CLIENT_FILES = {"hlsd-ws-client.js": "text/javascript", "package.json": "application/json",
                "README.md": "text/markdown"}
VENDOR_URL = "/web/vendor/"
Vendor = dict[str, Path | None]
"""Each of `frontend.ASSETS` by name: where it is, or None when it is missing."""


def locate_vendor() -> Vendor:
    """Where this installation has each third-party file (`frontend.locate`)."""
    return {asset.name: frontend.locate(asset) for asset in frontend.ASSETS}


_VENDOR_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "the file",
          "content": {kind: {"schema": {"type": "string", "format": "binary"}}
                      for kind in sorted({a.media_type for a in frontend.ASSETS})}},
    404: {"description": "no such file", "content": {JSON: {"schema": ERROR_SCHEMA}}},
    503: {"description": "the file is not part of this installation; `error` says how to "
                         "get it", "content": {JSON: {"schema": ERROR_SCHEMA}}},
}
VendorName = Annotated[str, PathParam(
    description="one of the third-party files the package carries",
    json_schema_extra={"enum": [a.name for a in frontend.ASSETS]})]


def router(*, vendor: Vendor) -> APIRouter:
    api = APIRouter(tags=["web"], responses=ERRORS)

    @api.get("/web/pages.js", include_in_schema=False)
    async def pages() -> FileResponse:
        return FileResponse(WEB / "pages.js", media_type="text/javascript",
                            headers={"cache-control": "no-cache"})

    @api.get("/web/client/{name}")
    async def client(name: str) -> Response:
        media_type = CLIENT_FILES.get(name)
        if media_type is None:
            return JSONResponse({"error": "no such file"}, status_code=404)
        return FileResponse(WEB / "client" / name, media_type=media_type,
                            headers={"cache-control": "no-cache"})

    @api.get(VENDOR_URL + "{name}", response_class=Response, responses=_VENDOR_RESPONSES)
    async def vendored(name: VendorName) -> Response:
        """hls.js and Swagger UI (and their licences), as the package carries them."""
        asset = frontend.by_name(name)
        if asset is None:
            return JSONResponse({"error": "no such file"}, status_code=404)
        path = vendor.get(name)
        if path is None:
            return JSONResponse({"error": frontend.missing_reason(asset)}, status_code=503,
                                headers={"cache-control": "no-store"})
        return FileResponse(path, media_type=asset.media_type,
                            headers={"cache-control": "public, max-age=86400"})

    return api


def docs_router(*, title: str, openapi_url: str, vendor: Vendor) -> APIRouter:
    """``/docs``: Swagger UI from the package's own copy. Without it, a page that says
    what is missing (503), and where the API description is."""
    api = APIRouter()
    needed = [a for a in frontend.ASSETS if a.name in _SWAGGER_FILES]
    missing = [a for a in needed if vendor.get(a.name) is None]

    @api.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        if missing:
            return HTMLResponse(_missing_page(title, missing[0], openapi_url), status_code=503,
                                headers={"cache-control": "no-store"})
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{title} - Swagger UI",
            swagger_js_url=VENDOR_URL + "swagger-ui-bundle.js",
            swagger_css_url=VENDOR_URL + "swagger-ui.css",
            swagger_favicon_url=VENDOR_URL + "swagger-ui-favicon.png",
            # No badge from the online validator: nothing leaves this host.
            swagger_ui_parameters={"validatorUrl": None})

    return api


_SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-favicon.png")


def _missing_page(title: str, asset: frontend.Asset, openapi_url: str) -> str:
    reason = html.escape(frontend.missing_reason(asset))
    url = html.escape(openapi_url)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} - API</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 2rem; max-width: 50rem; }}
#message {{ color: #a00; }}</style></head>
<body><h1>{html.escape(title)} API</h1>
<p id="message" role="alert">The API browser cannot be shown: {reason}</p>
<p>The API description itself is at <a href="{url}">{url}</a>.</p>
</body></html>
"""
