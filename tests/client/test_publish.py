"""The publisher: ``hlsd publish`` run as a real command against a real hlsd, over the
websocket and over HTTP push; a refused key or secret stops it at once (exit 3), at the
start or later; the library's queue across a server restart."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from hlsd.client import WebsocketPublisher
from hlsd.hls.check import assert_valid
from tests._support import media as fx
from tests._support.fragments import ts_fragments
from tests._support.hlsd_server import REPO_ROOT, HlsdServer
from tests._support.polling import wait_until
from tests._support.tcp_relay import TcpRelay

SECRET = "a-push-secret-long-enough-for-hs256!"
KEY = "publish-key"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.h264_aac_mp4(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=6)


def publish_env(**more: str) -> dict[str, str]:
    """The runner's environment without its keys and secrets (they would be taken
    for the command's), with the worktree's hlsd first."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HLSD_", "PUSH_SECRET"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                      env.get("PYTHONPATH")]))
    return {**env, "COLUMNS": "200", **more}


def run_publish(*args: str, timeout: float = 60, env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess[str]:
    """The command to its end; past `timeout`, it and its ffmpeg are killed (a looping
    ffmpeg outlives a publisher killed alone) and the test fails."""
    command = [sys.executable, "-m", "hlsd", "publish", *args]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=env or publish_env(),
                          start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def said(done: subprocess.CompletedProcess[str]) -> str:
    return " ".join((done.stderr + done.stdout).split())


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


def test_a_refused_push_secret_stops_the_publisher_at_once(tmp_path: Path, clip: Path
                                                           ) -> None:
    """With 30 s fragments, a publisher that waited for ffmpeg's first one (or went on
    reconnecting) would outlive the timeout."""
    with HlsdServer({"websocket": {"push_secret": SECRET}}, tmp_dir=tmp_path) as server:
        url = f"ws://127.0.0.1:{server.port}/ws"
        wrong = run_publish(str(clip), "--stream", "pub-x", "--to", url, "--loop",
                            "--segment", "30", "--secret", "a-wrong-secret-as-long-as-the-right",
                            timeout=20)
        assert wrong.returncode == 3, said(wrong)
        assert "the server refused the push secret (AUTH_ERROR: Invalid auth token): " \
               "check --secret (or PUSH_SECRET)" in said(wrong)
        none = run_publish(str(clip), "--stream", "pub-x", "--to", url, "--loop",
                           "--segment", "30", timeout=20)
        assert none.returncode == 3, said(none)
        assert "refused a push without a secret (AUTH_ERROR" in said(none)
        assert httpx.get(f"{server.url}/live/pub-x/index.m3u8").status_code == 404
        assert "pushing pub-x" not in server.log_text()

        # A stream another publisher holds is refused for good too (not retried).
        first = subprocess.Popen([sys.executable, "-m", "hlsd", "publish", str(clip),
                                  "--stream", "taken", "--to", url, "--secret", SECRET,
                                  "--loop", "--segment", "1"], env=publish_env(),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
        try:
            wait_until(lambda: httpx.get(f"{server.url}/live/taken/index.m3u8")
                       .status_code == 200, 30, "the first publisher is on")
            second = run_publish(str(clip), "--stream", "taken", "--to", url, "--secret",
                                 SECRET, "--loop", "--segment", "30", timeout=20)
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        assert second.returncode == 1, said(second)
        assert "the server refused the stream (PUSH_ERROR: There is already another " \
               "connection pushing" in said(second)


def test_publish_over_http_push(tmp_path: Path, clip: Path) -> None:
    with HlsdServer({"live": {"publish_keys": [KEY], "window": 10, "idle_timeout": "3s"}},
                    tmp_dir=tmp_path) as server:
        # The key from the environment: it need not be typed (nor shown by ps).
        done = run_publish(str(clip), "--stream", "pub-http", "--to", server.url,
                           "--segment", "1", env=publish_env(HLSD_PUBLISH_KEY=KEY))
        assert done.returncode == 0, done.stderr + done.stdout
        text = httpx.get(f"{server.url}/live/pub-http/index.m3u8").text
        assert_valid(text)
        assert fx.decode_errors(f"{server.url}/live/pub-http/index.m3u8") == ""


def test_a_refused_publish_key_stops_the_http_publisher(tmp_path: Path, clip: Path) -> None:
    """ffmpeg ignores the answers to its uploads: the command asks about the key before
    it starts ffmpeg, and again while it runs."""
    with HlsdServer({"live": {"publish_keys": [KEY]}}, tmp_dir=tmp_path) as server:
        wrong = run_publish(str(clip), "--stream", "pub-k", "--to", server.url, "--loop",
                            "--key", "WRONG", timeout=20)
        assert wrong.returncode == 3, said(wrong)
        assert "the server refused the publish key (403 wrong publish key): check --key " \
               "(or HLSD_PUBLISH_KEY)" in said(wrong)
        none = run_publish(str(clip), "--stream", "pub-k", "--to", server.url, "--loop",
                           timeout=20)
        assert none.returncode == 3, said(none)
        assert "refused a publish without a key (401 a publish key is required" in said(none)
        bad_name = run_publish(str(clip), "--stream", "no such!", "--to", server.url,
                               "--key", KEY, timeout=20)
        assert bad_name.returncode == 2 and "refused the stream id 'no such!'" in said(bad_name)
        assert httpx.get(f"{server.url}/live/pub-k/index.m3u8").status_code == 404
        assert "ingest pub-k/" not in server.log_text()  # ffmpeg never pushed a thing



def test_a_key_refused_while_it_pushes_stops_the_http_publisher(tmp_path: Path,
                                                                clip: Path) -> None:
    """The key is asked about again while ffmpeg pushes: here the address starts
    leading to a node that does not know the key (as after a key rotation)."""
    with HlsdServer({"live": {"publish_keys": [KEY]}}, tmp_dir=tmp_path / "a") as first, \
            HlsdServer({"live": {"publish_keys": ["another-key"]}},
                       tmp_dir=tmp_path / "b") as second, \
            TcpRelay(("127.0.0.1", first.port)) as relay:
        relay.restore()
        proc = subprocess.Popen([sys.executable, "-m", "hlsd", "publish", str(clip),
                                 "--stream", "pub-r", "--to", f"http://127.0.0.1:{relay.port}",
                                 "--key", KEY, "--loop", "--segment", "1"],
                                env=publish_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            wait_until(lambda: httpx.get(f"{first.url}/live/pub-r/index.m3u8")
                       .status_code == 200, 30, "the stream is on")
            relay.target = ("127.0.0.1", second.port)  # new connections go there
            output = proc.communicate(timeout=30)[0]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert proc.returncode == 3, output
        assert "refused the publish key (403 wrong publish key)" in " ".join(output.split())


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
