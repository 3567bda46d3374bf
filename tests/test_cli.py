"""``hlsd`` as an operator runs it: no config at all, embedded defaults."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests._support.hlsd_server import REPO_ROOT, free_port


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HLSD_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def test_version() -> None:
    out = subprocess.run([sys.executable, "-m", "hlsd", "version"], capture_output=True,
                         text=True, env=_env(), check=True)
    assert out.stdout.strip().count(".") == 2


def test_serve_starts_with_no_config_on_loopback_with_a_local_data_dir(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hlsd", "serve", "--port", str(port)],
                            cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        assert r.status_code == 200
        assert (tmp_path / "hlsd-data" / "cache").is_dir()
        assert (tmp_path / "hlsd-data" / "token-secret").is_file()
        assert (tmp_path / "hlsd-data" / "hlsd.db").is_file()  # embedded SQLite metadata
        # No handshake configured: loopback callers may ask for tokens, but there is
        # no upstream yet, which is said plainly.
        token = httpx.post(f"http://127.0.0.1:{port}/api/token", json={"qid": "x"})
        assert token.status_code == 503 and "no upstream" in token.json()["error"]
    finally:
        proc.terminate()
        output = proc.communicate(timeout=15)[0].decode()
    assert "127.0.0.1" in output and "no handshake configured" in output


def test_a_bad_config_fails_fast_with_the_reason(tmp_path: Path) -> None:
    cfg = tmp_path / "hls.yaml"
    cfg.write_text("cache:\n  size: lots\n")
    out = subprocess.run([sys.executable, "-m", "hlsd", "serve", "--config", str(cfg)],
                         capture_output=True, text=True, env=_env(), timeout=30, check=False)
    assert out.returncode != 0
    assert "config error cache.size: Value error, not a size: 'lots'" in out.stderr
    assert "Traceback" not in out.stderr
