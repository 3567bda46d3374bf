"""CORS, the one implementation for the whole app: the playback paths ask `Cors.simple`
for the headers of their answer; `Cors.around` wraps the framework (the JSON APIs,
docs, uploads) and answers every preflight, the playback paths' included.

With ``cors.allow_origins: ["*"]``, an answer to a request that names an origin
carries ``Access-Control-Allow-Origin: *`` and the exposed headers; others carry
nothing (two headers on every answer cost a server like granian about 3% of a
playlist's answer). With a list, an origin on it is echoed, and every answer says
``Vary: Origin``, since it depends on the origin.

The header tuples are made once here; a playback answer adds them without allocating.
Preflights are answered as Starlette's ``CORSMiddleware`` answers them (200 ``OK``, or
400 ``Disallowed CORS …`` naming what is not allowed).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hlsd.delivery.resource import Header

__all__ = ["Cors"]

_SAFELISTED = ("Accept", "Accept-Language", "Content-Language", "Content-Type")
_VARY = (b"vary", b"origin")
_PREFLIGHT_VARY = (b"vary", b"Origin, Access-Control-Request-Method, "
                            b"Access-Control-Request-Headers, "
                            b"Access-Control-Request-Private-Network")
_TEXT = (b"content-type", b"text/plain; charset=utf-8")


class Cors:
    def __init__(self, origins: Iterable[str], *, methods: Iterable[str],
                 request_headers: Iterable[str], exposed: Iterable[str],
                 max_age: int) -> None:
        listed = tuple(origins)
        self._any = "*" in listed
        expose = (b"access-control-expose-headers", ", ".join(exposed).encode("latin-1"))
        self._anyone: tuple[Header, ...] = ((b"access-control-allow-origin", b"*"), expose)
        self._unlisted: tuple[Header, ...] = () if self._any else (_VARY,)
        self._listed: dict[bytes, tuple[Header, ...]] = {} if self._any else {
            origin.encode("latin-1"): ((b"access-control-allow-origin",
                                        origin.encode("latin-1")), expose, _VARY)
            for origin in listed}
        self._methods = frozenset(methods)
        allowed = sorted({*_SAFELISTED, *request_headers})
        self._request_headers = frozenset(h.lower() for h in allowed)
        self._preflight: tuple[Header, ...] = (
            _PREFLIGHT_VARY,
            *(((b"access-control-allow-origin", b"*"),) if self._any else ()),
            (b"access-control-allow-methods", ", ".join(methods).encode("latin-1")),
            (b"access-control-max-age", str(max_age).encode()),
            (b"access-control-allow-headers", ", ".join(allowed).encode("latin-1")))

    def simple(self, origin: bytes | None) -> tuple[Header, ...]:
        """The headers an answer to a request from `origin` carries (a GET, a POST…)."""
        if origin is None:
            return self._unlisted
        if self._any:
            return self._anyone
        return self._listed.get(origin, self._unlisted)

    def around(self, app: ASGIApp) -> ASGIApp:
        """`app` with preflights answered and CORS headers on its answers."""
        return _CorsMiddleware(app, self)

    def preflight(self, origin: bytes, method: bytes, requested: bytes | None,
                  private_network: bool) -> tuple[int, list[Header], bytes]:
        """The answer to an ``OPTIONS`` preflight: status, headers, body."""
        headers = list(self._preflight)
        failures = []
        if self._any:
            pass  # "*" is among the preflight headers already
        elif origin in self._listed:
            headers.append((b"access-control-allow-origin", origin))
        else:
            failures.append("origin")
        if method.decode("latin-1") not in self._methods:
            failures.append("method")
        if requested is not None and any(
                name.strip() not in self._request_headers
                for name in requested.decode("latin-1").lower().split(",")):
            failures.append("headers")
        if private_network:
            failures.append("private-network")
        if failures:
            return 400, headers, ("Disallowed CORS " + ", ".join(failures)).encode()
        return 200, headers, b"OK"


class _CorsMiddleware:
    def __init__(self, app: ASGIApp, cors: Cors) -> None:
        self.app = app
        self._cors = cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = method = requested = None
        private_network = False
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value if origin is None else origin
            elif name == b"access-control-request-method":
                method = value
            elif name == b"access-control-request-headers":
                requested = value
            elif name == b"access-control-request-private-network":
                private_network = True
        if origin is not None and method is not None and scope["method"] == "OPTIONS":
            status, headers, body = self._cors.preflight(origin, method, requested,
                                                         private_network)
            headers += (_TEXT, (b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        extra = self._cors.simple(origin)
        if not extra:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_cors)
