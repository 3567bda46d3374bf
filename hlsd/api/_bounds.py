"""Bounds on what clients send the JSON APIs.

Every number and string in a request body has limits, stated in the OpenAPI schema and
checked when the body is read; a value past them is a 422 (LiveMix: its 400 envelope)
that names the field and the limit. `Body` is the base of the request models: no NaN or
Infinity, no string longer than `MAX_TEXT` unless a field says otherwise.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from hlsd._units import parse_duration

MAX_TEXT = 4096
"""Characters of any string field without a bound of its own."""
MAX_EPOCH = 253402300799
"""9999-12-31T23:59:59Z, the last second a timestamp can name."""
MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = datetime.fromtimestamp(MAX_EPOCH, UTC)

_DURATION_TEXT = (r"^(?:[0-9]{1,12}(?:\.[0-9]{1,9})?"
                  r"|(?:(?:[0-9]{1,12}(?:\.[0-9]{0,9})?|\.[0-9]{1,9})(?:ns|us|µs|ms|s|m|h))"
                  r"{1,8})$")
"""A Go duration (``1m30s``, ``500ms``) or a bare number of seconds, in ASCII digits."""
_DURATION = re.compile(_DURATION_TEXT)
_MAX_DURATION_TEXT = 64


class Body(BaseModel):
    """A request body: finite numbers, bounded strings."""

    model_config = ConfigDict(allow_inf_nan=False, str_max_length=MAX_TEXT)


def _seconds_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True, slots=True)
class Seconds:
    """Field metadata: ``Annotated[float, Seconds(3600)]`` holds seconds, given as a Go
    duration (``"5m30s"``) or a number of seconds, more than `minimum` and at most
    `maximum`."""

    maximum: float
    minimum: float = 0.0

    def check(self, value: object) -> float:
        if isinstance(value, str):
            if len(value) > _MAX_DURATION_TEXT or not _DURATION.fullmatch(value):
                raise ValueError("must be a duration such as 90s, 1m30s or 2h, or a "
                                 "number of seconds")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a duration such as 90s, 1m30s or 2h, or a number "
                             "of seconds")
        try:
            seconds = parse_duration(value, bare_unit=1.0)
        except ValueError:
            seconds = math.nan  # zero, negative, or out of range
        if not self.minimum < seconds <= self.maximum:
            low = "positive" if self.minimum == 0 else \
                f"more than {_seconds_text(self.minimum)}"
            raise ValueError(f"must be {low} and at most {_seconds_text(self.maximum)}")
        return seconds

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(self.check)

    def __get_pydantic_json_schema__(self, schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"anyOf": [
            {"type": "string", "pattern": _DURATION_TEXT, "maxLength": _MAX_DURATION_TEXT},
            {"type": "number", "exclusiveMinimum": self.minimum, "maximum": self.maximum}],
            "description": "a Go duration (5m30s) or a number of seconds; at most "
                           f"{_seconds_text(self.maximum)}"}


Epoch = Annotated[float, Field(gt=0, le=MAX_EPOCH, allow_inf_nan=False, strict=True)]
"""Seconds since 1970 (UTC), up to the end of year 9999."""


def _text_only(value: object) -> object:
    if not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 time with its offset, such as "
                         "2026-12-01T10:00:00Z")
    return value


def _representable(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("must be a time from 1970 to 9999") from None
    if not MIN_TIME <= utc <= MAX_TIME:
        raise ValueError("must be a time from 1970 to 9999")
    return utc


Time = Annotated[AwareDatetime, BeforeValidator(_text_only), AfterValidator(_representable)]
"""An ISO 8601 time with its offset (``2026-12-01T10:00:00Z``), 1970 to 9999; read in
UTC."""
