"""Self-tests of tests/_support/hlsd_server.py against the real `python -m hlsd serve`."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
import yaml

from tests._support.hlsd_server import HlsdServer, HlsdStartError


def _status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return int(resp.status)


def test_starts_answers_health_and_restarts_on_the_same_port(tmp_path: Path) -> None:
    config = {"handshake": "test-handshake", "cache": {"dir": "cache"}}
    with HlsdServer(config, tmp_dir=tmp_path) as hlsd:
        assert hlsd.url == f"http://127.0.0.1:{hlsd.port}"
        assert _status(hlsd.url + "/api/health") == 200
        assert yaml.safe_load(hlsd.config_path.read_text()) == config
        first_pid, port = hlsd.pid, hlsd.port
        hlsd.restart()
        assert (hlsd.port, hlsd.starts) == (port, 2) and hlsd.pid != first_pid
        assert _status(hlsd.url + "/api/health") == 200
    assert not hlsd.running
    assert "hlsd start #2" in hlsd.log_text()


def test_a_process_that_dies_fails_fast_with_its_log(tmp_path: Path) -> None:
    server = HlsdServer({}, tmp_dir=tmp_path, extra_args=["--no-such-option"])
    with pytest.raises(HlsdStartError, match="exited with code") as err:
        server.start()
    assert "--no-such-option" in str(err.value)
    assert not server.running
