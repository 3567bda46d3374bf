from __future__ import annotations

from pathlib import Path

import pytest

from tests._support.fragments import ts_fragments


@pytest.fixture(scope="session")
def fragments(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    return ts_fragments(tmp_path_factory.mktemp("fragments"))


def write_joined(fragments: list[bytes], path: Path) -> Path:
    path.write_bytes(b"".join(fragments))
    return path
