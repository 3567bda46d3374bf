"""Live on 3 uvicorn workers: the scenarios of `tests/node/_live.py`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests._support.hlsd_server import free_port
from tests.node._live import (
    test_a_channel_plays_on_every_worker,
    test_a_livemix_camera_plays_on_every_worker,
    test_a_pushed_stream_plays_on_every_worker_and_is_recorded_once,
    test_a_websocket_publisher_plays_on_every_worker,
    test_blocking_reloads_are_answered_by_every_worker,
)
from tests.node._workers import Node, server

__all__ = [
    "test_a_channel_plays_on_every_worker",
    "test_a_livemix_camera_plays_on_every_worker",
    "test_a_pushed_stream_plays_on_every_worker_and_is_recorded_once",
    "test_a_websocket_publisher_plays_on_every_worker",
    "test_blocking_reloads_are_answered_by_every_worker",
]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    rtmp = free_port()
    with server(tmp_path_factory.mktemp("uvicorn"), "uvicorn", 3, rtmp) as hlsd:
        yield Node(hlsd, 3, rtmp)
