"""Text forms of HLS attribute values (RFC 8216 §4.2), shared by render, parse and rules.

The formatters raise ValueError for values that have no legal text form: a playlist
that cannot be written correctly is a bug upstream, better caught where it is made.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, datetime

from hlsd.hls.model import ByteRange

__all__ = [
    "format_byterange",
    "format_datetime",
    "format_decimal_integer",
    "format_duration",
    "format_frame_rate",
    "is_decimal_integer",
    "parse_byterange",
    "parse_datetime",
    "quoted_string",
    "rounded_seconds",
    "text_value",
    "uri_value",
]

# RFC 8216 §4.1 forbids control characters (CR and LF end lines anyway). The Unicode
# line and paragraph separators are refused too: str.splitlines, which m3u8 and many
# other readers use, ends a line at them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_BYTERANGE = re.compile(r"([0-9]+)(?:@([0-9]+))?")
# Kept in step with the 2**64 - 1 ceiling of decimal-integer (RFC 8216 §4.2).
_MAX_DECIMAL_INTEGER = 2**64 - 1


def text_value(what: str, value: str) -> str:
    """Check free text (an EXTINF title, say) has nothing that would break the line."""
    if _CONTROL.search(value):
        raise ValueError(f"{what} contains a control character or line break: {value!r}")
    if not unicodedata.is_normalized("NFC", value):
        raise ValueError(f"{what} is not in Unicode normalization form NFC: {value!r}")
    return value


def quoted_string(what: str, value: str) -> str:
    """Return `"value"`; a quoted-string cannot hold a double quote, CR or LF."""
    text_value(what, value)
    if '"' in value:
        raise ValueError(f"{what} cannot contain a double quote: {value!r}")
    return f'"{value}"'


def uri_value(what: str, uri: str) -> str:
    """Check a URI that goes on a line of its own or into a quoted-string."""
    if not uri:
        raise ValueError(f"{what} is empty")
    text_value(what, uri)
    # A URI line starting with '#' would read as a comment or tag; surrounding white
    # space is stripped by parsers, so it would not survive a round trip.
    if uri.startswith("#") or uri != uri.strip() or '"' in uri:
        raise ValueError(f"{what} is not a usable URI: {uri!r}")
    return uri


def format_decimal_integer(what: str, value: int) -> str:
    """decimal-integer: 0 to 2**64 - 1 (RFC 8216 §4.2)."""
    if isinstance(value, bool) or not 0 <= value <= _MAX_DECIMAL_INTEGER:
        raise ValueError(f"{what} must be an integer from 0 to 2**64-1, not {value!r}")
    return str(value)


def is_decimal_integer(text: str) -> bool:
    """True for ASCII digits only: str.isdigit also takes "²", which int() refuses."""
    return text.isascii() and text.isdigit()


def format_duration(seconds: float) -> str:
    """An EXTINF duration: at most 3 decimals, none at all when whole (version < 3 needs
    integers, RFC 8216 §4.3.2.1)."""
    if not math.isfinite(seconds * 1000) or seconds < 0:
        raise ValueError(f"segment duration must be a finite number >= 0, not {seconds!r}")
    millis = round(seconds * 1000)
    whole, frac = divmod(millis, 1000)
    if frac == 0:
        return str(whole)
    return f"{whole}.{frac:03d}".rstrip("0")


def rounded_seconds(duration: str | float) -> int:
    """A duration rounded to the nearest integer, halves up, as the target duration rule
    reads (RFC 8216 §4.3.3.1): 10.5 s needs a target duration of 11."""
    return math.floor(float(duration) + 0.5)


def format_frame_rate(rate: float) -> str:
    """FRAME-RATE: decimal-floating-point rounded to three decimal places."""
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"FRAME-RATE must be a finite number > 0, not {rate!r}")
    return f"{rate:.3f}"


def format_datetime(value: datetime) -> str:
    """EXT-X-PROGRAM-DATE-TIME in UTC with milliseconds: 2026-11-21T19:00:00.000Z.

    Sub-millisecond parts are truncated, not rounded, so increasing times stay
    increasing (or equal) once written.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"program date time must be timezone-aware, not {value!r}")
    utc = value.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def parse_datetime(text: str) -> datetime:
    """Read an ISO 8601 date-time; one without a zone is taken as UTC."""
    value = datetime.fromisoformat(text.strip())
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def format_byterange(what: str, value: ByteRange) -> str:
    """`<n>[@<o>]` (RFC 8216 §4.3.2.2)."""
    text = format_decimal_integer(f"{what} length", value.length)
    if value.offset is not None:
        text += "@" + format_decimal_integer(f"{what} offset", value.offset)
    return text


def parse_byterange(text: str) -> ByteRange:
    """Read `<n>[@<o>]`; ValueError when malformed."""
    match = _BYTERANGE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"malformed byte range {text!r}")
    offset = match.group(2)
    return ByteRange(length=int(match.group(1)), offset=None if offset is None else int(offset))
