"""`Playback`: the app in front of the framework. A GET or HEAD under a mounted prefix
(``/hls/``, ``/live/``, ``/vod/``, …) goes to that prefix's resolver and is answered by
the `Responder`; everything else (the JSON APIs, docs, preflights, websockets, the
lifespan) goes to the framework, behind the one `Cors`.

The mounts are a tuple of prefixes tried in order, not Starlette's ``Router`` of
``Mount`` routes: matching a ``Mount`` (a regex, a child scope) costs 6 µs for the
first route and 23 µs for a miss, more than the whole playback request otherwise
costs (about 10 µs), and these paths are the server's hottest.

A resolver answers a `Resource` or a `Redirect`, or raises `Refused`; a resolver that
fails because a backend is down (a recording's rows, an asset's objects) is answered
503 with Retry-After, as the framework's routes are; any other failure is logged and
answered 500. Every answer, errors included, carries the CORS headers, so a player's
page can read why it was refused.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import NamedTuple

from starlette.types import ASGIApp, Receive, Scope, Send

from hlsd.delivery.cors import Cors
from hlsd.delivery.gate import TokenPlaylists
from hlsd.delivery.request import Request
from hlsd.delivery.resource import Header, Redirect, Refused, Resource
from hlsd.delivery.respond import Responder
from hlsd.infra.asgi import respond_error
from hlsd.infra.backends import Backends
from hlsd.infra.cache import Caches
from hlsd.infra.logs import clip
from hlsd.infra.statuses import RETRY_AFTER

__all__ = ["Mount", "Playback", "Resolver"]

log = logging.getLogger(__name__)

Resolver = Callable[[Request], Awaitable[Resource | Redirect]]
_RETRY_AFTER = (b"retry-after", RETRY_AFTER.encode())
"""As the framework's routes answer a backend's outage."""


class Mount(NamedTuple):
    prefix: str
    """A path prefix ending in ``/``."""
    resolver: Resolver


class Playback:
    def __init__(self, framework: ASGIApp, *, mounts: Iterable[Mount], cors: Cors,
                 backends: Backends, caches: Caches | None = None) -> None:
        """`caches`: where the playlists made with query tokens are reported."""
        self._framework = cors.around(framework)
        self._mounts = tuple(mounts)
        self._cors = cors
        self._responder = Responder(TokenPlaylists(caches=caches))
        self._backends = backends

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path: str = scope["path"]
            for prefix, resolver in self._mounts:
                if not path.startswith(prefix):
                    continue
                request = Request(scope, prefix)
                cors = self._cors.simple(request.headers.get(b"origin"))
                try:
                    answer = await resolver(request)
                except Refused as refused:
                    await respond_error(send, refused.status, refused.message,
                                        [*refused.headers, *cors])
                    return
                except Exception as exc:
                    await self._failed(request, exc, cors, send)
                    return
                await self._responder.send(request, answer, cors, receive, send)
                return
        await self._framework(scope, receive, send)

    async def _failed(self, request: Request, exc: Exception, cors: tuple[Header, ...],
                      send: Send) -> None:
        outage = self._backends.classify(exc)
        if outage is None:
            log.exception("GET %s failed", clip(request.scope["path"]))
            await respond_error(send, 500, "internal error", list(cors))
        else:
            await respond_error(send, 503, str(outage), [_RETRY_AFTER, *cors])
