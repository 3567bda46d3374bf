"""A request whose text reaches a log line can neither stall the server nor forge a line
of its log, on either engine (the 2026-12-06 attack: a 60,000-character ingest path took
53 s to refuse, and every other client waited)."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests._support.hlsd_server import HlsdServer

KEY = "publish-key"


@pytest.fixture(scope="module", params=["granian", "uvicorn"])
def hlsd(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         ) -> Iterator[HlsdServer]:
    cfg = {"server": request.param, "live": {"publish_keys": [KEY]}}
    with HlsdServer(cfg, tmp_dir=tmp_path_factory.mktemp(request.param)) as server:
        yield server


class HealthProbe:
    """Asks /api/health over and over in a thread, timing each answer."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        self._wait_for(1)
        return self

    def __exit__(self, *exc: object) -> None:
        self._wait_for(len(self.latencies) + 3)  # answers after the attack, too
        self._stop.set()
        self._thread.join(30)

    def _wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 60
        while len(self.latencies) < count and self._thread.is_alive():
            assert time.monotonic() < deadline, "the health probe got no answer"
            time.sleep(0.01)

    def _run(self) -> None:
        with httpx.Client(timeout=60) as c:
            while not self._stop.is_set():
                started = time.perf_counter()
                assert c.get(self._url + "/api/health").status_code == 200
                self.latencies.append(time.perf_counter() - started)


def _timed(request: httpx.Request, client: httpx.Client) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = client.send(request)
    return response, time.perf_counter() - started


def _assert_unstalled(probe: HealthProbe) -> None:
    assert probe.latencies, "no health answer at all"
    assert max(probe.latencies) < 1.0, probe.latencies
    assert statistics.median(probe.latencies) < 0.1, probe.latencies


def test_a_huge_unauthenticated_ingest_path_is_refused_at_once(hlsd: HlsdServer) -> None:
    path = "/ingest/cam/" + "a" * 60_000 + ".ts"
    with httpx.Client(base_url=hlsd.url, timeout=60) as c, HealthProbe(hlsd.url) as probe:
        for _ in range(3):
            response, took = _timed(c.build_request("PUT", path, content=b"x"), c)
            assert 400 <= response.status_code < 500
            assert took < 1.0
    _assert_unstalled(probe)


def test_a_huge_segment_name_in_a_keyed_playlist_is_refused_at_once(hlsd: HlsdServer,
                                                                      ) -> None:
    playlist = ("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
                "#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\n" + "b" * 70_000 + ".ts\n")
    with httpx.Client(base_url=hlsd.url, timeout=60,
                      headers={"authorization": f"Bearer {KEY}"}) as c, \
            HealthProbe(hlsd.url) as probe:
        for _ in range(3):
            response, took = _timed(c.build_request(
                "PUT", "/ingest/longname/index.m3u8", content=playlist.encode()), c)
            assert 400 <= response.status_code < 500, response.text[:200]
            assert took < 1.0
    _assert_unstalled(probe)


def test_request_text_cannot_forge_a_log_line(hlsd: HlsdServer) -> None:
    forged = "2026-12-06 12:00:00,000 INFO hlsd.app: admin key accepted"
    path = "/ingest/x%0A" + forged.replace(" ", "%20") + "%1B%5B2J/seg.ts"
    with httpx.Client(base_url=hlsd.url, timeout=30) as c:
        assert c.put(path, content=b"x").status_code in (400, 401, 403)
    log = hlsd.log_text()
    assert "\x1b" not in log
    assert not any(line.startswith(forged) for line in log.splitlines())
    refusals = [line for line in log.splitlines() if "admin key accepted" in line]
    assert refusals and all("\\n" in line for line in refusals)
