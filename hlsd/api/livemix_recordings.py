"""LiveMix's recording API, with its paths, JSON fields and envelope.

A recording of a source records the hlsd stream of the source's name. Fields follow
LiveMix (``source``, ``start_ts``, ``end_ts``, ``active`` as 1/-1); segments are listed
as LiveMix's ``{id, name, start, end, length, uri, source}``, where ``uri`` is where
hlsd replays the segment.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field, StrictInt, StrictStr

from hlsd.api._body import describe, parse_model
from hlsd.api._bounds import MAX_EPOCH, Body
from hlsd.api._envelope import envelope, failure
from hlsd.api._json import iso
from hlsd.api._openapi import LIVEMIX_ERRORS, body
from hlsd.api.livemix import admin_refusal
from hlsd.errors import Invalid, NotFound
from hlsd.infra.bounded import read_request
from hlsd.infra.statuses import status_of
from hlsd.ingest.livemix_json import recording_json
from hlsd.ingest.livemix_sources import LiveMixSources
from hlsd.recording import Recorder, RecordingError
from hlsd.recording.queries import RecordedSegment, Recording, RecordingQueries

PLAYBACK = "/v1/vod/recording/"


class StartRecording(Body):
    model_config = ConfigDict(extra="ignore")
    alias: StrictStr | None = Field(default=None, max_length=255)
    description: StrictStr | None = Field(default=None, max_length=4096)
    start_time_epoch: StrictInt | None = Field(default=None, ge=0, le=MAX_EPOCH)
    """0 or absent: now (Go's omitempty zero)."""


def segment_json(recording: Recording, segment: RecordedSegment, folder: str) -> dict[str, Any]:
    name = segment.object_key.rsplit("/", 1)[-1]
    uri = f"{PLAYBACK}{recording.id}/{folder}/{name}" if folder else \
        f"{PLAYBACK}{recording.id}/{name}"
    return {
        "id": f"{recording.id}/{segment.variant}/{segment.sequence}" if segment.variant
        else f"{recording.id}/{segment.sequence}",
        "name": name, "start": iso(segment.program_date_time),
        "end": iso(segment.program_date_time + timedelta(seconds=segment.duration)),
        "length": segment.duration, "uri": uri, "source": recording.source_id,
        "created_at": iso(segment.committed_at), "updated_at": iso(segment.committed_at),
    }


def router(*, recorder: Recorder, recordings: RecordingQueries, sources: LiveMixSources,
           admin_key: str | None) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["livemix"], responses=LIVEMIX_ERRORS)

    def admin(request: Request) -> JSONResponse | None:
        return admin_refusal(request, admin_key)

    def no_recording(request: Request, recording_id: str) -> JSONResponse:
        return failure(request, 404, f"recording session {recording_id} not found")

    @api.post("/source/{source_id}/recording",
              openapi_extra=body(StartRecording, required=False))
    async def start(source_id: str, request: Request) -> JSONResponse:
        if (refused := admin(request)) is not None:
            return refused
        try:
            raw = await read_request(request, 1 << 16)
            params = parse_model(raw, StartRecording) if raw.strip() else StartRecording()
            source = await sources.get(source_id)
            start_ts = datetime.fromtimestamp(params.start_time_epoch, UTC) \
                if params.start_time_epoch else None
            # A source an edge reports is recorded by that edge (reaching back into its
            # cache), through the link; any other from the hub.
            recording = await recorder.start(
                source.name, start_ts=start_ts, source_id=source.id, alias=params.alias,
                description=params.description, edge=source.rr_target is not None)
            sources.changed()
        except RequestValidationError as exc:
            return failure(request, 400, "invalid recording session parameters: "
                                         f"{describe(exc.errors())}")
        except RecordingError as exc:
            if isinstance(exc, Invalid):  # a start out of bounds: LiveMix's bad parameters
                return failure(request, 400, f"invalid recording session parameters: "
                                             f"{exc.message}")
            return failure(request, status_of(exc), exc.message)
        except NotFound:
            return failure(request, 404, f"video source {source_id} not found")
        return envelope(request, recording=recording_json(recording))

    @api.get("/source/{source_id}/recording")
    async def of_source(source_id: str, request: Request) -> JSONResponse:
        if (refused := admin(request)) is not None:
            return refused
        try:
            rows = await recordings.of_source(source_id)
        except NotFound:
            return failure(request, 404, f"video source {source_id} not found")
        if request.query_params.get("only_active"):
            rows = [r for r in rows if r.active]
        return envelope(request, recordings=[recording_json(r) for r in rows])

    @api.get("/recording")
    async def every(request: Request) -> JSONResponse:
        if (refused := admin(request)) is not None:
            return refused
        rows = await recordings.every()
        return envelope(request, recordings=[recording_json(r) for r in rows])

    @api.get("/recording/{recording_id}")
    async def one(recording_id: str, request: Request) -> JSONResponse:
        if (refused := admin(request)) is not None:
            return refused
        try:
            recording = await recordings.get(recording_id)
        except NotFound:
            return no_recording(request, recording_id)
        return envelope(request, recording=recording_json(recording))

    @api.get("/recording/{recording_id}/segment")
    async def segments(recording_id: str, request: Request) -> JSONResponse:
        if (refused := admin(request)) is not None:
            return refused
        try:
            listed = await recordings.segments(recording_id)
        except NotFound:
            return no_recording(request, recording_id)
        return envelope(request, segments=[
            segment_json(listed.recording, s, listed.folders.get(s.variant, ""))
            for s in listed.segments])

    @api.post("/recording/{recording_id}/stop")
    async def stop(recording_id: str, request: Request) -> JSONResponse:
        if (refused := admin(request)) is not None:
            return refused
        try:
            await recorder.stop(recording_id)
        except NotFound:
            return no_recording(request, recording_id)
        sources.changed()
        return envelope(request)

    @api.delete("/recording/{recording_id}")
    async def delete(recording_id: str, request: Request) -> JSONResponse:
        if (refused := admin(request)) is not None:
            return refused
        try:
            await recorder.delete(recording_id)
        except NotFound:
            return no_recording(request, recording_id)
        return envelope(request)

    return api
