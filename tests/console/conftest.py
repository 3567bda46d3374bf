"""What the console's browser tests share: one Chromium per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests._support import console


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with console.chromium() as browser:
        yield browser
