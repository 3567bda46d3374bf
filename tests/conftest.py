"""Suite-wide collection order: the longest test first.

pytest-xdist (``--dist loadfile``, as `scripts/test` runs it) hands files to workers in
the order they are collected; the README tour alone takes minutes, so it starts first
instead of running on by itself at the end.
"""

from __future__ import annotations

import pytest

LONGEST_FIRST = ("tests/test_readme.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return 0 if path.startswith(LONGEST_FIRST) else 1

    items.sort(key=rank)  # stable: every other test keeps its order
