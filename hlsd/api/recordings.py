"""The native recordings API (management: admin key, or loopback without one).

``/api/streams/{stream}/recordings`` starts and lists the recordings of a stream;
``/api/recordings/{id}`` gets and deletes one, ``/api/recordings/{id}/stop`` stops it.
Times are ISO 8601 in UTC; a start may also be given as ``start_time_epoch`` (seconds).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field, StrictStr

from hlsd.api._admin import require_admin
from hlsd.api._body import read_body
from hlsd.api._bounds import Body, Epoch, Time
from hlsd.api._json import iso
from hlsd.api._openapi import ERRORS, StreamName, body
from hlsd.api.streams import TokenRequest, issue_token
from hlsd.auth.subjects import recording_subject
from hlsd.auth.tokens import TokenSigner
from hlsd.ingest.http_push import validate_stream_id
from hlsd.recording import Recorder
from hlsd.recording.errors import BadStart
from hlsd.recording.queries import Recording, RecordingQueries


class NewRecording(Body):
    """When a recording starts: now by default, else `start_time` or `start_time_epoch`
    (seconds), at most ``recording.reach_back`` in the past and a year ahead."""

    model_config = ConfigDict(extra="forbid")
    alias: StrictStr | None = Field(default=None, max_length=255)
    description: StrictStr | None = Field(default=None, max_length=4096)
    start_time_epoch: Epoch | None = None
    start_time: Time | None = None

    def start(self) -> datetime | None:
        if self.start_time_epoch is not None and self.start_time is not None:
            raise BadStart("give start_time or start_time_epoch, not both")
        if self.start_time_epoch is not None:
            return datetime.fromtimestamp(self.start_time_epoch, UTC)
        return self.start_time


def recording_json(recording: Recording, **more: Any) -> dict[str, Any]:
    return {
        "id": recording.id, "stream": recording.stream, "source_id": recording.source_id,
        "alias": recording.alias, "description": recording.description,
        "start_ts": iso(recording.start_ts), "end_ts": iso(recording.end_ts),
        "active": recording.active,
        "playlist": f"/recordings/{recording.id}/index.m3u8",
        "mp4": f"/recordings/{recording.id}.mp4",
        **more,
    }


def router(*, recorder: Recorder, recordings: RecordingQueries, signer: TokenSigner,
           admin_key: str | None) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["recordings"], responses=ERRORS)

    def admin(request: Request) -> None:
        require_admin(request, admin_key)

    @api.post("/streams/{stream}/recordings", status_code=201,
              openapi_extra=body(NewRecording, required=False))
    async def start(stream: StreamName, request: Request) -> JSONResponse:
        """Start recording `stream`, now or from a moment in the reach-back buffer."""
        admin(request)
        validate_stream_id(stream)
        body = await read_body(request, NewRecording, empty=NewRecording())
        recording = await recorder.start(stream, start_ts=body.start(), alias=body.alias,
                                         description=body.description)
        return JSONResponse(recording_json(recording), status_code=201)

    @api.get("/streams/{stream}/recordings")
    async def list_of_stream(stream: StreamName, request: Request) -> JSONResponse:
        admin(request)
        validate_stream_id(stream)
        rows = await recordings.of_stream(stream)
        return JSONResponse({"recordings": [recording_json(r) for r in rows]})

    @api.get("/recordings")
    async def list_all(request: Request) -> JSONResponse:
        admin(request)
        rows = await recordings.every()
        return JSONResponse({"recordings": [recording_json(r) for r in rows]})

    @api.get("/recordings/{recording_id}")
    async def get(recording_id: str, request: Request) -> JSONResponse:
        admin(request)
        summary = await recordings.summary(recording_id)
        return JSONResponse(recording_json(
            summary.recording, segments=summary.segments, bytes=summary.bytes,
            duration=round(summary.duration, 3)))

    @api.post("/recordings/{recording_id}/token", status_code=201,
              openapi_extra=body(TokenRequest, required=False))
    async def token(recording_id: str, request: Request) -> JSONResponse:
        """A playback token for a recording (``recording.access: token``)."""
        admin(request)
        await recordings.get(recording_id)
        return await issue_token(signer, recording_subject(recording_id), request)

    @api.post("/recordings/{recording_id}/stop")
    async def stop(recording_id: str, request: Request) -> JSONResponse:
        """Stop once every segment sent to the recording is stored."""
        admin(request)
        return JSONResponse(recording_json(await recorder.stop(recording_id)))

    @api.delete("/recordings/{recording_id}")
    async def delete(recording_id: str, request: Request) -> JSONResponse:
        """Delete the recording and its stored segments."""
        admin(request)
        return JSONResponse(recording_json(await recorder.delete(recording_id)))

    return api
