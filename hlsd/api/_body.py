"""Request bodies as the seed's Fiber BodyParser took them: JSON or a URL-encoded form.

JSON is read strictly (RFC 8259): no NaN or Infinity, no lone surrogates, no integer
of thousands of digits, nesting at most 200 deep; anything else is a 422, never a crash.
(A number past what a double holds reads as infinity, which every numeric field
refuses.) A body is read with a bound (`MAX_BODY`) applied as it arrives: past it,
`infra.bounded.TooLarge`, a 413.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qs

import pydantic_core
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from hlsd.infra.bounded import read_request

M = TypeVar("M", bound=BaseModel)
MAX_BODY = 1 << 20


async def read_body(request: Request, model: type[M], *, empty: M | None = None) -> M:
    """The body as `model`: JSON whatever the content-type says (``curl -d`` labels JSON
    a form), else the URL-encoded form the seed's clients may send. With `empty`, a
    request without a body stands for it."""
    raw = await read_request(request, MAX_BODY)
    if empty is not None and not raw:
        return empty
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data: Any
    if ctype == "application/x-www-form-urlencoded" and not raw.lstrip().startswith(b"{"):
        try:
            pairs = parse_qs(raw.decode(), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError as exc:
            raise RequestValidationError([{"loc": ("body",), "msg": "body is not UTF-8",
                                           "type": "form_invalid"}]) from exc
        data = {k: (v if len(v) > 1 else v[0]) for k, v in pairs.items()}
    else:
        data = parse_json(raw)
    return _validate(data, model)


def parse_model(raw: bytes, model: type[M]) -> M:
    """A JSON body (`raw`) as `model`; `RequestValidationError` if it is none."""
    return _validate(parse_json(raw), model)


def _validate(data: Any, model: type[M]) -> M:
    if not isinstance(data, dict):
        raise RequestValidationError([{"loc": ("body",), "msg": "body must be a JSON object",
                                       "type": "dict_type"}])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc


def parse_json(raw: bytes) -> Any:
    """`raw` as strict JSON (an empty body is ``null``); a 422 naming the fault if it is
    none."""
    try:
        return pydantic_core.from_json(raw or b"null", allow_inf_nan=False,
                                       cache_strings=False)
    except ValueError as exc:
        raise RequestValidationError([{"loc": ("body",), "msg": f"body is not JSON: {exc}",
                                       "type": "json_invalid"}]) from exc


def describe(errors: Iterable[Mapping[str, Any]]) -> str:
    """Validation errors as one line: ``field: what is wrong; …``."""
    parts = []
    for err in errors:
        loc: Sequence[Any] = err.get("loc", ())
        where = ".".join(str(p) for p in loc if p != "body")
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts) or "malformed request"

