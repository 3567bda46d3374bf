"""``/api/assets``: upload → transcode → ABR VOD (management: admin key, or loopback
without one).

``POST /api/assets`` makes an asset from an upload to come (``{"size"}``: it answers
with a tus upload URL under ``/api/uploads``; ``PUT /api/assets/{id}/content`` sends a
small file in one request), a URL (``{"url"}``) or a library file (``{"library"}``).
``GET`` shows its state and progress; ``/cancel``, ``/retry`` and ``DELETE`` act on it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field, StrictInt, StrictStr, model_validator

from hlsd.api._admin import require_admin
from hlsd.api._body import read_body
from hlsd.api._bounds import Body
from hlsd.api._json import iso
from hlsd.api._openapi import ERRORS, body, raw_body
from hlsd.api.streams import TokenRequest, issue_token
from hlsd.assets.service import AssetRow, AssetService
from hlsd.assets.state import AssetState
from hlsd.assets.subtitles import MAX_BYTES as MAX_SUBTITLE_BYTES
from hlsd.auth.subjects import asset_subject
from hlsd.auth.tokens import TokenSigner
from hlsd.infra.bounded import read_request

UPLOADS = "/api/uploads"


MAX_LISTED = 1000
"""Assets in one page of the listing."""


class NewAsset(Body):
    model_config = ConfigDict(extra="forbid")
    title: StrictStr | None = Field(default=None, max_length=255)
    size: StrictInt | None = Field(default=None, ge=0, le=(1 << 63) - 1)
    """For an upload: its length in bytes, if known (at most ``assets.max_upload``)."""
    url: StrictStr | None = Field(default=None, max_length=4096)
    library: StrictStr | None = Field(default=None, max_length=1024)
    access: Literal["public", "token"] | None = None
    """Default: ``assets.access``."""

    @model_validator(mode="after")
    def _one_source(self) -> NewAsset:
        if self.url is not None and self.library is not None:
            raise ValueError("give a url, a library path, or neither (an upload)")
        return self


def asset_json(asset: AssetRow, *, progress: float | None = None) -> dict[str, Any]:
    """`progress` is the live figure of a run under way in this process, fresher than the
    one stored."""
    state = AssetState(asset.state)
    body: dict[str, Any] = {
        "id": asset.id, "title": asset.title, "state": asset.state,
        "progress": round(100 * (progress if progress is not None else asset.progress), 1),
        "reason": asset.reason,
        "source": {"kind": asset.source_kind, "ref": asset.source_ref},
        "size": asset.size, "duration": asset.duration, "access": asset.access,
        "created": iso(asset.created_at), "updated": iso(asset.updated_at),
    }
    if state is AssetState.CREATED and asset.upload_id is not None:
        body["upload"] = {"protocol": "tus", "url": f"{UPLOADS}/{asset.upload_id}",
                          "content": f"/api/assets/{asset.id}/content"}
    details = json.loads(asset.details or "{}")
    body["subtitles"] = [{"language": lang, "name": name}
                         for lang, name in sorted(details.get("subtitles", {}).items())]
    if state is AssetState.READY:
        body["rungs"] = details.get("rungs", [])
        body["playback"] = {
            "hls": f"/vod/{asset.id}/index.m3u8", "dash": f"/vod/{asset.id}/manifest.mpd",
            "play": f"/play/{asset.id}",
            **({"poster": f"/vod/{asset.id}/poster.jpg",
                "thumbnails": f"/vod/{asset.id}/thumbs.vtt"}
               if details.get("thumbnails") else {})}
    return body


def router(*, service: AssetService, admin_key: str | None,
           live_progress: dict[str, float], signer: TokenSigner,
           default_access: str) -> APIRouter:
    api = APIRouter(prefix="/api/assets", tags=["assets"], responses=ERRORS)

    def admin(request: Request) -> None:
        require_admin(request, admin_key)

    def answer(asset: AssetRow, status: int = 200) -> JSONResponse:
        return JSONResponse(asset_json(asset, progress=live_progress.get(asset.id)),
                            status_code=status)

    @api.post("", status_code=201, openapi_extra=body(NewAsset, required=False))
    async def create(request: Request) -> JSONResponse:
        admin(request)
        body = await read_body(request, NewAsset, empty=NewAsset())
        access = body.access or default_access
        if body.url is not None:
            asset = await service.create_from_url(url=body.url, title=body.title,
                                                  access=access)
        elif body.library is not None:
            asset = await service.create_from_library(path=body.library, title=body.title,
                                                      access=access)
        else:
            asset, _ = await service.create_upload(title=body.title, size=body.size,
                                                   access=access)
        return answer(asset, 201)

    @api.get("")
    async def list_all(request: Request,
                       limit: Annotated[int, Query(ge=1, le=MAX_LISTED)] = 100,
                       offset: Annotated[int, Query(ge=0, le=1 << 62)] = 0,
                       state: AssetState | None = None) -> JSONResponse:
        admin(request)
        rows = await service.page(limit=limit, offset=offset, state=state)
        return JSONResponse({"assets": [asset_json(r, progress=live_progress.get(r.id))
                                        for r in rows]})

    @api.get("/{asset_id}")
    async def get(asset_id: str, request: Request) -> JSONResponse:
        admin(request)
        return answer(await service.get(asset_id))

    @api.put("/{asset_id}/content", openapi_extra=raw_body("application/octet-stream"))
    async def content(asset_id: str, request: Request) -> JSONResponse:
        """The whole file in the body (small files; large ones go through tus)."""
        admin(request)
        length = request.headers.get("content-length")
        asset = await service.put_content(asset_id, request.stream(),
                                          int(length) if length and length.isdigit() else None)
        return answer(asset)

    @api.put("/{asset_id}/subtitles/{language}",
             openapi_extra=raw_body("text/vtt", "application/x-subrip"))
    async def subtitles(asset_id: str, language: str, request: Request,
                        name: Annotated[str | None, Query(max_length=100)] = None,
                        ) -> JSONResponse:
        """WebVTT or SRT in the body, for `language` (a BCP 47 tag), before processing
        starts; it becomes a subtitles rendition in the HLS master and the MPD."""
        admin(request)
        data = await read_request(request, MAX_SUBTITLE_BYTES, what="the subtitles")
        return answer(await service.add_subtitles(asset_id, language=language, name=name,
                                                  data=data))

    @api.post("/{asset_id}/cancel")
    async def cancel(asset_id: str, request: Request) -> JSONResponse:
        admin(request)
        return answer(await service.cancel(asset_id))

    @api.post("/{asset_id}/retry")
    async def retry(asset_id: str, request: Request) -> JSONResponse:
        admin(request)
        return answer(await service.retry(asset_id))

    @api.post("/{asset_id}/token", status_code=201,
              openapi_extra=body(TokenRequest, required=False))
    async def token(asset_id: str, request: Request) -> JSONResponse:
        """A playback token for an asset with ``access: token``."""
        admin(request)
        await service.get(asset_id)
        return await issue_token(signer, asset_subject(asset_id), request)

    @api.delete("/{asset_id}", status_code=204)
    async def delete(asset_id: str, request: Request) -> Response:
        admin(request)
        await service.delete(asset_id)
        return Response(status_code=204)

    return api
