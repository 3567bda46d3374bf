"""The publisher: ``hlsd publish`` run as a real command against a real hlsd, over the
websocket and over HTTP push; the library's queue across a server restart."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from hlsd.client import WebsocketPublisher
from hlsd.hls.rules import assert_valid
from tests._support import media as fx
from tests._support.fragments import ts_fragments
from tests._support.hlsd_server import HlsdServer

SECRET = "a-push-secret-long-enough-for-hs256!"
KEY = "publish-key"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.h264_aac_mp4(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=6)


def run_publish(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hlsd", "publish", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_publish_over_the_websocket(tmp_path: Path, clip: Path) -> None:
    cfg = {"websocket": {"push_secret": SECRET}, "live": {"window": 10}}
    with HlsdServer(cfg, tmp_dir=tmp_path) as server:
        done = run_publish(str(clip), "--stream", "pub-ws", "--to",
                           f"ws://127.0.0.1:{server.port}/ws", "--secret", SECRET,
                           "--segment", "1")
        assert done.returncode == 0, done.stderr + done.stdout
        text = httpx.get(f"{server.url}/live/pub-ws/index.m3u8").text
        assert_valid(text)
        assert text.rstrip().endswith("#EXT-X-ENDLIST")  # CLOSE was sent at the end
        assert sum(float(line[8:].rstrip(",")) for line in text.splitlines()
                   if line.startswith("#EXTINF:")) > 5.0
        assert fx.decode_errors(f"{server.url}/live/pub-ws/index.m3u8") == ""
        wrong = run_publish(str(clip), "--stream", "pub-x", "--to",
                            f"ws://127.0.0.1:{server.port}/ws", "--secret", "wrong-secret")
        assert wrong.returncode == 1 and "AUTH_ERROR" in wrong.stderr + wrong.stdout


def test_publish_over_http_push(tmp_path: Path, clip: Path) -> None:
    with HlsdServer({"live": {"publish_keys": [KEY], "window": 10, "idle_timeout": "3s"}},
                    tmp_dir=tmp_path) as server:
        done = run_publish(str(clip), "--stream", "pub-http", "--to", server.url, "--key", KEY,
                           "--segment", "1")
        assert done.returncode == 0, done.stderr + done.stdout
        text = httpx.get(f"{server.url}/live/pub-http/index.m3u8").text
        assert_valid(text)
        assert fx.decode_errors(f"{server.url}/live/pub-http/index.m3u8") == ""


async def test_the_library_queues_while_it_reconnects(tmp_path: Path) -> None:
    fragments = ts_fragments(tmp_path, count=8)
    with HlsdServer({"websocket": {"push_secret": SECRET}, "live": {"window": 20}},
                    tmp_dir=tmp_path / "node") as server:
        url = f"ws://127.0.0.1:{server.port}/ws"
        async with WebsocketPublisher(url, "queued", secret=SECRET, max_queue=10) as pub:
            for data in fragments[:3]:
                pub.send(1.0, data)
            await _until(lambda: pub.stats.sent == 3)
            server.kill()
            for data in fragments[3:6]:  # the server is down: these wait in the queue
                pub.send(1.0, data)
            await asyncio.sleep(0.5)
            assert pub.stats.sent == 3
            server.start()
            await _until(lambda: pub.stats.sent == 6, timeout=20)
            assert pub.stats.reconnects >= 1 and pub.stats.dropped == 0
        async with httpx.AsyncClient(base_url=server.url) as c:
            text = (await c.get("/live/queued/index.m3u8")).text
        assert text.count("#EXTINF") == 3  # what reached the restarted node
        assert text.rstrip().endswith("#EXT-X-ENDLIST")


async def _until(condition: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("target", ["ws", "http"])
def test_a_terminated_publisher_leaves_no_ffmpeg_behind(tmp_path: Path, clip: Path,
                                                        target: str) -> None:
    with HlsdServer({"live": {"publish_keys": [KEY]}}, tmp_dir=tmp_path) as server:
        to = f"ws://127.0.0.1:{server.port}/ws" if target == "ws" else server.url
        proc = subprocess.Popen([sys.executable, "-m", "hlsd", "publish", str(clip),
                                 "--stream", f"term-{target}", "--to", to, "--key", KEY,
                                 "--loop", "--segment", "1"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            children: list[psutil.Process] = []
            while not children:
                assert time.monotonic() < deadline, "the publisher never started ffmpeg"
                time.sleep(0.2)
                children = [c for c in psutil.Process(proc.pid).children(recursive=True)
                            if "ffmpeg" in c.name()]
            proc.terminate()
            proc.wait(15)
            _gone, alive = psutil.wait_procs(children, timeout=10)
            assert not alive, f"ffmpeg outlived its publisher: {alive}"
        finally:
            if proc.poll() is None:
                proc.kill()
