"""``hlsd`` as an operator runs it: no config at all, embedded defaults."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

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
    assert f"the console: http://127.0.0.1:{port}/" in output


def test_a_bad_config_fails_fast_with_the_reason(tmp_path: Path) -> None:
    cfg = tmp_path / "hls.yaml"
    cfg.write_text("cache:\n  size: lots\n")
    out = subprocess.run([sys.executable, "-m", "hlsd", "serve", "--config", str(cfg)],
                         capture_output=True, text=True, env=_env(), timeout=30, check=False)
    assert out.returncode != 0
    assert "config error cache.size: Value error, not a size: 'lots'" in out.stderr
    assert "Traceback" not in out.stderr


def _hlsd(*args: str, cwd: Path | None = None, timeout: float = 30
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hlsd", *args], capture_output=True,
                          text=True, env={**_env(), "COLUMNS": "80"}, cwd=cwd,
                          timeout=timeout, check=False)


def test_a_malformed_yaml_config_is_one_line_naming_the_file_and_line(tmp_path: Path) -> None:
    cfg = tmp_path / "a-folder-with-a-long-name-so-that-the-line-is-longer-than-80" / "hls.yaml"
    cfg.parent.mkdir()
    cfg.write_text("port: 8080\ncache:\n  size: [1GB, 2GB\n  limit: 10\n")
    for command in ("serve", "worker"):
        out = _hlsd(command, "--config", str(cfg))
        assert out.returncode == 2, out.stderr
        assert out.stderr.strip() == (
            f"config error {cfg}, line 4, column 8: expected ',' or ']', but got ':' "
            "(while parsing a flow sequence, line 3)")


@pytest.mark.parametrize("engine", ["granian", "uvicorn"])
def test_a_folder_that_cannot_be_made_stops_the_start_in_one_line(tmp_path: Path,
                                                                  engine: str) -> None:
    """Made in the server's worker process, the folders would fail there with a
    traceback; they are made and checked before the engine starts."""
    (tmp_path / "a-file").write_text("not a folder\n")
    cfg = tmp_path / "hls.yaml"
    cfg.write_text("cache:\n  dir: a-file/cache\n")
    out = _hlsd("serve", "--config", str(cfg), "--port", str(free_port()), "--server", engine)
    assert out.returncode == 2, out.stderr + out.stdout
    assert out.stderr.strip() == (f"hlsd cannot start: cannot use {tmp_path}/a-file/cache "
                                  f"(cache.dir): {tmp_path}/a-file is not a folder")
    assert out.stdout == ""


def test_a_worker_whose_data_dir_is_a_file_stops_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder\n")
    cfg = tmp_path / "hls.yaml"
    cfg.write_text("data_dir: data\n")
    out = _hlsd("worker", "--config", str(cfg))
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == (f"hlsd cannot start: cannot use {tmp_path}/data (data_dir): "
                                  "it exists and is not a folder")


HELP_WIDTH = 78
"""click's help width for an 80-column terminal."""
SECTIONS = ("Arguments:", "Options:", "Commands:")
OPTION_LINE = re.compile(r"^  (-[a-z], )?--[a-z][a-z-]*( [A-Z][A-Z_]*)?( / --[a-z-]+)?"
                         r"(  +\S.*)?$")


@functools.cache  # each command's help is read once (a process start each)
def _help(*command: str) -> str:
    out = _hlsd(*command, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    return out.stdout


def _commands(text: str) -> list[str]:
    listed = text.partition("\nCommands:\n")[2]
    return [line.split()[0] for line in listed.splitlines() if line.startswith("  ")
            and not line.startswith("   ")]


def _check_help(command: tuple[str, ...], text: str) -> None:
    where = " ".join(command) or "hlsd"
    assert not re.search(r"<[a-z][a-z |]*>", text), f"{where}: a type in angle brackets"
    assert "``" not in text and "│" not in text and "[bold" not in text, where
    section = ""
    previous = ""
    for line in text.splitlines():
        if line in SECTIONS:
            section = line
        elif section == "Options:" and line.startswith("  -"):
            assert OPTION_LINE.match(line), f"{where}: {line!r}"
        # A line that goes on with the sentence of the one before must be a wrap
        # forced by the width, never a line break copied from a docstring.
        goes_on = (previous.strip() and line.strip() and previous not in SECTIONS
                   and not previous.startswith("Usage:")
                   and (line.startswith("   ") if section else line.startswith("  ")))
        if goes_on:
            assert len(previous) + 1 + len(line.split()[0]) > HELP_WIDTH, \
                f"{where}: a line broken early:\n{previous}\n{line}"
        previous = line


def test_help_reads_as_plain_text_with_metavars_and_no_early_line_breaks() -> None:
    top = _help()
    pending = [(name,) for name in _commands(top)]
    _check_help((), top)
    seen = []
    while pending:
        command = pending.pop(0)
        text = _help(*command)
        _check_help(command, text)
        pending += [(*command, name) for name in _commands(text)]
        seen.append(" ".join(command))
    assert {"serve", "publish", "worker", "check", "assets add", "assets list", "assets show",
            "assets cancel", "assets retry", "assets delete", "assets token"} <= set(seen)
    serve = _help("serve")
    assert "  -c, --config PATH " in serve and "\n  --help " in serve
    publish = _help("publish")
    assert "Usage: python -m hlsd publish [OPTIONS] SOURCE\n" in publish
    assert re.search(r"\n  --loop / --no-loop +Loop", publish)
    assert "[env var: HLSD_PUBLISH_KEY]" in publish
    check = _help("check")
    assert "Usage: python -m hlsd check [OPTIONS] URL\n" in check
    assert re.search(r"\n  --reloads N +Reloads", check) and "\n  --segments " in check
    for sub in ("add", "list", "show", "cancel", "retry", "delete", "token"):
        text = " ".join(_help("assets", sub).split())
        assert "--server URL" in text and "[env var: HLSD_SERVER_URL;" in text, sub
        assert "--key KEY" in text and "[env var: HLSD_ADMIN_KEY]" in text, sub


def test_a_control_that_takes_edges_refuses_several_workers(tmp_path: Path) -> None:
    cfg = tmp_path / "hls.yaml"
    cfg.write_text("livemix:\n  edge_keys: [edge-key-1]\n")
    out = _hlsd("serve", "--config", str(cfg), "--workers", "2", cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "livemix.edge_keys is set" in out.stderr and "workers: 1" in out.stderr
