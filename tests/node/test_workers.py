"""Live streams on several worker processes (`hlsd serve --workers N`), end to end: real
ffmpeg publishers over HTTP push and continuous HTTP, a websocket publisher, players on
fresh connections landing on whichever worker the kernel picks, LL-HLS blocking
reloads, a recording made once, and workers killed with SIGKILL.

Which worker answered is told by ``/api/health``'s ``node`` part, asked first on the
same keep-alive connection (a connection stays with the worker that took it).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import psutil
import pytest

from hlsd.hls.check import assert_valid
from tests._support.hlsd_server import HlsdServer, free_port
from tests._support.media import FFMPEG, decode_errors, hls_folder
from tests._support.polling import wait_until
from tests._support.publisher import LivePublisher
from tests._support.wscdn import open_session, push

KEY = "publish-key-1"
AUTH = {"Authorization": f"Bearer {KEY}"}
_SOURCE = ["-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
           "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30",
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k"]


def _config(rtmp: int | None = None, files: Path | None = None) -> dict[str, object]:
    return {"live": {"publish_keys": [KEY], "segment_duration": 1.0, "part_duration": 0.2,
                     "idle_timeout": 6},
            "livemix": {"file_roots": [str(files)] if files else []},
            "rtmp": {"listen": f"127.0.0.1:{rtmp}" if rtmp else None},
            "srt": {"listen": None}, "websocket": {"listen": None}}


class Node:
    """A server of several workers, and what the tests ask of it."""

    def __init__(self, server: HlsdServer, workers: int, rtmp: int | None = None) -> None:
        self.server = server
        self.workers = workers
        self.rtmp = rtmp
        self.url = server.url
        self.run_dir = wait_until(self._run_dir, timeout=20, what="the node's run folder")
        self.wait_whole()

    def _run_dir(self) -> Path | None:
        """`hlsd serve` makes it in the temp dir, which `_server` points at the test's."""
        found = list(self.server.dir.glob("hlsd-node-*"))
        return found[0] if found else None

    def worker_pids(self) -> set[int]:
        return {int(p.name[2:-5]) for p in self.run_dir.glob("w-*.sock")}

    def leader(self) -> int:
        return int((self.run_dir / "leader.lock").read_text())

    def wait_whole(self) -> None:
        """Until every worker listens and follows all the others."""
        def whole() -> bool:
            pids = self.worker_pids()
            if len(pids) != self.workers or not all(psutil.pid_exists(p) for p in pids):
                return False
            seen = {}
            for _ in range(8 * self.workers):
                node = httpx.get(self.url + "/api/health", timeout=5).json()["node"]
                seen[int(node["worker"])] = node["following"]
            return set(seen) == pids and all(n == self.workers - 1 for n in seen.values())
        wait_until(whole, timeout=30, what=f"{self.workers} workers following each other")

    @contextmanager
    def on_some_worker(self) -> Iterator[tuple[httpx.Client, int]]:
        """A fresh connection and the worker that took it."""
        with httpx.Client(base_url=self.url, timeout=15) as client:
            yield client, int(client.get("/api/health").json()["node"]["worker"])


def _server(tmp_dir: Path, engine: str, workers: int, rtmp: int | None = None) -> HlsdServer:
    return HlsdServer(_config(rtmp, tmp_dir / "livemix"), tmp_dir=tmp_dir,
                      env={"TMPDIR": str(tmp_dir)},
                      extra_args=["--workers", str(workers), "--server", engine])


@pytest.fixture(scope="module", params=[("granian", 2), ("uvicorn", 3)],
                ids=["granian-2", "uvicorn-3"])
def node(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    engine, workers = request.param
    rtmp = free_port()
    with _server(tmp_path_factory.mktemp(f"{engine}-{workers}"), engine, workers,
                 rtmp) as server:
        yield Node(server, workers, rtmp)


def _segments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


Check = Callable[[httpx.Client], None]


def _until_every_worker(node: Node, check: Check, attempts: int = 400,
                        at_least: int = 0) -> dict[int, int]:
    """`check(client)` on fresh connections until each worker has passed it at least
    twice, and `at_least` checks passed in all; how many times each did."""
    passed: dict[int, int] = {}
    for _ in range(max(attempts, at_least)):
        with node.on_some_worker() as (client, worker):
            check(client)
        passed[worker] = passed.get(worker, 0) + 1
        if len(passed) == node.workers and min(passed.values()) >= 2 \
                and sum(passed.values()) >= at_least:
            return passed
    raise AssertionError(f"not every worker was reached: {passed}")


def test_a_pushed_stream_plays_on_every_worker_and_is_recorded_once(node: Node) -> None:
    stream = f"push-{node.workers}"
    with LivePublisher(f"{node.url}/ingest/{stream}", headers=AUTH, duration=40,
                       size="320x240", seconds_per_segment=1):
        playlist = f"/live/{stream}/index.m3u8"
        wait_until(lambda: _segments(httpx.get(node.url + playlist).text)[2:] or None,
                   timeout=30, what="three segments")
        # The recording request may land on any worker: the leader records.
        with node.on_some_worker() as (client, _):
            started = client.post(f"/api/streams/{stream}/recordings")
        assert started.status_code == 201, started.text
        rid = started.json()["id"]
        fetched: dict[str, str] = {}

        def plays(client: httpx.Client) -> None:
            response = client.get(playlist)
            assert response.status_code == 200, response.text
            assert_valid(response.text, live=True)
            for uri in _segments(response.text)[-2:]:
                segment = client.get(f"/live/{stream}/{uri}")
                assert segment.status_code == 200, (uri, segment.status_code)
                digest = hashlib.sha256(segment.content).hexdigest()
                # One URI, the same bytes, whichever worker served it.
                assert fetched.setdefault(uri, digest) == digest
        at_start = _sequence(httpx.get(node.url + playlist).text)
        # Hundreds of requests, each connection new: a playlist and what it names.
        _until_every_worker(node, plays, at_least=100)
        wait_until(lambda: _sequence(httpx.get(node.url + playlist).text) >= at_start + 4,
                   timeout=30, what="four more segments")
        _until_every_worker(node, plays)
        with node.on_some_worker() as (client, _):
            final = client.get(playlist).text
            last = {uri: hashlib.sha256(client.get(f"/live/{stream}/{uri}").content).digest()
                    for uri in _segments(final)}
            assert client.post(f"/api/recordings/{rid}/stop").status_code == 200
    with httpx.Client(base_url=node.url, timeout=15) as c:
        recordings = c.get(f"/api/streams/{stream}/recordings").json()["recordings"]
        assert [r["id"] for r in recordings] == [rid]  # one, not one per worker
        replay = c.get(f"/recordings/{rid}/index.m3u8").text
        uris = _segments(replay)
        recorded = [hashlib.sha256(c.get(f"/recordings/{rid}/{uri}").content).digest()
                    for uri in uris]
    # Every segment exactly once: no repeats, none missing between the first and last.
    assert len(set(recorded)) == len(recorded) >= 4
    times = [datetime.fromisoformat(t) for t in
             re.findall(r"#EXT-X-PROGRAM-DATE-TIME:(\S+)", replay)]
    durations = [float(d) for d in re.findall(r"#EXTINF:([\d.]+)", replay)]
    for before, after, duration in zip(times, times[1:], durations, strict=False):
        assert abs((after - before).total_seconds() - duration) < 0.1, replay
    kept = [digest for digest in last.values() if digest in recorded]
    assert len(kept) >= 3  # what the stream held at the stop is in the recording
    assert decode_errors(f"{node.url}/recordings/{rid}/index.m3u8") == ""


def test_a_livemix_camera_plays_on_every_worker(node: Node) -> None:
    """LiveMix's sources are in the database every worker reads; its playlists go to the
    leader, and its segments are read from the folder the camera writes in."""
    folder = node.server.dir / "livemix"
    folder.mkdir(exist_ok=True)
    name = f"camera-{node.workers}"
    with httpx.Client(base_url=node.url, timeout=10, headers=AUTH) as c:
        sid = c.post("/v1/source", json={"name": name, "segment_len": 1}).json()["source"]["id"]
        assert c.put(f"/v1/source/{sid}/streaming",
                     params={"new_state": "true"}).status_code == 200
    camera = subprocess.Popen([
        FFMPEG, "-hide_banner", "-v", "error", "-re",
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "30",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-sc_threshold", "0",
        "-pix_fmt", "yuv420p", "-f", "hls", "-hls_time", "1", "-hls_list_size", "5",
        "-hls_segment_filename", str(folder / f"{name}-%d.ts"),
        "-headers", f"Video-Source-Name: {name}\r\nMPEG-TS-URI-Prefix: file://{folder}\r\n"
                    f"Authorization: Bearer {KEY}\r\n",
        "-method", "POST", f"{node.url}/v1/playlist"])
    try:
        url = f"/v1/vod/live/{sid}/vid.m3u8"
        wait_until(lambda: _segments(httpx.get(node.url + url).text)[1:] or None,
                   timeout=30, what="two LiveMix segments")

        def plays(client: httpx.Client) -> None:
            response = client.get(url)
            assert response.status_code == 200, response.text
            assert_valid(response.text, live=True)
            for uri in _segments(response.text)[-2:]:
                segment = client.get(f"/v1/vod/live/{sid}/{uri}")
                assert segment.status_code == 200 and segment.content[0] == 0x47
        _until_every_worker(node, plays)
    finally:
        camera.kill()
        camera.wait()


def _last_part(text: str) -> tuple[int, int]:
    sequence = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)[1])  # type: ignore[index]
    msn, part = sequence, -1
    for line in text.splitlines():
        if line.startswith("#EXT-X-PART:"):
            part += 1
        elif line and not line.startswith("#"):
            msn, part = msn + 1, -1
    return msn, part


@pytest.mark.parametrize("protocol", ["http-ts", "rtmp"])
def test_blocking_reloads_are_answered_by_every_worker(node: Node, protocol: str) -> None:
    """A continuous upload is published by the worker that took it, RTMP by the leader
    (which listens): LL-HLS from either on every worker."""
    stream = f"ll-{protocol}-{node.workers}"
    target = (["-f", "mpegts", "-method", "PUT", f"{node.url}/ingest/{stream}.ts?key={KEY}"]
              if protocol == "http-ts" else
              ["-f", "flv", f"rtmp://127.0.0.1:{node.rtmp}/live/{stream}?key={KEY}"])
    ffmpeg = subprocess.Popen(
        [FFMPEG, "-hide_banner", "-nostdin", "-v", "error", *_SOURCE, "-t", "40", *target],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"/live/{stream}/index.m3u8"

        def with_parts() -> str | None:
            r = httpx.get(node.url + url, timeout=5)
            return r.text if r.status_code == 200 and "#EXT-X-PART:" in r.text \
                and r.text.count("#EXTINF") >= 2 else None
        wait_until(with_parts, timeout=30, what="LL-HLS parts")

        def blocks(client: httpx.Client) -> None:
            msn, part = _last_part(client.get(url).text)
            asked = (msn, part + 1)
            r = client.get(url, params={"_HLS_msn": asked[0], "_HLS_part": asked[1]})
            assert r.status_code == 200, r.text
            assert_valid(r.text, live=True)
            assert _last_part(r.text) >= asked or _last_part(r.text)[0] > msn
            hinted = re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"', r.text)
            assert hinted is not None
            # The hinted part is held until it exists, then served, by this worker.
            assert client.get(f"/live/{stream}/{hinted[1]}").status_code == 200
        _until_every_worker(node, blocks, attempts=200)
        assert decode_errors(node.url + url, seconds=3) == ""
    finally:
        ffmpeg.kill()
        ffmpeg.wait()


def test_a_websocket_publisher_plays_on_every_worker(node: Node, tmp_path: Path) -> None:
    folder = hls_folder(tmp_path / "hls", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
                        "-f", "lavfi", "-i", "sine", "-t", "3")
    fragments = [p.read_bytes() for p in sorted(folder.glob("*.ts"),
                                                key=lambda p: int(re.sub(r"\D", "", p.stem)))]
    stream = f"ws-{node.workers}"

    async def publish() -> None:
        ws, answer = await open_session(node.url.replace("http", "ws", 1) + "/ws", "PUSH",
                                        stream)
        assert answer[0] == "OK", answer
        await push(ws, fragments[:3], duration=1.0)
        try:
            await asyncio.get_running_loop().run_in_executor(None, check_every_worker)
        finally:
            await ws.close()

    def check_every_worker() -> None:
        def plays(client: httpx.Client) -> None:
            def three() -> str | None:
                r = client.get(f"/live/{stream}/index.m3u8")
                return r.text if r.status_code == 200 and r.text.count("#EXTINF") >= 3 \
                    else None
            text = wait_until(three, timeout=10, what="three fragments")
            for uri in _segments(text):
                assert client.get(f"/live/{stream}/{uri}").status_code == 200
        _until_every_worker(node, plays)

    asyncio.run(publish())


@pytest.mark.parametrize(("engine", "workers"), [("granian", 3), ("uvicorn", 2)])
def test_a_worker_killed_mid_stream_leaves_the_node_serving(engine: str, workers: int,
                                                           tmp_path: Path) -> None:
    with _server(tmp_path, engine, workers) as server:
        node = Node(server, workers)
        stream = "killed"
        playlist = f"/live/{stream}/index.m3u8"
        with LivePublisher(f"{node.url}/ingest/{stream}", headers=AUTH, duration=60,
                           size="320x240", seconds_per_segment=1):
            wait_until(lambda: _segments(httpx.get(node.url + playlist).text)[2:] or None,
                       timeout=30, what="three segments")
            for victim in ("leader", "follower"):
                before = _sequence(httpx.get(node.url + playlist).text)
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
                    assert _sequence(text) > before + 1, text
                    for uri in _segments(text):
                        assert client.get(f"/live/{stream}/{uri}").status_code == 200
                wait_until(lambda: _passes(node, goes_on), timeout=30,
                           what=f"the stream going on after the {victim} was killed")
                _until_every_worker(node, goes_on)
            assert server.running


def _passes(node: Node, check: Check) -> bool:
    with node.on_some_worker() as (client, _):
        try:
            check(client)
        except AssertionError:
            return False
    return True


def _sequence(text: str) -> int:
    found = re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)
    return int(found[1]) if found else -1
