"""A real nginx as a reverse proxy in front of a test server.

    with HlsdServer(cfg) as hlsd, Nginx(hlsd.url, tmp_dir=tmp_path) as proxy:
        httpx.put(proxy.url + "/ingest/cam/seg-0.ts", content=b"...")
        proxy.access()            # one AccessEntry per request nginx finished

nginx runs in the foreground (`daemon off`) from its own prefix folder (config, pid,
logs, temp paths), on an ephemeral loopback port, with request buffering on (nginx's
default: a request's body is read whole, to memory or a temp file, before it goes
upstream, which is what reorders uploads that a publisher sent one after the other).
`mirror` also sends a copy of every request, body included, to a second server (the
publisher module's `Recorder` keeps the bodies), so a test can know exactly what was
uploaded. The access log is JSON lines with each request's status and the upstream's.

`proxy_ignore_client_abort on`: ffmpeg's HLS muxer (``-http_persistent 0``, its default)
closes each upload's connection without reading the answer; with nginx's default (off)
nginx would then drop the request upstream (499), so an ingest proxy for ffmpeg sets it.

`hold`: requests whose path matches `hold_pattern` go through an ``auth_request`` to an
authorization endpoint that answers after `hold` seconds (a small server this class
runs), as a proxy that checks publish keys with an auth service does. nginx reads such a
request's body only after that, so a segment reaches the server after the playlist
ffmpeg sent right behind it: the reordering made certain instead of left to scheduling.

Availability: `/usr/sbin/nginx` (Debian's `nginx-light`; `.ci/run` installs it). When it
is missing, `require_nginx()` skips the test with the reason, or fails it when `CI` is
set, so CI cannot pass without running these tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from tests._support.environment import in_ci
from tests._support.hlsd_server import free_port
from tests._support.servers import Upstream

__all__ = ["NGINX", "AccessEntry", "Nginx", "NginxStartError", "nginx_skip_reason",
           "require_nginx"]

NGINX = os.environ.get("HLSD_TEST_NGINX", "/usr/sbin/nginx")

_LOG_FORMAT = (
    '{"method":"$request_method","uri":"$uri","status":"$status",'
    '"upstream_status":"$upstream_status","request_length":"$request_length",'
    '"request_time":"$request_time","msec":"$msec"}')


class NginxStartError(RuntimeError):
    """nginx did not come up; the message carries its error log."""


def nginx_skip_reason() -> str | None:
    """Why nginx tests cannot run here, or None when they can."""
    if os.path.isfile(NGINX) and os.access(NGINX, os.X_OK):
        return None
    return (f"nginx tests need {NGINX} (apt-get install nginx-light); .ci/run installs it")


def require_nginx() -> str:
    """The nginx binary; a test without it is skipped, or failed when CI is set."""
    reason = nginx_skip_reason()
    if reason is not None:
        if in_ci():
            pytest.fail(f"nginx is required when CI is set: {reason}")
        pytest.skip(reason)
    return NGINX


@dataclass(frozen=True)
class AccessEntry:
    """One request nginx finished, from its access log. `upstream_status` is what the
    proxied server answered ("" when it was never asked); `status` is what nginx logged
    for the client (499 when the client closed first)."""

    method: str
    uri: str
    status: int
    upstream_status: str
    request_length: int
    request_time: float
    msec: float

    @property
    def upstream_ok(self) -> bool:
        """The proxied server acknowledged the request with a 2xx (its last answer, when
        nginx tried more than one)."""
        last = self.upstream_status.split(",")[-1].split(":")[-1].strip()
        return last.isdigit() and 200 <= int(last) < 300


class Nginx:
    """nginx on 127.0.0.1:<port> proxying everything to `upstream` (a base URL)."""

    def __init__(self, upstream: str, *, tmp_dir: Path | None = None,
                 request_buffering: bool = True, max_body: str = "64m",
                 mirror: str | None = None, ignore_client_abort: bool = True,
                 hold: float = 0.0, hold_pattern: str = r"\.(ts|m4s|mp4|aac)$",
                 site: str | None = None, startup_timeout: float = 15.0) -> None:
        """`site`: nginx configuration of the http block to use instead of the server
        this class writes (a documented example, say); ``listen 80;`` in it becomes the
        ephemeral port, and ``http://127.0.0.1:8080`` the upstream."""
        self.binary = require_nginx()
        self.upstream = upstream.rstrip("/")
        self.request_buffering = request_buffering
        self.max_body = max_body
        self.mirror = mirror.rstrip("/") if mirror else None
        self.ignore_client_abort = ignore_client_abort
        self.hold = hold
        self.hold_pattern = hold_pattern
        self.site = site
        self._gate: Upstream | None = None
        self.startup_timeout = startup_timeout
        self._own_dir = tmp_dir is None
        self.dir = Path(tmp_dir) if tmp_dir is not None else Path(
            tempfile.mkdtemp(prefix="nginx-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.access_log = self.dir / "access.log"
        self.error_log = self.dir / "error.log"
        self.config_path = self.dir / "nginx.conf"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None

    def __enter__(self) -> Nginx:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def config(self) -> str:
        user = ""
        if os.geteuid() == 0:  # workers would otherwise run as nobody, locked out of dir
            user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n"
        temp = "".join(f"    {kind}_temp_path {self.dir / kind};\n"
                       for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        buffering = "on" if self.request_buffering else "off"
        proxy = (f"            proxy_pass {self.upstream};\n"
                 f"            proxy_request_buffering {buffering};\n"
                 "            proxy_set_header Host $http_host;\n"
                 "            proxy_read_timeout 60s;\n")
        if self.mirror:
            proxy += "            mirror /_mirror;\n            mirror_request_body on;\n"
        locations = "        location / {\n" + proxy + "        }\n"
        if self.mirror:
            locations += (
                "        location = /_mirror {\n"
                "            internal;\n"
                f"            proxy_pass {self.mirror}$request_uri;\n"
                "        }\n")
        if self._gate is not None:
            locations += (
                f'        location ~ "{self.hold_pattern}" {{\n'
                "            auth_request /_gate;\n" + proxy + "        }\n"
                "        location = /_gate {\n"
                "            internal;\n"
                f"            proxy_pass {self._gate.url}/gate;\n"
                "            proxy_pass_request_body off;\n"
                '            proxy_set_header Content-Length "";\n'
                "        }\n")
        abort = "on" if self.ignore_client_abort else "off"
        server = (
            "    server {\n"
            f"        listen 127.0.0.1:{self.port};\n"
            f"{locations}"
            "    }\n")
        if self.site is not None:
            server = (self.site.replace("listen 80;", f"listen 127.0.0.1:{self.port};")
                      .replace("http://127.0.0.1:8080", self.upstream))
        return (
            f"{user}daemon off;\n"
            "worker_processes 1;\n"
            f"pid {self.dir / 'nginx.pid'};\n"
            f"error_log {self.error_log} info;\n"
            "events { worker_connections 512; }\n"
            "http {\n"
            f"    log_format upload escape=json '{_LOG_FORMAT}';\n"
            f"    access_log {self.access_log} upload;\n"
            f"{temp}"
            f"    client_max_body_size {self.max_body};\n"
            f"    proxy_ignore_client_abort {abort};\n"
            f"{server}"
            "}\n")

    def start(self) -> Nginx:
        if self.running:
            raise RuntimeError("nginx is already running")
        if self.hold > 0 and self._gate is None:
            self._gate = Upstream()
            self._gate.add_bytes("/gate", b"")
            self._gate.add_delay("/gate", self.hold)
        for attempt in range(3):  # the ephemeral port may be taken between pick and bind
            self.port = free_port()
            self.config_path.write_text(self.config(), encoding="utf-8")
            self._out = (self.dir / "nginx.out").open("ab")
            self._proc = subprocess.Popen(
                [self.binary, "-p", str(self.dir), "-c", str(self.config_path),
                 "-e", str(self.error_log)],
                stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT,
                start_new_session=True)
            try:
                self._wait_listening()
                return self
            except NginxStartError:
                self.stop()
                if attempt == 2 or "Address already in use" not in self.errors():
                    raise
        return self

    def _wait_listening(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._proc.poll() is not None:
                raise NginxStartError(f"nginx exited with code {self._proc.returncode}\n"
                                      f"--- {self.error_log} ---\n{self.errors()}")
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(1)
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if time.monotonic() >= deadline:
                raise NginxStartError(f"nginx did not listen on {self.port} within "
                                      f"{self.startup_timeout:.0f} s\n{self.errors()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGQUIT (finish what is in flight), SIGKILL after `timeout` s."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGQUIT)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # its workers
        if self._out is not None:
            self._out.close()
            self._out = None

    def close(self) -> None:
        self.stop()
        if self._gate is not None:
            self._gate.close()
            self._gate = None
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def errors(self) -> str:
        try:
            return self.error_log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def access(self) -> list[AccessEntry]:
        """Every request nginx has finished so far, in the order it finished them."""
        try:
            lines = self.access_log.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for line in lines:
            if not line.endswith("}"):
                continue  # a line being written
            raw = json.loads(line)
            entries.append(AccessEntry(
                method=raw["method"], uri=raw["uri"], status=int(raw["status"]),
                upstream_status=raw["upstream_status"],
                request_length=int(raw["request_length"] or 0),
                request_time=float(raw["request_time"] or 0), msec=float(raw["msec"])))
        return entries
