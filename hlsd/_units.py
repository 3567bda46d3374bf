"""Parsers for the human units the seed's hls.yaml uses: "100MB" and Go durations."""

from __future__ import annotations

import math
import re

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_SIZE_FACTORS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "kib": 1024, "ki": 1024,
    "m": 1000**2, "mb": 1000**2, "mib": 1024**2, "mi": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "gi": 1024**3,
    "t": 1000**4, "tb": 1000**4, "tib": 1024**4, "ti": 1024**4,
}
# Go's time.ParseDuration grammar: a sequence of decimal numbers with units.
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_FACTORS = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
}


def parse_size(value: str | int | float) -> int:
    """Bytes from "100MB", "1.5GiB", "512kb" or a plain number of bytes.

    Decimal suffixes are powers of 1000, as go-humanize (the seed's parser) reads them.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"size must be a finite number: {value!r}")
        if value < 0:
            raise ValueError(f"size must not be negative: {value!r}")
        return int(value)
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"not a size: {value!r}")
    number, unit = match.groups()
    size = float(number) * _SIZE_FACTORS[(unit or "").lower()]
    if not math.isfinite(size):
        raise ValueError(f"size is out of range: {value!r}")
    return int(size)


def parse_duration(value: str | int | float, *, bare_unit: float = 60.0) -> float:
    """Seconds from a Go duration ("1m30s", "2h", "500ms") or a bare number.

    A bare number is counted in `bare_unit` seconds: the seed's first hls.yaml said
    `expiry: 2` and meant minutes.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        try:
            seconds = float(value) * bare_unit
        except OverflowError:
            raise ValueError("duration is out of range") from None
    else:
        text = value.strip()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text) * bare_unit
        else:
            parts = _DURATION_PART.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 1m30s, 2h)")
            seconds = sum(float(n) * _DURATION_FACTORS[u] for n, u in parts)
    if not math.isfinite(seconds):
        raise ValueError("duration must be a finite number")
    if seconds <= 0:
        raise ValueError(f"duration must be positive: {value!r}")
    return seconds
