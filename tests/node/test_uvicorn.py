"""Live on 3 uvicorn workers: the scenarios of `tests/node/_live.py`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.node._live import LiveScenarios
from tests.node._workers import Node, serving


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    yield from serving(tmp_path_factory, "uvicorn", 3)


class Test3UvicornWorkers(LiveScenarios):
    pass
