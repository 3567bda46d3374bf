"""Serving throughput: hlsd (granian / uvicorn, 1 and 2 workers) against nginx, one run.

    python bench/serving.py [--duration 4] [--rounds 3] [--connections 32] [--threads 2]
                            [--engines granian:1,granian:2,uvicorn:1,uvicorn:2] [--no-ceiling]

Needs ``wrk`` and ``nginx`` (``apt-get install -y nginx wrk``). About 3.5 minutes.

The files: a 5-minute 720p H.264/AAC MP4 at 1.8 Mbit/s (generated once into bench/out/)
is served by a local `Upstream`; hlsd issues a token for it, and its media playlist and
one segment (~1.5 MB) are fetched through hlsd and copied into a directory that nginx
serves at the same URL paths. So every server sends the SAME bytes:

  segment   GET /hls/<rid>/seg-1.ts          (hlsd: cached segment file, token-checked)
  playlist  GET /hls/<rid>/playlist.m3u8     (hlsd: rendered once, cached bytes + ETag)

Anchor: nginx, a generated config in a temp dir, run in the foreground as a child
process (``daemon off; worker_processes 1; sendfile on; access_log off``) on a free
loopback port, keep-alive unbounded so that it is not penalised by reconnects.

Reference rows (not targets): ``_bare_asgi.py`` under granian, 1 worker: the same files
from a framework-free ASGI app with no token check, segments sent with pathsend (as
hlsd's FileResponse is under granian) or from one cached ``bytes`` object. They are the
ceilings of Python serving here: the gap between the pathsend row and hlsd is hlsd's
own request path (FastAPI, middleware, token check); the gap between the two rows is
the ASGI server's file path.

wrk: ``-t2 -c32 -d4s``, 3 rounds by default, the token in ``-H x-gostreamer-token: …``
(the others ignore it). Every server is started first and stays up; per URL, each gets
an untimed 2 s warm-up (every worker process builds its package then), then the rounds
visit the servers in turn, so background load drifts over all of them alike; req/s and
p99 are medians over the rounds. Non-2xx responses and socket errors are reported: a
run with errors is not a throughput figure.

Printed: req/s, GB/s of segment bodies (req/s x body size), p99 latency, the server's
CPU (all its processes, % of one core, and CPU microseconds per request), and the
ratios to nginx (targets: segments >= 0.8 of nginx req/s, playlists >= 0.3). On a
2-core machine wrk and the server share the cores, so absolute figures understate
both and extra workers compete with wrk; compare ratios and CPU per request.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urljoin

import _common as c
import httpx

TARGETS = {"segment": 0.8, "playlist": 0.3}
ENGINES = "granian:1,granian:2,uvicorn:1,uvicorn:2"
TIE = 0.10  # req/s this close to the best is within this benchmark's noise
SEGMENT_NUMBER = 1  # a full-length segment
WARMUP_SECONDS = 2.0
BENCH_DIR = Path(__file__).resolve().parent

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
    types {{
        video/mp2t ts;
        application/vnd.apple.mpegurl m3u8;
    }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 75s;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


@dataclass(frozen=True)
class Files:
    segment_path: str  # URL path, the same on every server
    playlist_path: str
    segment: bytes
    playlist: bytes
    token: str


@dataclass(frozen=True)
class Target:
    """A server under test: its base URL and the session id its processes share."""

    url: str
    session: int


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    requests: int
    p99_ms: float
    errors: str  # "" when every response was 2xx with no socket errors
    server_cpu_s: float
    wrk_cpu_s: float
    seconds: float

    def gbps(self, body_bytes: int) -> float:
        return self.requests_per_s * body_bytes / 1e9

    @property
    def cpu_percent(self) -> float:
        return 100 * self.server_cpu_s / self.seconds

    @property
    def cpu_us_per_request(self) -> float:
        return 1e6 * self.server_cpu_s / max(self.requests, 1)


_TIME_MS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def session_cpu_seconds(session: int) -> float:
    """User + system CPU of every live process in `session` (threads included)."""
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # fields[0] is the state (field 3)
        if int(fields[3]) == session:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def run_wrk(wrk: str, target: Target, path: str, token: str, *, threads: int,
            connections: int, seconds: float) -> WrkResult:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_before = session_cpu_seconds(target.session)
    out = subprocess.run(
        [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency",
         "-H", f"{c.TOKEN_HEADER}: {token}", target.url + path],
        check=True, capture_output=True, text=True, timeout=seconds + 60).stdout
    server_cpu = session_cpu_seconds(target.session) - cpu_before
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in ", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
    if rps is None or count is None or p99 is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    errors = []
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        errors.append(f"{m.group(1)} non-2xx")
    if m := re.search(r"Socket errors:(.*)", out):
        errors.append("socket errors:" + m.group(1))
    return WrkResult(requests_per_s=float(rps.group(1)), requests=int(count.group(1)),
                     p99_ms=float(p99.group(1)) * _TIME_MS[p99.group(2)],
                     errors="; ".join(errors), server_cpu_s=server_cpu, wrk_cpu_s=wrk_cpu,
                     seconds=seconds)


def fetch_files(base: str, qid: str) -> Files:
    """A token for `qid`, then its media playlist and one segment, through hlsd."""
    with httpx.Client(timeout=120) as client:
        issued = c.issue_token(client, base, qid)
        root = f"/hls/{quote(issued.rid, safe='')}/"
        master = client.get(base + root + "index.m3u8", headers=issued.headers)
        master.raise_for_status()
        playlist_path = urljoin(root, _uris(master.text)[0])
        playlist = client.get(base + playlist_path, headers=issued.headers)
        playlist.raise_for_status()
        uris = _uris(playlist.text)
        segment_path = urljoin(playlist_path, uris[min(SEGMENT_NUMBER, len(uris) - 1)])
        segment = client.get(base + segment_path, headers=issued.headers)
        segment.raise_for_status()
    return Files(segment_path=segment_path, playlist_path=playlist_path,
                 segment=segment.content, playlist=playlist.content, token=issued.token)


def _uris(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def write_docroot(files: Files, root: Path) -> None:
    """The files at their URL paths under `root`, readable by an unprivileged worker."""
    for path, body in ((files.segment_path, files.segment),
                       (files.playlist_path, files.playlist)):
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    # Started as root, nginx's master hands requests to an unprivileged worker: let it in.
    for p in (root.parent.parent, root.parent, root, *root.rglob("*")):
        p.chmod(0o755 if p.is_dir() else 0o644)


def _tail(path: Path, lines: int = 5) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_serving(url: str, files: Files, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until `url` serves the playlist; then check both files are the same bytes."""
    headers = {c.TOKEN_HEADER: files.token}
    deadline = time.monotonic() + 20
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}): {_tail(log)}")
        try:
            response = httpx.get(url + files.playlist_path, headers=headers, timeout=1)
        except httpx.HTTPError:
            response = None
        if response is not None:
            if response.content != files.playlist:
                raise RuntimeError(f"{url}: {response.status_code} {_tail(log)}")
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer: {_tail(log)}")
        time.sleep(0.05)
    check_same_bytes(url, files)


def check_same_bytes(url: str, files: Files) -> None:
    headers = {c.TOKEN_HEADER: files.token}
    for path, body in ((files.segment_path, files.segment),
                       (files.playlist_path, files.playlist)):
        got = httpx.get(url + path, headers=headers, timeout=60)
        got.raise_for_status()
        if got.content != body:
            raise RuntimeError(f"{url}{path}: different bytes")


@contextlib.contextmanager
def child_server(command: list[str], files: Files, port: int, log: Path,
                 stop_signal: signal.Signals) -> Iterator[Target]:
    """A foreground server process in its own session, stopped (all of it) on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                cwd=BENCH_DIR)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_serving(url, files, proc, log)
            yield Target(url, proc.pid)
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(stop_signal)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # stragglers of its own session


@contextlib.contextmanager
def nginx_serving(nginx: str, files: Files, tmp: Path) -> Iterator[Target]:
    root = tmp / "root"
    write_docroot(files, root)
    port = c.free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, root=root))
    with child_server([nginx, "-p", str(tmp), "-c", str(conf)], files, port,
                      tmp / "nginx.log", signal.SIGQUIT) as target:  # SIGQUIT: graceful
        yield target


@contextlib.contextmanager
def bare_asgi_serving(files: Files, tmp: Path, engine: str, workers: int,
                      segments: str) -> Iterator[Target]:
    root = tmp / "root"
    write_docroot(files, root)
    port = c.free_port()
    command = [sys.executable, str(BENCH_DIR / "_bare_asgi.py"), "--root", str(root),
               "--port", str(port), "--server", engine, "--workers", str(workers),
               "--segments", segments]
    with child_server(command, files, port, tmp / "bare.log", signal.SIGTERM) as target:
        yield target


@dataclass
class Server:
    name: str
    target: Target
    reference: bool = False


@dataclass
class Row:
    name: str
    segment: WrkResult
    playlist: WrkResult
    reference: bool = False


def combine(runs: list[WrkResult]) -> WrkResult:
    """Median req/s and p99 over rounds; CPU and request counts summed."""
    return WrkResult(requests_per_s=c.median([r.requests_per_s for r in runs]),
                     requests=sum(r.requests for r in runs),
                     p99_ms=c.median([r.p99_ms for r in runs]),
                     errors="; ".join(r.errors for r in runs if r.errors),
                     server_cpu_s=sum(r.server_cpu_s for r in runs),
                     wrk_cpu_s=sum(r.wrk_cpu_s for r in runs),
                     seconds=sum(r.seconds for r in runs))


def measure_all(wrk: str, servers: list[Server], files: Files,
                args: argparse.Namespace) -> list[Row]:
    """Per URL: a warm-up on every server, then rounds that visit every server in turn."""
    results: dict[str, dict[str, list[WrkResult]]] = {s.name: {} for s in servers}
    for kind, path in (("segment", files.segment_path), ("playlist", files.playlist_path)):
        for server in servers:
            run_wrk(wrk, server.target, path, files.token, threads=args.threads,
                    connections=args.connections, seconds=WARMUP_SECONDS)
        for n in range(args.rounds):
            for server in servers:
                r = run_wrk(wrk, server.target, path, files.token, threads=args.threads,
                            connections=args.connections, seconds=args.duration)
                results[server.name].setdefault(kind, []).append(r)
                print(f"  round {n + 1} {kind:<8} {server.name:<24} "
                      f"{r.requests_per_s:>9,.0f} req/s  p99 {r.p99_ms:6.1f} ms  "
                      f"server CPU {r.cpu_percent:4.0f}%  "
                      f"wrk CPU {100 * r.wrk_cpu_s / r.seconds:4.0f}%  {r.errors}",
                      file=sys.stderr, flush=True)
    return [Row(s.name, combine(results[s.name]["segment"]),
                combine(results[s.name]["playlist"]), s.reference) for s in servers]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=4, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3,
                        help="wrk runs per server and URL, interleaved (median)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--engines", default=ENGINES,
                        help="hlsd engine:workers list (default: %(default)s)")
    parser.add_argument("--no-ceiling", action="store_true",
                        help="skip the bare-ASGI reference rows")
    args = parser.parse_args()
    tools = c.require_tools("wrk", "nginx")
    engines = [(e, int(w)) for e, w in (item.split(":") for item in args.engines.split(","))]

    source = c.mp4_720p(seconds=300, video_kbps=1800)
    qid = "serving" + source.suffix
    c.OUT_DIR.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        up = stack.enter_context(c.Upstream())
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=c.OUT_DIR,
                                                                   prefix="serving-")))
        up.add_file(f"/media/{qid}", source)
        config = c.hlsd_config(up.url)
        with c.HlsdServer(config, tmp_dir=tmp / "hlsd-files") as server:
            files = fetch_files(server.url, qid)
        print(f"segment {files.segment_path.rsplit('/', 1)[-1]}: {len(files.segment):,} B, "
              f"playlist: {len(files.playlist):,} B; wrk -t{args.threads} "
              f"-c{args.connections} -d{args.duration:g}s x {args.rounds} rounds; "
              f"{os.cpu_count()} CPUs", file=sys.stderr, flush=True)

        # Every server stays up (idle unless measured), so that rounds can interleave.
        (tmp / "nginx").mkdir()
        servers = [Server("nginx 1w", stack.enter_context(
            nginx_serving(tools["nginx"], files, tmp / "nginx")))]
        if not args.no_ceiling:
            for segments in ("pathsend", "memory"):
                (tmp / f"bare-{segments}").mkdir()
                servers.append(Server(f"(bare ASGI {segments}, gr 1w)", stack.enter_context(
                    bare_asgi_serving(files, tmp / f"bare-{segments}", "granian", 1, segments)
                ), reference=True))
        hlsds: list[tuple[str, c.HlsdServer]] = []
        for engine, workers in engines:
            name = f"hlsd {engine} {workers}w"
            hlsd = stack.enter_context(c.HlsdServer(
                config, tmp_dir=tmp / f"hlsd-{engine}-{workers}",
                extra_args=["--server", engine, "--workers", str(workers)]))
            assert hlsd.pid is not None
            check_same_bytes(hlsd.url, files)
            servers.append(Server(name, Target(hlsd.url, hlsd.pid)))
            hlsds.append((name, hlsd))

        rows = measure_all(tools["wrk"], servers, files, args)
        for name, hlsd in hlsds:
            noted = [line for line in hlsd.log_text().splitlines()
                     if re.search(r"error|traceback|exception|warn", line, re.I)]
            if noted:
                print(f"  {name}: {len(noted)} error/warning lines in its log, e.g. "
                      f"{noted[0][:200]}", file=sys.stderr)

    report(rows, files, args)


def report(rows: list[Row], files: Files, args: argparse.Namespace) -> None:
    nginx = rows[0]
    size = len(files.segment)
    print(f"\nwrk -t{args.threads} -c{args.connections} -d{args.duration:g}s x {args.rounds} "
          f"interleaved rounds (median req/s and p99; CPU summed over rounds); "
          f"{os.cpu_count()} CPUs\nshared by wrk and the server; server CPU is % of one core")
    for kind in ("segment", "playlist"):
        base: WrkResult = getattr(nginx, kind)
        table = []
        for r in rows:
            w: WrkResult = getattr(r, kind)
            table.append([
                r.name, f"{w.requests_per_s:,.0f}",
                *([f"{w.gbps(size):.2f}"] if kind == "segment" else []),
                f"{w.p99_ms:.1f}", f"{w.cpu_percent:.0f}", f"{w.cpu_us_per_request:,.0f}",
                f"{w.requests_per_s / base.requests_per_s:.2f}",
                f"{w.cpu_us_per_request / base.cpu_us_per_request:.1f}",
                "reference" if r.reference else ("" if r is nginx else (
                    "met" if w.requests_per_s / base.requests_per_s >= TARGETS[kind]
                    else "MISSED")),
                w.errors])
        title = (f"Segments ({size / 1e6:.2f} MB): target >= {TARGETS['segment']} of nginx"
                 if kind == "segment" else
                 f"Playlists ({len(files.playlist):,} B): target >= {TARGETS['playlist']} "
                 "of nginx")
        c.print_table(["server", "req/s", *(["GB/s"] if kind == "segment" else []),
                       "p99 ms", "CPU %", "CPU us/req", "req/s vs nginx",
                       "CPU/req vs nginx", "target", "errors"], table, title=title)
    hlsd_rows = [r for r in rows[1:]
                 if not r.reference and not (r.segment.errors or r.playlist.errors)]
    print()
    for kind in ("segment", "playlist"):
        ranked = sorted(hlsd_rows, key=lambda r: getattr(r, kind).requests_per_s, reverse=True)
        if not ranked:
            continue
        best = getattr(ranked[0], kind).requests_per_s
        ties = [r.name for r in ranked[1:]
                if getattr(r, kind).requests_per_s >= best * (1 - TIE)]
        print(f"best hlsd for {kind}s: {ranked[0].name}"
              + (f" (within {TIE:.0%}, i.e. a tie: {', '.join(ties)})" if ties else ""))

if __name__ == "__main__":
    main()
