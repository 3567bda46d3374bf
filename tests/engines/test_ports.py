"""A port that is taken is refused before any engine starts (granian binds with
SO_REUSEPORT, so a second server on a taken port used to start "ready" beside the
first, and the kernel split requests between two servers holding different data)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hlsd.engines import PortInUse, ensure_port_free
from tests._support.hlsd_server import HlsdServer, free_port


def test_a_free_port_passes_and_ephemeral_is_never_checked() -> None:
    ensure_port_free("127.0.0.1", free_port())
    ensure_port_free("127.0.0.1", 0)


@pytest.mark.parametrize("reuseport", [False, True])
def test_a_listening_socket_is_found_whatever_its_options(reuseport: bool) -> None:
    with socket.socket() as taken:
        if reuseport:
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse, match=f"port {port} on 127.0.0.1 is already in use"):
            ensure_port_free("127.0.0.1", port)
        # A wildcard listener takes the port on every address.
    with socket.socket() as wildcard:
        wildcard.bind(("0.0.0.0", 0))
        wildcard.listen()
        with pytest.raises(PortInUse):
            ensure_port_free("127.0.0.1", wildcard.getsockname()[1])


@pytest.mark.parametrize("engine", ["granian", "uvicorn"])
def test_a_second_server_on_a_taken_port_refuses_to_start(engine: str, tmp_path: Path,
                                                            ) -> None:
    with HlsdServer({"server": engine}, tmp_dir=tmp_path / "first") as first:
        second = subprocess.run(
            [sys.executable, "-m", "hlsd", "serve", "--port", str(first.port),
             "--server", engine], cwd=tmp_path, env=first.environment(),
            capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert f"port {first.port} on 127.0.0.1 is already in use" in second.stderr
        # The first server alone answers, every time.
        with httpx.Client(base_url=first.url, timeout=5) as c:
            for _ in range(20):
                assert c.get("/api/health").status_code == 200
