"""What ``/openapi.json`` says of routes that read their bodies themselves.

The JSON APIs read bodies with `hlsd.api._body` (JSON or, for the seed's routes, a
form), so FastAPI sees no body parameter; `body` declares the model's schema with its
bounds, `raw_body` the media types of routes that take bytes. Errors are declared once
per router: ``{"error": "..."}`` everywhere but LiveMix, whose envelope is
``{"success": false, "request_id", "error": {"code", "message"}}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel

from hlsd.ingest.names import STREAM_ID

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "title": "Error", "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
ERRORS: dict[int | str, dict[str, Any]] = {
    "4XX": {"description": "Refused: the reason in `error`",
            "content": {JSON: {"schema": ERROR_SCHEMA}}},
}
"""The error responses of every router but LiveMix's."""

LIVEMIX_FAILURE_SCHEMA: dict[str, Any] = {
    "type": "object", "title": "LiveMixFailure",
    "required": ["success", "request_id", "error"],
    "properties": {
        "success": {"const": False},
        "request_id": {"type": "string"},
        "error": {"type": "object", "required": ["code", "message"],
                  "properties": {"code": {"type": "integer"},
                                 "message": {"type": "string"}}},
    },
}
LIVEMIX_ERRORS: dict[int | str, dict[str, Any]] = {
    "4XX": {"description": "Refused, in LiveMix's envelope",
            "content": {JSON: {"schema": LIVEMIX_FAILURE_SCHEMA}}},
}


StreamName = Annotated[str, Path(
    description="a live stream's id (the HTTP ingest rule: 1-128 of A-Z a-z 0-9 _ . ~ -, "
                "starting with a letter or digit, no '..')",
    json_schema_extra={"pattern": STREAM_ID.pattern, "maxLength": 128})]
"""A path parameter naming a stream; checked by `validate_stream_id` (400), the schema
only says the rule."""


def body(model: type[BaseModel], *, required: bool = True,
         form: bool = False) -> dict[str, Any]:
    """`openapi_extra` for a route that reads `model` with `read_body` (or
    `parse_model`); `form`: it also takes the fields as a URL-encoded form."""
    schema = _inline(model.model_json_schema())
    content = {JSON: {"schema": schema}}
    if form:
        content[FORM] = {"schema": schema}
    return {"requestBody": {"required": required, "content": content}}


def raw_body(*media_types: str, required: bool = True,
             headers: dict[str, str] | None = None) -> dict[str, Any]:
    """`openapi_extra` for a route that takes its body as bytes; `headers`: the request
    headers it reads (name → description), all required."""
    extra: dict[str, Any] = {"requestBody": {
        "required": required,
        "content": {t: {"schema": {"type": "string", "format": "binary"}}
                    for t in media_types}}}
    if headers:
        extra["parameters"] = [{"name": name, "in": "header", "required": True,
                                "description": about,
                                "schema": {"type": "string", "maxLength": 4096}}
                               for name, about in headers.items()]
    return extra


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with its ``$defs`` put in place of their ``$ref``s (request models nest
    a few levels, never recursively), so it stands alone inside an operation."""
    defs: dict[str, Any] = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return {**resolve(defs[ref.removeprefix("#/$defs/")]), **resolve(rest)}
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
