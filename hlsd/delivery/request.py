"""A playback request as the resolvers and the responder read it: its path after the
mount's prefix, the few headers playback looks at (read in one pass over the headers),
where its token came from, and what a token gate decided."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.types import Scope

from hlsd.auth.access import bearer

__all__ = ["TOKEN_HEADER", "Request"]

TOKEN_HEADER = b"x-gostreamer-token"
_WANTED = frozenset({TOKEN_HEADER, b"authorization", b"if-none-match", b"if-range",
                     b"range", b"origin", b"user-agent"})


class Request:
    __slots__ = ("head", "headers", "prefix", "private", "query_token", "rest", "scope")

    def __init__(self, scope: Scope, prefix: str) -> None:
        self.scope = scope
        self.prefix = prefix
        self.rest: str = scope["path"][len(prefix):]
        """The path after the mount's prefix, percent-decoded."""
        self.head = scope["method"] == "HEAD"
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in _WANTED and name not in headers:
                headers[name] = value
        self.headers = headers
        """The first value of each header playback reads (names in lower case)."""
        self.private = False
        """A token gate admitted the request: its answer must keep out of shared caches."""
        self.query_token: str | None = None
        """The token that admitted the request, when it came as ``?token=``: the
        playlists answered carry it in their URIs (a native player sends no headers)."""

    def raw_rest(self) -> str:
        """The path after the prefix as sent, still percent-encoded (a part may hold an
        encoded ``/``)."""
        raw = self.scope.get("raw_path")
        return raw.decode("latin-1")[len(self.prefix):] if raw else self.rest

    def query(self, name: str) -> str | None:
        query: bytes = self.scope["query_string"]
        if not query:
            return None
        values = parse_qs(query.decode("latin-1")).get(name)
        return values[0] if values else None

    def token(self) -> tuple[str | None, bool]:
        """The playback token (``x-gostreamer-token``, ``Authorization: Bearer`` or
        ``?token=``) and whether it came in the query string."""
        given = self.headers.get(TOKEN_HEADER)
        if given:
            return given.decode("latin-1"), False
        auth = self.headers.get(b"authorization")
        if auth and (value := bearer(auth.decode("latin-1"))):
            return value, False
        in_query = self.query("token")
        return (in_query, True) if in_query else (None, False)

    def admit(self, query_token: str | None) -> None:
        """A gate let this request in (with the token from the query, if it came so)."""
        self.private = True
        self.query_token = query_token
