"""Key and prefix validation: the only gate between a caller's string and a path."""

from __future__ import annotations

import pytest

from hlsd.storage import validate_key, validate_prefix
from hlsd.storage.base import MAX_KEY_LENGTH, check_range

GOOD = [
    "a",
    "seg-0.ts",
    "rec/123/seg-00001.ts",
    "assets/abc/720p/init.mp4",
    "A.B_c~d-e",
    "...",
    ".hidden",
    "a..b",
    "x" * 255,
    "/".join(["y" * 255] * 3) + "/z",
]

BAD = [
    "",
    ".",
    "..",
    "../x",
    "a/..",
    "a/../b",
    "./a",
    "/abs",
    "a/",
    "a//b",
    "//",
    "a\\b",
    "..\\x",
    "a b",
    "a\tb",
    "a\nb",
    "a\x00b",
    "a:b",
    "a?b",
    "a#b",
    "a%2e%2e",
    "a+b",
    "caf\u00e9",
    "\uff0e\uff0e/x",  # fullwidth dots
    "x" * 256,
    "x" * (MAX_KEY_LENGTH + 1),
]


def short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:20]}...({len(str(value))})"


@pytest.mark.parametrize("key", GOOD, ids=short)
def test_good_keys(key: str) -> None:
    assert validate_key(key) == key
    assert validate_prefix(key) == key
    assert validate_prefix(key + "/") == key + "/"


@pytest.mark.parametrize("key", BAD, ids=short)
def test_bad_keys(key: str) -> None:
    with pytest.raises(ValueError):
        validate_key(key)


def test_non_strings_are_refused() -> None:
    for value in (None, b"a", 1, ["a"]):
        with pytest.raises(ValueError):
            validate_key(value)  # type: ignore[arg-type]


def test_prefixes() -> None:
    assert validate_prefix("") == ""
    for bad in ("/", "//", "../", "a//", "/a", "a/../", "a b/"):
        with pytest.raises(ValueError):
            validate_prefix(bad)


def test_ranges() -> None:
    check_range(0, 0)
    check_range(3, 10)
    for start, end in ((-1, 0), (5, 4)):
        with pytest.raises(ValueError):
            check_range(start, end)
