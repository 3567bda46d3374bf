"""Resumable uploads over tus 1.0 (https://tus.io/protocols/resumable-upload): the core
protocol with creation, creation-with-upload, creation-defer-length, termination,
checksum and expiration, on an `UploadStore`.

Every response carries ``Tus-Resumable``, errors included, so the handlers turn the
store's errors (and a refused `authorize`) into responses themselves rather than leaving
them to the app's handlers. X-HTTP-Method-Override lets a client that can only POST
send HEAD, PATCH and DELETE.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from hlsd.api._openapi import ERROR_SCHEMA, JSON
from hlsd.assets.uploads import CHECKSUMS, BadUpload, TooLarge, Upload, UploadError, UploadStore
from hlsd.auth.access import Refused
from hlsd.infra.statuses import status_of

TUS_VERSION = "1.0.0"
TUS_REQUEST_HEADERS = ("tus-resumable", "upload-length", "upload-defer-length",
                       "upload-offset", "upload-metadata", "upload-checksum",
                       "x-http-method-override")
"""What a browser tus client sends (CORS must allow them)."""
TUS_RESPONSE_HEADERS = ("tus-resumable", "tus-version", "tus-extension", "tus-max-size",
                        "tus-checksum-algorithm", "upload-offset", "upload-length",
                        "upload-expires", "upload-metadata")
"""What a browser tus client reads (CORS must expose them)."""
EXTENSIONS = ("creation", "creation-with-upload", "creation-defer-length", "termination",
              "checksum", "expiration")
OFFSET_STREAM = "application/offset+octet-stream"
_NUMBER = re.compile(r"[0-9]{1,19}")
_KEY = re.compile(r"[^\s,]+")

Headers = dict[str, str]


class _Refusal(Exception):
    """A request turned away before it reaches the store."""

    def __init__(self, status: int, message: str, headers: Headers | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def router(*, store: UploadStore, prefix: str = "/api/uploads",
           authorize: Callable[[Request], None]) -> APIRouter:
    api = APIRouter(tags=["uploads"])
    prefix = prefix.rstrip("/")

    def admit(request: Request) -> None:
        try:
            authorize(request)
        except Refused as exc:
            raise _Refusal(status_of(exc), exc.message) from exc
        except HTTPException as exc:
            raise _Refusal(exc.status_code, str(exc.detail), dict(exc.headers or {})) from exc
        if request.headers.get("tus-resumable") != TUS_VERSION:
            raise _Refusal(412, f"Tus-Resumable {TUS_VERSION} is required",
                           {"Tus-Version": TUS_VERSION})

    Handler = Callable[[Request, str], Awaitable[Response]]

    def guarded(handler: Handler) -> Handler:
        async def run(request: Request, upload_id: str) -> Response:
            try:
                admit(request)
                return await handler(request, upload_id)
            except _Refusal as exc:
                return _error(exc.status, exc.message, exc.headers)
            except UploadError as exc:
                return _error(status_of(exc), exc.message)
            except ClientDisconnect:
                return _error(400, "the client went away")  # nobody reads it
        return run

    @api.api_route(prefix, methods=["OPTIONS"], **_DISCOVERY_DOC)
    @api.api_route(prefix + "/{upload_id}", methods=["OPTIONS"], **_DISCOVERY_DOC)
    async def options() -> Response:
        return Response(status_code=204, headers=_tus({
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": ",".join(EXTENSIONS),
            "Tus-Max-Size": str(store.max_bytes),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUMS),
        }))

    @guarded
    async def create(request: Request, _: str) -> Response:
        length, defer = _creation_length(request)
        upload = store.create(length=length, defer_length=defer,
                              metadata=_metadata(request.headers.get("upload-metadata")))
        where = {"Location": f"{prefix}/{upload.id}"}
        if _is_offset_stream(request) or upload.length == 0:
            try:
                upload = await store.append(upload.id, 0, request.stream(),
                                            checksum=_checksum(request))
            except UploadError as exc:
                # The upload exists: say where, so the client can resume it.
                return _error(status_of(exc), exc.message,
                              {**where, **_progress(store.get(upload.id))})
        return Response(status_code=201, headers=_tus({**where, **_progress(upload)}))

    @guarded
    async def head(request: Request, upload_id: str) -> Response:
        upload = store.get(upload_id)
        headers = {**_progress(upload), "Cache-Control": "no-store"}
        if upload.length is None:
            headers["Upload-Defer-Length"] = "1"
        else:
            headers["Upload-Length"] = str(upload.length)
        if upload.metadata:
            headers["Upload-Metadata"] = _encode_metadata(upload.metadata)
        return Response(status_code=200, headers=_tus(headers))

    @guarded
    async def patch(request: Request, upload_id: str) -> Response:
        if not _is_offset_stream(request):
            raise _Refusal(415, f"Content-Type must be {OFFSET_STREAM}")
        offset = _number(request, "upload-offset")
        if offset is None:
            raise BadUpload("Upload-Offset is required")
        length = _number(request, "upload-length")
        checksum = _checksum(request)
        upload = store.get(upload_id)
        declared = _number(request, "content-length")
        limit = upload.length if upload.length is not None else length
        limit = store.max_bytes if limit is None else limit
        if declared is not None and offset + declared > limit:
            # Refused before reading, so a client waiting on 100-continue sends nothing.
            raise TooLarge(f"the upload would exceed {limit} bytes")
        upload = await store.append(upload_id, offset, request.stream(), checksum=checksum,
                                    length=length)
        return Response(status_code=204, headers=_tus(_progress(upload)))

    @guarded
    async def delete(request: Request, upload_id: str) -> Response:
        store.delete(upload_id)
        return Response(status_code=204, headers=_tus({}))

    @guarded
    async def no_override(request: Request, _: str) -> Response:
        raise _Refusal(405, "POST an upload only with X-HTTP-Method-Override",
                       {"Allow": "HEAD, PATCH, DELETE, OPTIONS"})

    overridable = {"HEAD": head, "PATCH": patch, "DELETE": delete}

    @api.post(prefix, **_doc(
        "Create an upload (tus creation, creation-with-upload, creation-defer-length)",
        201, _CREATED, headers=_CREATION, body=False))
    async def post_collection(request: Request) -> Response:
        return await create(request, "")

    @api.api_route(prefix + "/{upload_id}", methods=["HEAD"], **_doc(
        "An upload's offset (where to resume)", 200, _PROGRESS))
    async def head_upload(request: Request, upload_id: str) -> Response:
        return await head(request, upload_id)

    @api.patch(prefix + "/{upload_id}", **_doc(
        "Append bytes at Upload-Offset", 204, _PROGRESS, headers=_APPEND, body=True,
        required=("Tus-Resumable", "Upload-Offset")))
    async def patch_upload(request: Request, upload_id: str) -> Response:
        return await patch(request, upload_id)

    @api.delete(prefix + "/{upload_id}", **_doc("Remove an upload (tus termination)", 204,
                                                {}))
    async def delete_upload(request: Request, upload_id: str) -> Response:
        return await delete(request, upload_id)

    @api.post(prefix + "/{upload_id}", **_doc(
        "HEAD (200), PATCH or DELETE (204) for clients that can only POST", 204, _PROGRESS,
        headers={**_APPEND, **_OVERRIDE}, body=False,
        required=("Tus-Resumable", "X-HTTP-Method-Override")))
    async def post_upload(request: Request, upload_id: str) -> Response:
        method = request.headers.get("x-http-method-override", "").upper()
        return await overridable.get(method, no_override)(request, upload_id)

    return api


# What /openapi.json says of the tus routes: the request headers each reads, the
# response headers, and errors as {"error"} (with Tus-Resumable).
HeaderDocs = dict[str, tuple[str, dict[str, Any]]]
"""Request headers an operation reads: name → (description, schema)."""
_NUMBER_SCHEMA: dict[str, Any] = {"type": "string", "pattern": "^[0-9]{1,19}$"}
_STRING: dict[str, Any] = {"type": "string"}
_COMMON: HeaderDocs = {"Tus-Resumable": ("The protocol version: 1.0.0 (412 otherwise).",
                                          {"type": "string", "enum": [TUS_VERSION]})}
_CREATION: HeaderDocs = {
    "Upload-Length": ("The upload's size in bytes (or Upload-Defer-Length).", _NUMBER_SCHEMA),
    "Upload-Defer-Length": ("1: the size is given later.",
                            {"type": "string", "enum": ["1"]}),
    "Upload-Metadata": ("`key base64,key2 base64`; `asset` names the asset it is for.",
                        _STRING),
    "Upload-Checksum": ("`<algorithm> <base64 digest>` of the bytes sent with it.", _STRING),
}
_APPEND: HeaderDocs = {
    "Upload-Offset": ("Where these bytes go: the upload's current offset (409 otherwise).",
                      _NUMBER_SCHEMA),
    "Upload-Length": ("The size, for an upload created with Upload-Defer-Length.",
                      _NUMBER_SCHEMA),
    "Upload-Checksum": ("`<algorithm> <base64 digest>` of these bytes (460 on a mismatch).",
                        _STRING),
}
_OVERRIDE: HeaderDocs = {"X-HTTP-Method-Override": (
    "HEAD, PATCH or DELETE.", {"type": "string", "enum": ["HEAD", "PATCH", "DELETE"]})}
_DISCOVERY = {"Tus-Version": "1.0.0", "Tus-Extension": ", ".join(EXTENSIONS),
              "Tus-Max-Size": "the largest upload, bytes",
              "Tus-Checksum-Algorithm": ", ".join(CHECKSUMS)}
_PROGRESS = {"Upload-Offset": "the bytes received so far",
             "Upload-Expires": "when an unfinished upload expires"}
_CREATED = {"Location": "the upload's URL", **_PROGRESS}
_DISCOVERY_DOC: dict[str, Any] = {
    "summary": "What this tus server supports (no admin key needed)",
    "response_class": Response, "status_code": 204, "responses": {204: {
        "description": "the protocol's versions, extensions, limits",
        "headers": {k: {"description": v, "schema": _STRING}
                    for k, v in {"Tus-Resumable": TUS_VERSION, **_DISCOVERY}.items()}}}}


def _doc(summary: str, status: int, response_headers: dict[str, str], *,
         headers: HeaderDocs | None = None,
         body: bool | None = None, required: tuple[str, ...] = ("Tus-Resumable",),
         ) -> dict[str, Any]:
    """The route arguments that document one tus operation."""
    params = [{"name": name, "in": "header", "required": name in required,
               "description": about, "schema": schema}
              for name, (about, schema) in {**_COMMON, **(headers or {})}.items()]
    extra: dict[str, Any] = {"parameters": params}
    if body is not None:
        extra["requestBody"] = {"required": body, "content": {
            OFFSET_STREAM: {"schema": {"type": "string", "format": "binary"}}}}
    error = {"description": "Refused: the reason in `error`",
             "headers": {"Tus-Resumable": {"schema": _STRING}},
             "content": {JSON: {"schema": ERROR_SCHEMA}}}
    return {"summary": summary, "response_class": Response, "status_code": status,
            "openapi_extra": extra, "responses": {
                status: {"description": "done",
                         "headers": {"Tus-Resumable": {"schema": _STRING},
                                     **{k: {"description": v, "schema": _STRING}
                                        for k, v in response_headers.items()}}},
                "4XX": error,
                507: {**error, "description": "no room left for uploads "
                                              "(assets.max_uploads, max_uploads_bytes)"}}}


def _tus(headers: Headers) -> Headers:
    return {"Tus-Resumable": TUS_VERSION, **headers}


def _error(status: int, message: str, headers: Headers | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=_tus(headers or {}))


def _progress(upload: Upload) -> Headers:
    headers = {"Upload-Offset": str(upload.offset)}
    if not upload.complete:
        headers["Upload-Expires"] = formatdate(upload.expires, usegmt=True)
    return headers


def _is_offset_stream(request: Request) -> bool:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return ctype == OFFSET_STREAM


def _number(request: Request, name: str) -> int | None:
    value = request.headers.get(name)
    if value is None:
        return None
    if not _NUMBER.fullmatch(value.strip()):
        raise BadUpload(f"{name} must be a non-negative integer")
    return int(value)


def _creation_length(request: Request) -> tuple[int | None, bool]:
    length = _number(request, "upload-length")
    defer = request.headers.get("upload-defer-length")
    if defer is not None and defer.strip() != "1":
        raise BadUpload("Upload-Defer-Length must be 1")
    if (length is None) == (defer is None):
        raise BadUpload("give one of Upload-Length and Upload-Defer-Length")
    return length, defer is not None


def _checksum(request: Request) -> tuple[str, str] | None:
    value = request.headers.get("upload-checksum")
    if value is None:
        return None
    algorithm, _, digest = value.strip().partition(" ")
    if not digest:
        raise BadUpload("Upload-Checksum is '<algorithm> <base64 digest>'")
    return algorithm.lower(), digest.strip()


def _metadata(header: str | None) -> dict[str, str]:
    """``key base64,key2 base64,key3``: a key alone has an empty value."""
    metadata: dict[str, str] = {}
    for item in (header or "").split(","):
        if not item.strip():
            continue
        key, _, value = item.strip().partition(" ")
        if not _KEY.fullmatch(key) or key in metadata:
            raise BadUpload(f"bad or repeated Upload-Metadata key {key!r}")
        try:
            metadata[key] = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, ValueError) as exc:
            raise BadUpload(f"Upload-Metadata {key!r} is not base64 of UTF-8 text") from exc
    return metadata


def _encode_metadata(metadata: dict[str, str]) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" if v else k
                    for k, v in metadata.items())
