"""A worker killed with SIGKILL while a stream is live: the engine starts another, which
catches up before it serves, the stream goes on (its uploads reach whichever worker
leads now), and every worker serves it."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from tests._support.live_text import media_sequence, uris
from tests._support.polling import wait_until
from tests._support.publisher import LivePublisher
from tests.node._workers import AUTH, Node, passes, server, until_every_worker


@pytest.mark.parametrize(("engine", "workers"), [("granian", 3), ("uvicorn", 2)])
def test_a_worker_killed_mid_stream_leaves_the_node_serving(engine: str, workers: int,
                                                           tmp_path: Path) -> None:
    # The stream must not end while the engine starts a worker again (seconds on a busy
    # machine): it would then begin a new session, rightly.
    with server(tmp_path, engine, workers, idle_timeout=30) as hlsd:
        node = Node(hlsd, workers)
        stream = "killed"
        playlist = f"/live/{stream}/index.m3u8"
        with LivePublisher(f"{node.url}/ingest/{stream}", headers=AUTH, duration=60,
                           size="320x240", seconds_per_segment=1):
            wait_until(lambda: uris(httpx.get(node.url + playlist).text)[2:] or None,
                       timeout=30, what="three segments")
            for victim in ("leader", "follower"):
                before = media_sequence(httpx.get(node.url + playlist).text)
                session = next(iter(_newest_by_worker(node, playlist).values())).split("-")[0]
                leader = node.leader()
                pid = leader if victim == "leader" else \
                    next(iter(node.worker_pids() - {leader}))
                os.kill(pid, signal.SIGKILL)
                # The engine starts another worker; it follows the other, and the
                # stream goes on (its uploads reach the leader there is now).
                node.wait_whole()
                assert pid not in node.worker_pids()

                def goes_on(client: httpx.Client, before: int = before) -> None:
                    text = client.get(playlist).text
                    assert media_sequence(text) > before + 1, text
                    for uri in uris(text):
                        assert client.get(f"/live/{stream}/{uri}").status_code == 200
                wait_until(lambda: passes(node, goes_on), timeout=30,
                           what=f"the stream going on after the {victim} was killed")
                until_every_worker(node, goes_on)
                # One stream, named and numbered alike on every worker, in the session
                # it had: the worker its publisher reached next went on from a copy
                # (an orphan's), rather than beginning the stream again.
                newest = _newest_by_worker(node, playlist)
                assert {uri.split("-")[0] for uri in newest.values()} == {session}, newest
                numbers = [int(uri.rsplit("-", 1)[1].split(".")[0]) for uri in newest.values()]
                assert max(numbers) - min(numbers) <= 1, newest
            assert hlsd.running


def _newest_by_worker(node: Node, playlist: str) -> dict[int, str]:
    """The newest segment URI each worker names, asked of all within a moment."""
    newest: dict[int, str] = {}
    for _ in range(20 * node.workers):
        with node.on_some_worker() as (client, worker):
            newest[worker] = uris(client.get(playlist).text)[-1]
        if len(newest) == node.workers:
            return newest
    raise AssertionError(f"not every worker was reached: {newest}")
