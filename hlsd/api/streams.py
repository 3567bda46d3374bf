"""The native live-streams API (management: admin key, or loopback without one).

``GET /api/streams`` lists this node's streams, ``GET /api/streams/{stream}`` gives one
with what a page watching it needs (each variant's measured segment bitrates);
``POST /api/streams/{stream}/token`` mints a live playback token.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ConfigDict

from hlsd.api._admin import require_admin
from hlsd.api._body import read_body
from hlsd.api._bounds import Body, Seconds
from hlsd.api._json import iso
from hlsd.api._openapi import ERRORS, StreamName, body
from hlsd.auth.subjects import live_subject
from hlsd.auth.tokens import TokenSigner
from hlsd.config import PlaybackAccess
from hlsd.errors import NotFound
from hlsd.ingest.http_push import validate_stream_id
from hlsd.streams import Stream, StreamHub, check_stream_name
from hlsd.streams.rendition import LiveRendition

MAX_TOKEN_TTL = 7 * 24 * 3600.0
PLAYED_RECENTLY = 10.0
"""Seconds within which an HTTP player's playlist request counts as someone watching
(players reload a live playlist at least every target duration)."""


class TokenRequest(Body):
    model_config = ConfigDict(extra="forbid")
    ttl: Annotated[float, Seconds(MAX_TOKEN_TTL)] = 3600.0
    """The token's life: a Go duration (``30m``) or seconds; default 1 h, at most 7 days."""


async def issue_token(signer: TokenSigner, subject: str, request: Request,
                      **more: Any) -> JSONResponse:
    """201 ``{"token", "expires", **more}``: a playback token for `subject`, for the
    body's ``ttl`` (default 1 h, at most 7 days)."""
    body = await read_body(request, TokenRequest, empty=TokenRequest())
    value, expires = signer.issue_subject_token(subject, body.ttl)
    return JSONResponse({"token": value, "expires": expires, **more}, status_code=201)


def stream_json(stream: Stream, *, access: PlaybackAccess = PlaybackAccess.PUBLIC,
                detail: bool = False) -> dict[str, Any]:
    """A stream as the API reports it. `detail` adds each variant's ``segment_rates``:
    the measured bitrate of every segment in its live window (what a bitrate graph
    plots), which a listing of every stream leaves out."""
    offered = {name for name, _ in stream.current()}
    return {
        "name": stream.name, "state": stream.state.value,
        "publisher": stream.kind.value,
        "spectators": stream.spectators,
        # Who else reads it: spectators, relays to other nodes and recordings.
        "readers": stream.readers,
        # Low-Latency HLS requests held at this moment (blocking reloads, hinted
        # parts): about one per LL-HLS player.
        "held_requests": stream.waiting,
        # HTTP players hold no connection; a playlist request is all there is to count.
        "played_recently": stream.played_within(PLAYED_RECENTLY),
        "parts": any(r.part_target is not None for r in stream.renditions.values()),
        "access": access.value,
        "playlist": f"/live/{quote(stream.name, safe='')}/index.m3u8",
        "variants": [_variant_json(name, r, name in offered, detail)
                     for name, r in sorted(stream.renditions.items())],
    }


def _variant_json(name: str, r: LiveRendition, offered: bool,
                  detail: bool) -> dict[str, Any]:
    variant: dict[str, Any] = {
        "name": name, "segments": len(r.segments),
        # False: no segments yet, or an earlier encoding the publisher no longer feeds
        # (`Stream.current`), which the master playlist leaves out.
        "offered": offered,
        "media_sequence": r.media_sequence,
        "target_duration": r.target_duration,
        "part_target": r.part_target,
        "bandwidth": r.info.bandwidth or r.peak_bandwidth(),
        "resolution": "x".join(map(str, r.info.resolution)) if r.info.resolution else None,
    }
    if detail:
        variant["segment_rates"] = [
            {"sequence": s.sequence, "at": iso(s.program_date_time),
             "bitrate": round(s.bitrate)}
            for s in r.segments if s.duration > 0]
    return variant


def router(*, signer: TokenSigner, hub: StreamHub, admin_key: str | None,
           access: PlaybackAccess = PlaybackAccess.PUBLIC) -> APIRouter:
    api = APIRouter(prefix="/api/streams", tags=["live"], responses=ERRORS)

    @api.get("")
    async def list_streams(request: Request) -> JSONResponse:
        """The live streams of this node (published here or relayed), with their
        variants and websocket spectators. ``publisher`` says what feeds each: ``http``
        (push), ``livemix`` (``/v1/playlist``), ``websocket`` (PUSH), ``relay`` (from
        another node) or ``channel`` (a channel fed to websocket spectators or a
        recording)."""
        require_admin(request, admin_key)
        return JSONResponse({"streams": [stream_json(s, access=access) for s in
                                         sorted(hub, key=lambda s: s.name)]})

    @api.get("/{stream}")
    async def one_stream(stream: StreamName, request: Request) -> JSONResponse:
        """One stream of this node, as in the list, with each variant's
        ``segment_rates`` (``sequence``, ``at``: its PROGRAM-DATE-TIME, ``bitrate``: its
        bits per second as measured) for the segments of its live window. A stream
        whose publisher stopped is ``"state": "ended"`` until the node forgets it
        (``live.retention``); 404 when this node has no stream of that name (it may be
        a channel, or live on another node). Also: ``parts`` (LL-HLS),
        ``access`` (``live.access``: ``token`` means players need a token from
        ``POST /api/streams/{stream}/token``), ``readers``, ``held_requests`` and
        ``played_recently`` (an HTTP player asked for a playlist in the last 10 s)."""
        require_admin(request, admin_key)
        found = hub.get(check_stream_name(stream))
        if found is None:
            raise NotFound(f"no stream named {stream!r} is on air on this node")
        return JSONResponse(stream_json(found, access=access, detail=True))

    @api.post("/{stream}/token", status_code=201,
              openapi_extra=body(TokenRequest, required=False))
    async def token(stream: StreamName, request: Request) -> JSONResponse:
        """A playback token for a token-gated live stream (``live.access: token``).
        ``access`` in the answer says whether this node's live playback needs it:
        ``public`` means players play without one."""
        require_admin(request, admin_key)
        validate_stream_id(stream)
        return await issue_token(signer, live_subject(stream), request,
                                 access=access.value)

    return api
