"""Routes the playback hot paths to their plain ASGI handlers before the framework.

Everything else (the JSON APIs, docs, CORS preflights, lifespan) goes to the FastAPI app.
A hot path that fails because a backend is down (a recording's rows, an asset's
objects) answers 503, as the framework's routes do.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from hlsd.api._asgi import respond_error
from hlsd.api.errors import RETRY_AFTER
from hlsd.infra.backends import Backends


class FastPaths:
    def __init__(self, framework: ASGIApp, routes: list[tuple[str, ASGIApp]], *,
                 backends: Backends) -> None:
        self.framework = framework
        self._routes = tuple(routes)
        self._backends = backends

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path: str = scope["path"]
            for prefix, handler in self._routes:
                if path.startswith(prefix):
                    await self._serve(handler, scope, receive, send)
                    return
        await self.framework(scope, receive, send)

    async def _serve(self, handler: ASGIApp, scope: Scope, receive: Receive,
                     send: Send) -> None:
        try:
            await handler(scope, receive, send)
        except Exception as exc:
            outage = self._backends.classify(exc)
            if outage is None:
                raise
            try:
                await respond_error(send, 503, str(outage),
                                    [(b"retry-after", RETRY_AFTER.encode())])
            except Exception:  # the response had begun: the connection is cut instead
                raise exc from None
