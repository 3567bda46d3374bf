"""Routes the playback hot paths to their plain ASGI handlers before the framework.

Everything else (the JSON APIs, docs, CORS preflights, lifespan) goes to the FastAPI app.
A hot path that fails because a backend is down (a recording's rows, an asset's
objects) answers 503, as the framework's routes do.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await handler(scope, receive, sending)
        except Exception as exc:
            outage = self._backends.classify(exc)
            if outage is None or started:
                raise
            body = json.dumps({"error": str(outage)}).encode()
            await send({"type": "http.response.start", "status": 503, "headers": [
                (b"content-type", b"application/json"), (b"retry-after", RETRY_AFTER.encode()),
                (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
