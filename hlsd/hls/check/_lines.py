"""Split playlist text into tags and URI lines, and read attribute lists (RFC 8216 §4.1-4.2).

This is the strict reader under the checks: unlike the `m3u8` library it keeps
line numbers and reports what it cannot read instead of guessing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from hlsd.hls.check._violation import Violation

__all__ = ["Attribute", "Tag", "UriLine", "lex", "parse_attribute_list"]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]")
_NAME = re.compile(r"[A-Z0-9-]+")
# An unquoted value: enumerated-string, number, hexadecimal or resolution. None of them
# holds a quote, a comma or white space.
_UNQUOTED = re.compile(r'[^",\s]+')


@dataclass(frozen=True, slots=True)
class Tag:
    """A line starting with #EXT: `name` without the '#', `value` after the first ':'
    (None when there is no ':')."""

    line: int
    name: str
    value: str | None


@dataclass(frozen=True, slots=True)
class UriLine:
    """A line that is neither blank, a tag nor a comment."""

    line: int
    uri: str


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute value; a quoted-string keeps its text without the quotes."""

    value: str
    quoted: bool


def lex(text: str) -> tuple[list[Tag | UriLine], list[Violation]]:
    """Split `text` into tags and URI lines; comments and blank lines are dropped."""
    violations: list[Violation] = []
    if text.startswith("\ufeff"):
        violations.append(Violation("bom", "playlists must not start with a byte order mark", 1))
        text = text[1:]
    items: list[Tag | UriLine] = []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if number == 1 and line != "#EXTM3U":
            violations.append(Violation("extm3u", "the first line must be #EXTM3U", 1))
        if not line:
            continue
        if _CONTROL.search(line):
            violations.append(
                Violation("control-character", "control characters are not allowed", number)
            )
        if not line.isascii() and not unicodedata.is_normalized("NFC", line):
            violations.append(Violation("nfc", "text must be in Unicode form NFC", number))
        stripped = line.strip()
        if stripped != line:
            violations.append(
                Violation("whitespace", "white space around a line is not allowed", number)
            )
        if not stripped:
            continue
        if stripped.startswith("#EXT"):
            name, colon, value = stripped[1:].partition(":")
            items.append(Tag(number, name, value if colon else None))
        elif not stripped.startswith("#"):
            items.append(UriLine(number, stripped))
    return items, violations


def parse_attribute_list(text: str) -> dict[str, Attribute]:
    """Read `NAME=value,NAME="quoted",...`; ValueError says what is wrong."""
    attributes: dict[str, Attribute] = {}
    position, end = 0, len(text)
    while True:
        name_match = _NAME.match(text, position)
        if name_match is None or text[name_match.end() : name_match.end() + 1] != "=":
            raise ValueError(f"expected NAME= at column {position + 1}")
        name = name_match.group(0)
        position = name_match.end() + 1
        if text.startswith('"', position):
            closing = text.find('"', position + 1)
            if closing < 0:
                raise ValueError(f"{name}: unterminated quoted-string")
            attribute = Attribute(text[position + 1 : closing], quoted=True)
            position = closing + 1
        else:
            value_match = _UNQUOTED.match(text, position)
            if value_match is None:
                raise ValueError(f"{name}: missing or malformed value")
            attribute = Attribute(value_match.group(0), quoted=False)
            position = value_match.end()
        if name in attributes:
            raise ValueError(f"attribute {name} appears twice")
        attributes[name] = attribute
        if position == end:
            return attributes
        if text[position] != ",":
            raise ValueError(f"{name}: expected ',' at column {position + 1}")
        position += 1
