"""Request bodies as the seed's Fiber BodyParser took them: JSON or a URL-encoded form."""

from __future__ import annotations

import json
from typing import Any, TypeVar
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
MAX_BODY = 1 << 20


async def read_body(request: Request, model: type[M]) -> M:
    raw = await _bounded(request)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data: Any
    if ctype == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qs(raw.decode(), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError as exc:
            raise RequestValidationError([{"loc": ("body",), "msg": "body is not UTF-8",
                                           "type": "form_invalid"}]) from exc
        data = {k: (v if len(v) > 1 else v[0]) for k, v in pairs.items()}
    else:
        try:
            data = json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RequestValidationError([{"loc": ("body",), "msg": "body is not JSON",
                                           "type": "json_invalid"}]) from exc
    if not isinstance(data, dict):
        raise RequestValidationError([{"loc": ("body",), "msg": "body must be a JSON object",
                                       "type": "dict_type"}])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc


async def _bounded(request: Request) -> bytes:
    return await read_limited(request, MAX_BODY)


async def read_limited(request: Request, limit: int) -> bytes:
    """The raw body, refused (422 "body is too large") as soon as it passes `limit`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestValidationError([{"loc": ("body",), "msg": "body is too large",
                                       "type": "too_large"}])
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestValidationError([{"loc": ("body",), "msg": "body is too large",
                                           "type": "too_large"}])
        chunks.append(chunk)
    return b"".join(chunks)
