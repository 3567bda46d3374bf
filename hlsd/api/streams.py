"""The native live-streams API (management: admin key, or loopback without one)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ConfigDict

from hlsd.api._admin import require_admin
from hlsd.api._body import read_body
from hlsd.api._bounds import Body, Seconds
from hlsd.api._openapi import ERRORS, StreamName, body
from hlsd.auth.subjects import live_subject
from hlsd.auth.tokens import TokenSigner
from hlsd.ingest.http_push import validate_stream_id
from hlsd.streams import Stream, StreamHub

MAX_TOKEN_TTL = 7 * 24 * 3600.0


class TokenRequest(Body):
    model_config = ConfigDict(extra="forbid")
    ttl: Annotated[float, Seconds(MAX_TOKEN_TTL)] = 3600.0
    """The token's life: a Go duration (``30m``) or seconds; default 1 h, at most 7 days."""


async def issue_token(signer: TokenSigner, subject: str, request: Request) -> JSONResponse:
    """201 ``{"token", "expires"}``: a playback token for `subject`, for the body's
    ``ttl`` (default 1 h, at most 7 days)."""
    body = await read_body(request, TokenRequest, empty=TokenRequest())
    value, expires = signer.issue_subject_token(subject, body.ttl)
    return JSONResponse({"token": value, "expires": expires}, status_code=201)


def stream_json(stream: Stream) -> dict[str, Any]:
    return {
        "name": stream.name, "state": stream.state.value,
        "publisher": stream.kind.value,
        "spectators": stream.spectators,
        "playlist": f"/live/{quote(stream.name, safe='')}/index.m3u8",
        "variants": [{"name": name, "segments": len(r.segments),
                      "media_sequence": r.media_sequence,
                      "target_duration": r.target_duration,
                      "bandwidth": r.info.bandwidth or r.peak_bandwidth(),
                      "resolution": "x".join(map(str, r.info.resolution))
                      if r.info.resolution else None}
                     for name, r in sorted(stream.renditions.items())],
    }


def router(*, signer: TokenSigner, hub: StreamHub, admin_key: str | None) -> APIRouter:
    api = APIRouter(prefix="/api/streams", tags=["live"], responses=ERRORS)

    @api.get("")
    async def list_streams(request: Request) -> JSONResponse:
        """The live streams of this node (published here or relayed), with their
        variants and websocket spectators. ``publisher`` says what feeds each: ``http``
        (push), ``livemix`` (``/v1/playlist``), ``websocket`` (PUSH), ``relay`` (from
        another node) or ``channel`` (a channel fed to websocket spectators or a
        recording)."""
        require_admin(request, admin_key)
        return JSONResponse({"streams": [stream_json(s) for s in
                                         sorted(hub, key=lambda s: s.name)]})

    @api.post("/{stream}/token", status_code=201,
              openapi_extra=body(TokenRequest, required=False))
    async def token(stream: StreamName, request: Request) -> JSONResponse:
        """A playback token for a token-gated live stream (``live.access: token``)."""
        require_admin(request, admin_key)
        validate_stream_id(stream)
        return await issue_token(signer, live_subject(stream), request)

    return api
