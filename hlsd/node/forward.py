"""Requests only the leader worker may answer, handed to it by the others.

Ingest that comes as separate requests (HTTP push's segment and playlist uploads,
LiveMix's ``/v1/…``) keeps its state for a stream between requests, and recordings
are made by the leader's recorder: a worker that takes such a request reads it whole
(within `max_body`), sends it over the leader's socket with the client this node
decided on (`infra.client_address`), and sends back what the leader answered. Every
other request, and every request on the leader, goes straight on. A continuous upload
(``PUT /ingest/<stream>.ts``) and a websocket stay on the worker that took them: the
worker publishes them itself (`hlsd.node.ops`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hlsd.infra.asgi import respond_error
from hlsd.infra.client_address import Client, client_of, set_client
from hlsd.node._frames import Header
from hlsd.node.siblings import LeaderUnreachable, Siblings

__all__ = ["ToLeader", "for_leader"]

log = logging.getLogger(__name__)

_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_CONTINUOUS = re.compile(r"/ingest/[^/]+\.ts")
_RECORDINGS = re.compile(r"/api/(recordings/|streams/.+/recordings$)")


def for_leader(method: str, path: str) -> bool:
    """Whether a request changes what only the leader holds."""
    if method in _READS:
        return False
    if path.startswith("/ingest/"):
        return _CONTINUOUS.fullmatch(path) is None
    return path.startswith("/v1/") or _RECORDINGS.match(path) is not None


class ToLeader:
    """ASGI middleware (inside the admission layers, which the taking worker applies)."""

    def __init__(self, app: ASGIApp, *, siblings: Siblings | None, leader: bool,
                 max_body: int) -> None:
        self.app = app
        self._siblings = None if leader else siblings
        self._max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (self._siblings is None or scope["type"] != "http"
                or not for_leader(scope["method"], scope["path"])):
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_body(receive, self._max_body)
        except _ClientGone:
            return
        if body is None:
            await respond_error(send, 413, f"the body is larger than {self._max_body} bytes",
                                [(b"connection", b"close")])
            return
        try:
            answer, data = await self._siblings.ask_leader(_describe(scope), body)
        except LeaderUnreachable:
            await respond_error(send, 503, "the node's leader worker is starting; send "
                                "this again", [(b"retry-after", b"1")])
            return
        await send({"type": "http.response.start", "status": int(answer["status"]),
                    "headers": [(k.encode("latin-1"), v.encode("latin-1"))
                                for k, v in answer["headers"]]})
        await send({"type": "http.response.body", "body": data})

    async def answer(self, header: Header, body: bytes) -> tuple[Header, bytes]:
        """On the leader: a request another worker took, run as if taken here."""
        scope = _scope(header)
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client stays: the other worker holds it
            raise AssertionError("unreachable")

        status, headers, chunks = 500, [], []

        async def send(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k.decode("latin-1"), v.decode("latin-1"))
                           for k, v in message.get("headers", ())]
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))

        try:
            await self.app(scope, receive, send)
        except Exception:  # the framework answered 500 already, then raised it again
            log.exception("a request handed over by another worker failed")
            if not chunks:
                status, headers = 500, [("content-type", "application/json")]
                chunks.append(b'{"error": "internal error"}')
        return {"status": status, "headers": headers}, b"".join(chunks)


class _ClientGone(Exception):
    """The client left before its body was whole: nothing to answer."""


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None past `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _describe(scope: Scope) -> Header:
    client = client_of(scope)
    peer = scope.get("client")
    server = scope.get("server")
    return {
        "method": scope["method"], "path": scope["path"],
        "raw_path": (scope.get("raw_path") or scope["path"].encode()).decode("latin-1"),
        "query": scope.get("query_string", b"").decode("latin-1"),
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
        "scheme": scope.get("scheme", "http"), "http_version": scope.get("http_version", "1.1"),
        "client": list(peer) if peer else None, "server": list(server) if server else None,
        "root_path": scope.get("root_path", ""),
        "decided": [client.host, client.local],
    }


def _scope(header: Header) -> Scope:
    client, server = header["client"], header["server"]
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": header["http_version"],
        "method": header["method"], "scheme": header["scheme"], "path": header["path"],
        "raw_path": header["raw_path"].encode("latin-1"),
        "query_string": header["query"].encode("latin-1"),
        "root_path": header["root_path"],
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in header["headers"]],
        "client": (client[0], client[1]) if client else None,
        "server": (server[0], server[1]) if server else None,
        "extensions": {}, "state": {},
    }
    host, local = header["decided"]
    set_client(scope, Client(str(host), bool(local)))
    return scope
