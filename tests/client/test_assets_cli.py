"""``hlsd assets`` run as a real command against a real hlsd: a clip goes to ready, a text
file to failed with its reason, a wrong key is a usage error; cancel, retry, delete and
token; the server and key from the environment; and the tus client resumes from the
server's offset after a connection cut off mid-chunk."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hlsd.client.tus import Retry, TusClient, TusError
from tests._support import media as fx
from tests._support.hlsd_server import REPO_ROOT, HlsdServer

ADMIN = {"authorization": "Bearer adm"}
CONFIG = {"admin_key": "adm",
          "assets": {"ladder": [{"name": "180p", "height": 180, "video_bitrate": "250k",
                                 "audio_bitrate": "48k"}],
                     "segment_duration": 2}}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.h264_aac_mp4(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=4,
                           size="320x180")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    with HlsdServer(CONFIG, tmp_dir=tmp_path_factory.mktemp("assets-cli")) as running:
        yield running


def run_assets(*args: str, env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
    # The runner's own HLSD_* (an admin key, say) must not leak into the command.
    base = {k: v for k, v in os.environ.items() if not k.startswith("HLSD_")}
    base["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.run([sys.executable, "-m", "hlsd", "assets", *args],
                          capture_output=True, text=True, timeout=90, check=False,
                          env={**base, **(env or {})})


def one_line(text: str) -> str:
    """Console output with its line wrapping undone."""
    return " ".join(text.split())


def wait_state(c: httpx.Client, asset_id: str, timeout: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, object] = c.get(f"/api/assets/{asset_id}").json()
        if body["state"] in {"ready", "failed", "cancelled"}:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def test_a_clip_goes_to_ready_and_the_command_prints_its_urls(server: HlsdServer,
                                                              clip: Path) -> None:
    done = run_assets("add", str(clip), "--server", server.url, "--key", "adm",
                      "--title", "Clip", "--wait")
    assert done.returncode == 0, done.stderr + done.stdout
    urls = dict(line.split() for line in done.stdout.splitlines())
    hls = urls["hls"]
    assert hls.startswith(f"{server.url}/vod/") and hls.endswith("/index.m3u8")
    assert "ready" in done.stderr and "180p" in done.stderr
    master = httpx.get(hls)
    assert master.status_code == 200 and "#EXT-X-STREAM-INF" in master.text
    asset_id = hls.split("/")[-2]
    show = run_assets("show", asset_id, "--server", server.url, env={"HLSD_ADMIN_KEY": "adm"})
    assert show.returncode == 0, show.stderr
    shown = json.loads(show.stdout)
    assert shown["state"] == "ready" and shown["title"] == "Clip"
    assert shown["size"] == clip.stat().st_size


def test_a_text_file_fails_with_its_reason(server: HlsdServer, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("this is not a video at all\n" * 40)
    done = run_assets("add", str(text), "--server", server.url, "--wait",
                      env={"HLSD_ADMIN_KEY": "adm"})
    assert done.returncode == 1, done.stderr + done.stdout
    out = one_line(done.stderr)
    with httpx.Client(base_url=server.url, headers=ADMIN) as c:
        failed = c.get("/api/assets", params={"state": "failed"}).json()["assets"]
    reason = next(a["reason"] for a in failed if a["title"] == "notes.txt")
    assert reason and f"failed: {one_line(reason)}" in out


def test_a_wrong_key_is_a_clear_usage_error(server: HlsdServer, clip: Path) -> None:
    with httpx.Client(base_url=server.url, headers=ADMIN) as c:
        before = len(c.get("/api/assets").json()["assets"])
        done = run_assets("add", str(clip), "--server", server.url, "--key", "wrong",
                          "--wait")
        assert done.returncode == 2, done.stderr + done.stdout
        out = one_line(done.stderr)
        assert "401" in out and "admin key" in out and "--key" in out
        assert len(c.get("/api/assets").json()["assets"]) == before


def test_the_server_and_key_come_from_the_environment(server: HlsdServer) -> None:
    done = run_assets("list", env={"HLSD_SERVER_URL": server.url, "HLSD_ADMIN_KEY": "adm"})
    assert done.returncode == 0, done.stderr
    wrong = run_assets("list", env={"HLSD_SERVER_URL": server.url, "HLSD_ADMIN_KEY": "no"})
    assert wrong.returncode == 2 and "401" in wrong.stderr


def test_cancel_retry_and_delete_an_asset(server: HlsdServer, tmp_path: Path) -> None:
    env = {"HLSD_SERVER_URL": server.url, "HLSD_ADMIN_KEY": "adm"}
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as c:
        waiting = c.post("/api/assets", json={"title": "never sent", "size": 1000}).json()
        cancelled = run_assets("cancel", waiting["id"], env=env)
        assert cancelled.returncode == 0, cancelled.stderr
        assert cancelled.stdout.split()[:2] == [waiting["id"], "cancelled"]
        assert c.get(f"/api/assets/{waiting['id']}").json()["state"] == "cancelled"
        again = run_assets("cancel", waiting["id"], env=env)
        assert again.returncode == 2 and "nothing to cancel" in one_line(again.stderr)

        text = tmp_path / "notes.txt"
        text.write_bytes(b"this is not a video at all\n" * 40)
        made = c.post("/api/assets", json={"title": "notes", "size": text.stat().st_size})
        bad = made.json()["id"]
        c.put(f"/api/assets/{bad}/content", content=text.read_bytes())
        assert wait_state(c, bad)["state"] == "failed"
        retried = run_assets("retry", bad, "--wait", env=env)
        assert retried.returncode == 1, retried.stderr  # it ran again, and failed again
        assert "failed: " in one_line(retried.stderr)
        assert c.get(f"/api/assets/{bad}").json()["state"] == "failed"
        queued = run_assets("retry", bad, env=env)
        assert queued.returncode == 0, queued.stderr
        assert queued.stdout.split()[:2] == [bad, "queued"]
        wait_state(c, bad)

        for asset_id in (waiting["id"], bad):
            deleted = run_assets("delete", asset_id, env=env)
            assert deleted.returncode == 0, deleted.stderr
            assert c.get(f"/api/assets/{asset_id}").status_code == 404
        gone = run_assets("delete", bad, env=env)
        assert gone.returncode == 2 and "404" in gone.stderr and bad in gone.stderr
        unknown = run_assets("retry", "no-such-asset", env=env)
        assert unknown.returncode == 2 and "no asset 'no-such-asset'" in one_line(unknown.stderr)


def test_a_token_plays_a_token_gated_asset(server: HlsdServer, clip: Path) -> None:
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as c:
        made = c.post("/api/assets", json={"title": "gated", "size": clip.stat().st_size,
                                           "access": "token"}).json()
        c.put(f"/api/assets/{made['id']}/content", content=clip.read_bytes())
        assert wait_state(c, made["id"])["state"] == "ready"
    master = f"{server.url}/vod/{made['id']}/index.m3u8"
    assert httpx.get(master).status_code == 401
    done = run_assets("token", made["id"], "--ttl", "10m", "--server", server.url,
                      "--key", "adm")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert httpx.get(master, params={"token": token}).status_code == 200
    expires = int(token.split(".")[0])
    assert 590 <= expires - time.time() <= 610
    assert f"play: {master}?token={token}" in one_line(done.stderr)
    as_json = run_assets("token", made["id"], "--json", "--server", server.url, "--key", "adm")
    assert as_json.returncode == 0, as_json.stderr
    assert set(json.loads(as_json.stdout)) == {"token", "expires"}
    too_long = run_assets("token", made["id"], "--ttl", "30d", "--server", server.url,
                          "--key", "adm")
    assert too_long.returncode == 2 and "422" in too_long.stderr


class CuttingProxy:
    """A TCP proxy to `port` that cuts its connection (a reset, both ways) once, when
    `cut_after` bytes have gone upstream; every later connection passes untouched."""

    def __init__(self, port: int, cut_after: int) -> None:
        self._target = port
        self._budget = cut_after
        self._lock = threading.Lock()
        self.cut = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self._target))
                threading.Thread(target=self._pump, args=(client, upstream, True),
                                 daemon=True).start()
                threading.Thread(target=self._pump, args=(upstream, client, False),
                                 daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(16384):
                if counted and not self.cut.is_set():
                    with self._lock:
                        allowed, self._budget = self._budget, self._budget - len(data)
                    if allowed < len(data):
                        sink.sendall(data[:max(allowed, 0)])
                        self.cut.set()
                        break
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                if self.cut.is_set():  # a reset, as a dropped network would give
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
                # Wakes the other direction's thread, blocked reading this socket: a
                # close alone would leave the connection open under it.
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def test_the_tus_client_resumes_from_the_servers_offset(server: HlsdServer,
                                                        clip: Path) -> None:
    size, chunk = clip.stat().st_size, 32 << 10
    proxy = CuttingProxy(server.port, cut_after=size // 2)
    retries: list[str] = []
    seen: list[int] = []
    try:
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=10) as c, \
                httpx.Client(base_url=proxy.url, headers=ADMIN, timeout=10) as via_proxy:
            asset = c.post("/api/assets", json={"title": "resumed", "size": size}).json()
            tus = TusClient(via_proxy, chunk_size=chunk, retry=Retry(backoff=0.05),
                            on_retry=lambda error, delay: retries.append(error))
            stats = tus.upload(asset["upload"]["url"], clip,
                               progress=lambda done, total: seen.append(done))
            assert proxy.cut.is_set() and len(retries) == stats.retries >= 1
            # Whole chunks before the cut were kept; the one cut off was sent again.
            resumed = stats.resumed_at[0]
            assert 0 < resumed < size and resumed % chunk == 0
            assert any(b < a for a, b in itertools.pairwise(seen))  # it went back
            assert seen[-1] == size
            assert tus.offset(asset["upload"]["url"]) == (size, size)
            ready = wait_state(c, asset["id"])
            assert ready["state"] == "ready", ready
    finally:
        proxy.close()


def test_the_tus_client_creates_uploads_and_stops_on_a_refusal(server: HlsdServer,
                                                                 tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(5000))
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=10) as c:
        tus = TusClient(c, chunk_size=1024)
        url = tus.create("/api/uploads", 5000, {"filename": "data.bin", "note": ""})
        assert url.startswith(server.url + "/api/uploads/")
        head = c.head(url, headers={"tus-resumable": "1.0.0"})
        assert head.headers["upload-metadata"] == "filename ZGF0YS5iaW4=,note"
        with pytest.raises(TusError, match="expects 5000 bytes"):
            tus.upload(url, empty)
        with httpx.Client(base_url=server.url, headers={"authorization": "Bearer no"}) as bad:
            slept: list[float] = []
            with pytest.raises(TusError) as refused:
                TusClient(bad, sleep=slept.append).upload(url, data)
            assert refused.value.status == 401 and slept == []  # a refusal is not retried
        seen: list[int] = []
        stats = tus.upload(url, data, progress=lambda done, total: seen.append(done))
        assert stats.chunks == 5 and stats.retries == 0 and seen[-1] == 5000
        # An empty file still completes its upload (one empty PATCH): its asset moves on.
        asset = c.post("/api/assets", json={"title": "empty", "size": 0}).json()
        assert tus.upload(asset["upload"]["url"], empty).chunks == 1
        assert wait_state(c, asset["id"])["state"] == "failed"
