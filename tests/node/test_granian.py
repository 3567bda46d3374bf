"""Live on 2 granian workers: the scenarios of `tests/node/_live.py`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.node._live import LiveScenarios
from tests.node._workers import Node, serving


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    yield from serving(tmp_path_factory, "granian", 2)


class Test2GranianWorkers(LiveScenarios):
    pass
