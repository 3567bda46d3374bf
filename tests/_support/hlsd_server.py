"""Run hlsd as a real server process for end-to-end tests.

    with HlsdServer({"handshake": "hs", "url": {"audio": up.url + "/audio"}}, tmp_dir=tmp_path)
            as hlsd:
        httpx.get(hlsd.url + "/api/health")
        hlsd.restart()          # same port, same config: tokens must survive

The config dict is written as YAML (the seed's hls.yaml layout plus hlsd's own keys, as
given) into the server's directory, which is also its working directory, so relative
paths in the config (cache dirs, data dir) land there. The process is

    python -m hlsd serve --config <dir>/hls.yaml --host 127.0.0.1 --port <free port>

with stdout and stderr in `<dir>/hlsd.log`. A server that serves TLS itself (``tls:`` in
its config, or ``--tls-cert``/``--tls-key`` in `extra_args`) is given `client_tls`, the
context its clients verify it with: `url` is then ``https://``, and the health check
goes through it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

import yaml

__all__ = ["HlsdEdge", "HlsdServer", "HlsdStartError", "free_port"]

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Environment variables with these prefixes are not inherited from the test runner's
#: environment (they would override the config under test); pass them in `env` instead.
ISOLATED_ENV_PREFIXES = ("HLSD_", "PUSH_SECRET", "PULL_SECRET", "PUB_REG_", "RELAY_FROM_",
                         "RELAY_INACTIVITY", "EXTERNAL_WEBSOCKET_URL", "WEBSOCKET_PREFIX",
                         "FRAGMENT_BUFFER_MAX_LENGTH", "MAX_BINARY_MESSAGE_SIZE", "RATE_LIMIT_")
"""Environment the test servers do not inherit: hlsd's own, and hls-websocket-cdn's
variables, which hlsd reads as aliases."""


class HlsdStartError(RuntimeError):
    """hlsd did not come up; the message carries the tail of its log."""


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HlsdServer:
    """hlsd in a subprocess on 127.0.0.1:<port>, started by `start()` or `with`."""

    def __init__(self, config: dict[str, Any] | None = None, *,
                 env: dict[str, str] | None = None, tmp_dir: Path | None = None,
                 port: int | None = None, startup_timeout: float = 30.0,
                 extra_args: list[str] | None = None,
                 config_name: str = "hls.yaml",
                 client_tls: ssl.SSLContext | None = None) -> None:
        self.config: dict[str, Any] = dict(config or {})
        self.env_overrides = dict(env or {})
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args or [])
        self.client_tls = client_tls
        self._own_dir = tmp_dir is None
        self.dir = Path(tmp_dir) if tmp_dir is not None else Path(tempfile.mkdtemp(
            prefix="hlsd-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.dir / config_name
        self.log_path = self.dir / "hlsd.log"
        self.port = port if port is not None else free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0

    # -- context manager ----------------------------------------------------------
    def __enter__(self) -> HlsdServer:
        if self._proc is None:
            try:
                self.start()
            except BaseException:
                self.close()
                raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- addresses and state ------------------------------------------------------
    @property
    def url(self) -> str:
        scheme = "https" if self.client_tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "hlsd", "serve", "--config", str(self.config_path),
                "--host", "127.0.0.1", "--port", str(self.port), *self.extra_args]

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(ISOLATED_ENV_PREFIXES)}
        # The hlsd package must import even though the cwd is the server's directory.
        paths = [str(REPO_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.env_overrides)
        return env

    # -- lifecycle ----------------------------------------------------------------
    def write_config(self) -> Path:
        self.config_path.write_text(
            yaml.safe_dump(self.config, sort_keys=False, default_flow_style=False),
            encoding="utf-8")
        return self.config_path

    def start(self) -> HlsdServer:
        """Write the config, start the process, wait for GET /api/health → 200."""
        if self.running:
            raise RuntimeError("hlsd is already running")
        self.write_config()
        self.starts += 1
        self._log = self.log_path.open("ab")
        self._log.write(f"==== hlsd start #{self.starts}: {' '.join(self.command())}\n".encode())
        self._log.flush()
        self._proc = subprocess.Popen(
            self.command(), cwd=self.dir, env=self.environment(),
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        last = "no answer yet"
        while True:
            code = self._proc.poll()
            if code is not None:
                raise HlsdStartError(
                    f"hlsd exited with code {code} before /api/health answered\n"
                    f"--- {self.log_path} (tail) ---\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/api/health", timeout=2,
                                            context=self.client_tls) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except urllib.error.HTTPError as err:
                last = f"HTTP {err.code}"
            except (urllib.error.URLError, OSError) as err:
                last = str(getattr(err, "reason", err))
            if time.monotonic() >= deadline:
                raise HlsdStartError(
                    f"hlsd did not answer GET /api/health with 200 within "
                    f"{self.startup_timeout:.0f} s (last: {last})\n"
                    f"--- {self.log_path} (tail) ---\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` s; returns the exit code."""
        proc, self._proc = self._proc, None
        code: int | None = None
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    code = proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    code = proc.wait(timeout=10)
            else:
                code = proc.returncode
            # Anything hlsd itself started (workers) lives in its session: end it too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.write(f"==== hlsd stopped: exit code {code}\n".encode())
            self._log.close()
            self._log = None
        return code

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown runs. `start()` brings it back."""
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        if self._log is not None:
            self._log.write(b"==== hlsd killed\n")
            self._log.close()
            self._log = None
        self._wait_port_free()

    @property
    def data_dir(self) -> Path:
        """The default data dir (the config's ``data_dir`` unless it sets one)."""
        return self.dir / str(self.config.get("data_dir", "hlsd-data"))

    def restart(self) -> HlsdServer:
        """Stop and start again on the same port with the same config file."""
        self.stop()
        self._wait_port_free()
        return self.start()

    def _wait_port_free(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", self.port))
                    return
                except OSError:
                    time.sleep(0.05)

    def close(self) -> None:
        """Stop the server; remove its directory if this object created it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- logs ---------------------------------------------------------------------
    def log_text(self) -> str:
        if self._log is not None:
            self._log.flush()
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


class HlsdEdge(HlsdServer):
    """``hlsd edge`` in a subprocess: an edge node dialling `control` with `key` (given
    as ``HLSD_EDGE__KEY``, as an operator would keep it off the command line)."""

    def __init__(self, control: str, key: str, config: dict[str, Any] | None = None, *,
                 name: str = "edge-test", env: dict[str, str] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(config, env={"HLSD_EDGE__KEY": key, **(env or {})}, **kwargs)
        self.control = control
        self.name = name

    def command(self) -> list[str]:
        return [sys.executable, "-m", "hlsd", "edge", "--control", self.control,
                "--name", self.name, "--config", str(self.config_path),
                "--host", "127.0.0.1", "--port", str(self.port), *self.extra_args]
