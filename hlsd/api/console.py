"""The operator's console: one HTML shell per page (``/``, ``/ui/…``, and the public
spectate page ``/web/spectate``), each running its module from
``hlsd/web/console/pages/``, and the console's own files at ``/ui/static/``.

The pages carry no data: each fetches it from the management API with the admin key the
sign-in form keeps for the browser session. With no admin key configured the pages
answer loopback clients only, as the management API does; a page for anyone else says
how to set a key.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path, PurePosixPath

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from hlsd.infra.client_address import client_of

CONSOLE = Path(__file__).resolve().parent.parent / "web" / "console"
_TYPES = {".js": "text/javascript", ".css": "text/css"}

PAGES: tuple[tuple[str, str, str], ...] = (
    # (route, page module, title; "{arg}" is the page's argument)
    ("/", "overview", "Overview"),
    ("/ui/streams/{arg}", "stream", "Stream {arg}"),
    ("/ui/channels", "channels", "Channels"),
    ("/ui/channels/{arg}", "channel", "Channel {arg}"),
    ("/ui/assets", "assets", "Assets"),
    ("/ui/assets/{arg}", "asset", "Asset {arg}"),
    ("/ui/recordings", "recordings", "Recordings"),
    ("/ui/recordings/{arg}", "recording", "Recording {arg}"),
    ("/ui/sources", "sources", "Sources"),
)
_MAX_ARG = 255
"""A page's argument (a stream name, an id) past this is no page's."""


@functools.cache
def _template() -> str:
    return (CONSOLE / "shell.html").read_text(encoding="utf-8")


def shell(page: str, title: str, arg: str = "", *,
          data: dict[str, str] | None = None) -> str:
    """The HTML of one console page (`page` names its module; none for a static one);
    `data`: more ``data-*`` attributes of its body."""
    template = _template()
    if not page:
        template = template.replace(
            '<script type="module" src="/ui/static/pages/{page}.js"></script>\n', "")
    return (template.replace("{title}", html.escape(title))
            .replace("{page}", html.escape(page, quote=True))
            .replace("{arg}", html.escape(arg, quote=True))
            .replace("{attrs}", "".join(f' data-{name}="{html.escape(value, quote=True)}"'
                                        for name, value in (data or {}).items())))


def _static(title: str, text: str) -> str:
    """A page with no module: `text` in its alert."""
    return shell("", title).replace(
        '<div id="content"></div>',
        f'<div id="content"><p class="alert" role="alert">{html.escape(text)}</p></div>')


def _refused() -> str:
    return _static("Sign-in needed", "The console answers clients on this host only "
                   "until an admin key is set (admin_key in the config, or "
                   "HLSD_ADMIN_KEY); then it asks for that key.")


def router(*, admin_key: str | None, ws_path: str) -> APIRouter:
    api = APIRouter()
    refused = _refused()
    not_found = _static("Not found", "No such page.")
    spectate_page = shell("spectate", "Spectate", data={"ws-path": ws_path})

    def allowed(request: Request) -> bool:
        return admin_key is not None or client_of(request.scope).local

    def add_page(route: str, page: str, title: str) -> None:
        async def answer(request: Request, arg: str = "") -> HTMLResponse:
            if not allowed(request):
                return HTMLResponse(refused, status_code=403)
            if len(arg) > _MAX_ARG:
                return HTMLResponse(not_found, status_code=404)
            return HTMLResponse(shell(page, title.replace("{arg}", arg), arg),
                                headers={"cache-control": "no-cache"})

        api.add_api_route(route, answer, methods=["GET"], response_class=HTMLResponse,
                          name=f"console-{page}", include_in_schema=False)

    for route, page, title in PAGES:
        add_page(route, page, title)

    @api.get("/web/spectate", response_class=HTMLResponse, tags=["web"])
    async def spectate() -> HTMLResponse:
        """Watch a websocket stream (``?stream=…&token=…&delay=…``). Public, as playback
        is: spectators are not operators."""
        return HTMLResponse(spectate_page, headers={"cache-control": "no-cache"})

    @api.get("/ui/static/{path:path}", include_in_schema=False)
    async def static(path: str) -> Response:
        """The console's own scripts and style sheet (third-party files are under
        ``/web/vendor/``)."""
        parts = PurePosixPath(path).parts
        media_type = _TYPES.get(PurePosixPath(path).suffix)
        target = CONSOLE.joinpath(*parts) if parts else CONSOLE
        if (media_type is None or any(p in ("..", ".") or p.startswith(".") for p in parts)
                or not target.is_file()):
            return JSONResponse({"error": "no such file"}, status_code=404)
        return FileResponse(target, media_type=media_type, headers={"cache-control": "no-cache"})

    return api
