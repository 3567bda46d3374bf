"""Routes the playback hot paths to their plain ASGI handlers before the framework.

Everything else (the JSON APIs, docs, CORS preflights, lifespan) goes to the FastAPI app.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class FastPaths:
    def __init__(self, framework: ASGIApp, routes: list[tuple[str, ASGIApp]]) -> None:
        self.framework = framework
        self._routes = tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path: str = scope["path"]
            for prefix, handler in self._routes:
                if path.startswith(prefix):
                    await handler(scope, receive, send)
                    return
        await self.framework(scope, receive, send)
