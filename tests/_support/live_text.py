"""What tests read off a live media playlist's text, without parsing it whole."""

from __future__ import annotations

import re

__all__ = ["last_part", "media_sequence", "uris"]


def media_sequence(text: str) -> int:
    """EXT-X-MEDIA-SEQUENCE (-1 for a text without one, such as an error's)."""
    found = re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)
    return int(found[1]) if found else -1


def uris(text: str) -> list[str]:
    """The segment URIs, oldest first."""
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def last_part(text: str) -> tuple[int, int]:
    """(MSN, part index) of the last part a playlist lists (index -1: a whole segment)."""
    msn, part = media_sequence(text), -1
    for line in text.splitlines():
        if line.startswith("#EXT-X-PART:"):
            part += 1
        elif line and not line.startswith("#"):
            msn, part = msn + 1, -1
    return msn, part
