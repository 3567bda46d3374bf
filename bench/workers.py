"""Multi-worker live serving: hlsd with ``--workers 2`` against ``--workers 1``, one run.

    python bench/workers.py [--seconds 15] [--server granian|uvicorn] [--workers 1,2]
                            [--threads 4] [--connections 64] [--mix both,playlists]
                            [--players 1000] [--pushes 60] [--gap 0.05] [--pollers 2]
                            [--probes 50] [--skip wrk,nginx,players,visible]

Needs ``wrk`` and ``nginx`` (``apt-get install -y nginx wrk``). About 4 minutes with
the defaults. For each worker count a fresh hlsd (``hlsd serve --workers N --server S``,
``live.publish_keys: [k]``) takes a live stream that ffmpeg's HLS muxer pushes over HTTP
(``-f hls -method PUT`` to ``/ingest/cam/index.m3u8``, ``Authorization: Bearer k``, 2 s
segments, six in the playlist). The stream is 60 s of testsrc2 1280x720 25 fps +
a sine, libx264 ultrafast at 4 Mbit/s with a keyframe every 2 s, + AAC, encoded once into
bench/out/ and pushed with ``-re -stream_loop -1 -c copy``: real time, ~4.2 Mbit/s, but
without an encoder taking a core from the servers. Like ffmpeg (``-http_persistent 0``)
each upload is a fresh connection, so with several workers the uploads land on
whichever process the kernel picks.

1. wrk (``-t4 -c64`` by default, ``--seconds`` after an untimed 1 s warm-up), once per
   ``--mix``, each its own table. ``both``: a Lua script alternates between
   ``/live/cam/index.m3u8`` and the segments the thread's latest playlist names, round
   robin (it starts from the list the script is given and re-reads every playlist
   response); with ~1 MB segments this mostly measures copying bytes. ``playlists``: the
   media playlist only, the per-request path where a second worker should help. The
   ``response`` callback counts every status >= 300 (3xx included; wrk's own "Non-2xx or
   3xx" line is printed beside it). Anchors: nginx (bench/serving.py's config, sendfile)
   with ``worker_processes`` at each of ``--workers``, serving one copy of the playlist
   and its segments at the same paths, run while the first hlsd still takes the push, so
   the background is the same. nginx Nw / nginx 1w is this machine's ceiling for the
   mix: wrk, ffmpeg and the server share the cores, so when nginx gains ~1.0x no server
   can meet the target here, and the report says so. Printed per mix: req/s, the
   server's CPU and how it spread over its processes, the whole machine's busy CPU, the
   ratio hlsd workers N / workers 1 (target >= 1.7x), non-2xx (target 0), the nginx
   ceiling and hlsd's ratios to nginx at the same worker count.

2. Players (``--players``, one client process, bench/live.py's asyncio players) each
   reload the media playlist every target duration on their own keep-alive connection
   and fetch each new segment; they join over 1 s, then 2 s settle, then ``--seconds``
   are measured. The server's CPU (psutil, the master and every worker process) over the
   window as CPU seconds per 100 players per minute, and per process. Target: workers 2
   no worse than workers 1, spread over both workers. Anchor (2b): the same players
   against nginx with ``worker_processes`` at each of ``--workers``, CPU over its master
   and workers the same way, while the first hlsd still takes the push. nginx serves a
   live copy of that hlsd's stream: a thread in the bench process (bench/_live_mirror.py;
   its CPU is not nginx's, and is printed apart) reads hlsd's media playlist every
   200 ms and writes each new segment it names, then the playlist, into nginx's root,
   each by atomic rename, so nginx's players see segments appear as hlsd's do. nginx
   Nw / 1w is what splitting the same load over processes costs a server whose
   per-request work is as small as it gets; printed beside hlsd Nw / 1w, with each
   one's spread over its workers.

3. Ingest to visible. No ffmpeg: the publisher PUTs bench/live.py's ten 2 s segments
   (~1.1 MB) with httpx, one fresh connection per upload as ffmpeg does, the segment then
   the playlist naming it, one every ``--gap`` s after five untimed ones. ``--pollers``
   processes each open fresh connections, asking ``GET /api/health`` first on each:
   its ``node.worker`` says which worker answers on that keep-alive connection (no
   ``node`` with one worker: "the worker"). A poller keeps one connection per worker and
   opens more until it holds one to each of ``node.workers`` (at most ``--probes``),
   then polls the playlist round robin, back to back, with ``If-None-Match``. Per
   worker: from the return of the playlist PUT naming a segment to the first poll
   response listing it, on CLOCK_MONOTONIC across processes. The poll round trip (times
   the connections a poller keeps) is the resolution. Target: p99 <= 5 ms on every
   worker.

On 2 cores wrk (or the players), ffmpeg and the workers share the machine: a second
worker competes with the client, so compare the ratios and the CPU figures, not the
absolute rates. Every process started here runs in its own session and is killed, with
its group, on exit (SIGTERM and Ctrl-C included).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing as mp
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

import _common as c
import httpx
import psutil
from _live_mirror import LiveMirror
from live import (
    RAMP,
    SETTLE,
    LoadPlan,
    RawHttp,
    SegmentFile,
    media_playlist,
    ms_row,
    nginx,
    pct,
    players,
    segment_set,
)

KEY = "k"
STREAM = "cam"
VISIBLE_STREAM = "vis"
WRK_WARMUP = 1.0
WRK_RATIO_TARGET = 1.7
VISIBLE_TARGET_MS = 5.0
VISIBLE_WARMUP = 5
PLAYLIST_SIZE = 6
PLAYLIST_PATH = f"/live/{STREAM}/index.m3u8"
MIRROR_INTERVAL = 0.2  # seconds between the nginx anchor's mirror passes, part 2

LUA = r"""
-- bench/workers.py: the media playlist alone ("playlists"), or alternating with the
-- segments it names ("both").
local base = "BASE"
local mix = "MIX"
local playlist = base .. "index.m3u8"
local segments = {}
local n, k = 0, 0
bad, playlists, segs = 0, 0, 0
statuses = {}

local function path(uri)
  if string.sub(uri, 1, 1) == "/" then return uri end
  local rest = string.match(uri, "^https?://[^/]+(/.*)$")
  return rest or (base .. uri)
end

function init(args)
  for i = 1, #args do segments[#segments + 1] = path(args[i]) end
end

function request()
  n = n + 1
  if mix == "playlists" or n % 2 == 1 or #segments == 0 then
    return wrk.format("GET", playlist)
  end
  k = k % #segments + 1
  return wrk.format("GET", segments[k])
end

function response(status, headers, body)
  if status >= 300 then
    bad = bad + 1
    statuses[status] = (statuses[status] or 0) + 1
  elseif string.sub(body, 1, 7) == "#EXTM3U" then
    playlists = playlists + 1
    local found = {}
    for line in string.gmatch(body, "[^\r\n]+") do
      if string.sub(line, 1, 1) ~= "#" then found[#found + 1] = path(line) end
    end
    if #found > 0 then segments = found end
  else
    segs = segs + 1
  end
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function done(summary, latency, requests)
  local total = {bad = 0, playlists = 0, segments = 0}
  local byStatus = {}
  for _, t in ipairs(threads) do
    total.bad = total.bad + t:get("bad")
    total.playlists = total.playlists + t:get("playlists")
    total.segments = total.segments + t:get("segs")
    for s, v in pairs(t:get("statuses")) do byStatus[s] = (byStatus[s] or 0) + v end
  end
  for name, v in pairs(total) do io.write(string.format("BENCH %s %d\n", name, v)) end
  for s, v in pairs(byStatus) do io.write(string.format("BENCH status %d %d\n", s, v)) end
end
"""


# -- processes ------------------------------------------------------------------------


def _exit_on_signal(signum: int, _frame: object) -> None:
    # The default SIGTERM ends Python without unwinding: the context managers that stop
    # hlsd, ffmpeg, nginx and the clients (with their process groups) would not run.
    sys.exit(128 + signum)


def process_labels(pid: int) -> dict[int, str]:
    """The server's processes: the master (when it has workers) and each worker, by pid."""
    root = psutil.Process(pid)
    children = sorted(root.children(), key=lambda p: p.pid)
    labels = {root.pid: "master" if children else "server"}
    workers = 0
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            if "resource_tracker" in " ".join(child.cmdline()):
                labels[child.pid] = "resource tracker"
                continue
        workers += 1
        labels[child.pid] = f"worker {workers}"
    for proc in root.children(recursive=True):
        labels.setdefault(proc.pid, f"helper {proc.pid}")
    return labels


def cpu_by_process(pid: int) -> dict[int, float]:
    """User + system CPU seconds of `pid` and each of its living descendants."""
    root = psutil.Process(pid)
    out = {}
    for proc in (root, *root.children(recursive=True)):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            out[proc.pid] = times.user + times.system
    return out


@dataclass
class CpuSpread:
    """CPU seconds per process of a server over a window."""

    seconds: float
    by_label: dict[str, float]

    @property
    def total(self) -> float:
        return sum(self.by_label.values())

    def workers_text(self) -> str:
        """Each worker's share of the workers' CPU, e.g. ``worker 1 52% / worker 2 48%``."""
        workers = {k: v for k, v in self.by_label.items() if k.startswith("worker")}
        total = sum(workers.values())
        if len(workers) < 2 or not total:
            return "-"
        return " / ".join(f"{k} {100 * v / total:.0f}%" for k, v in sorted(workers.items()))


class CpuWindow:
    """``start()`` then ``stop()``: the CPU each of the server's processes used between."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.labels = process_labels(pid)
        self._before: dict[int, float] = {}
        self._started = 0.0

    def start(self) -> None:
        self._before = cpu_by_process(self.pid)
        self._started = time.monotonic()

    def stop(self) -> CpuSpread:
        after = cpu_by_process(self.pid)
        seconds = time.monotonic() - self._started
        by_label: dict[str, float] = {}
        for pid, cpu in after.items():
            label = self.labels.get(pid, f"helper {pid}")
            by_label[label] = by_label.get(label, 0.0) + cpu - self._before.get(pid, 0.0)
        return CpuSpread(seconds, by_label)


def hlsd(workers: int, args: argparse.Namespace, tmp: Path) -> c.HlsdServer:
    config = {"live": {"window": PLAYLIST_SIZE, "publish_keys": [KEY]},
              "log_level": "warning", "http": {"max_requests_per_ip": 0},
              "rtmp": {"listen": None}, "srt": {"listen": None},
              "websocket": {"listen": None}}
    return c.HlsdServer(config, tmp_dir=tmp / f"hlsd-{workers}w",
                        extra_args=["--server", args.server, "--workers", str(workers)])


@contextlib.contextmanager
def ffmpeg_push(url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """ffmpeg's HLS muxer pushing the 4 Mbit/s source in real time, looped, over HTTP."""
    source = c.mp4_720p(seconds=60, video_kbps=4000)
    command = [c.FFMPEG, "-hide_banner", "-v", "error", "-re", "-stream_loop", "-1",
               "-i", str(source), "-c", "copy", "-f", "hls", "-hls_time", "2",
               "-hls_list_size", str(PLAYLIST_SIZE), "-method", "PUT",
               "-headers", f"Authorization: Bearer {KEY}\r\n",
               f"{url}/ingest/{STREAM}/index.m3u8"]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def playlist_uris(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def wait_for_segments(url: str, minimum: int, timeout: float = 30.0) -> tuple[str, str]:
    """The first playlist (on a fresh connection each try) naming `minimum` segments,
    and a note; after `timeout`, the best seen (with several workers, a request may land
    on one that has not caught up)."""
    deadline = time.monotonic() + timeout
    best, last = "", "no answer"
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            got = httpx.get(url + PLAYLIST_PATH, timeout=5)
            last = f"{got.status_code} {got.text[:80]!r}"
            if got.status_code == 200:
                if len(playlist_uris(got.text)) > len(playlist_uris(best)):
                    best = got.text
                if len(playlist_uris(got.text)) >= minimum:
                    return got.text, ""
        time.sleep(0.25)
    return best, (f"no playlist with {minimum} segments within {timeout:.0f} s "
                  f"(the last answer: {last})")


# -- 1. wrk --------------------------------------------------------------------------


MIXES = {"both": "the media playlist and the segments it names, alternating",
         "playlists": "the media playlist only (the per-request path)"}


@dataclass
class WrkRun:
    name: str
    requests_per_s: float
    requests: int
    mb_per_s: float
    p99_ms: float
    bad: int  # status >= 300, counted by the Lua script
    wrk_non2xx: int  # wrk's own "Non-2xx or 3xx responses"
    socket_errors: str
    playlists: int
    segments: int
    statuses: dict[int, int]
    cpu: CpuSpread
    machine_busy: float  # the whole machine's busy CPU, % of all its cores
    seconds: float  # wrk's own run time (a little over -d)
    note: str = ""
    mix: str = ""
    workers: int = 0

    @property
    def ok_per_s(self) -> float:
        """Successful responses per second: a 404 costs far less than a segment, so
        req/s alone flatters a run with errors."""
        return (self.playlists + self.segments) / self.seconds


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}
_BYTES = {"B": 1e-6, "KB": 1e-3, "MB": 1.0, "GB": 1e3}


def _machine_times() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far; iowait counts as idle."""
    times = psutil.cpu_times()
    total = sum(times)
    return total - times.idle - getattr(times, "iowait", 0.0), total


def run_wrk(wrk: str, script: Path, url: str, segments: Sequence[str], pid: int,
            args: argparse.Namespace, name: str, seconds: float) -> WrkRun:
    window = CpuWindow(pid)
    busy_before, total_before = _machine_times()
    window.start()
    out = subprocess.run(
        [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds:g}s", "--latency",
         "-s", str(script), url + PLAYLIST_PATH, "--", *segments],
        check=True, capture_output=True, text=True, timeout=seconds + 60,
        start_new_session=True).stdout
    cpu = window.stop()
    busy_after, total_after = _machine_times()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", out)
    if rps is None or count is None or p99 is None or transfer is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    bench = dict(re.findall(r"^BENCH (bad|playlists|segments) (\d+)$", out, re.MULTILINE))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sockets = re.search(r"Socket errors:(.*)", out)
    return WrkRun(
        name=name, requests_per_s=float(rps.group(1)), requests=int(count.group(1)),
        mb_per_s=float(transfer.group(1)) * _BYTES[transfer.group(2)],
        p99_ms=float(p99.group(1)) * _UNITS[p99.group(2)],
        bad=int(bench.get("bad", -1)), wrk_non2xx=int(non2xx.group(1)) if non2xx else 0,
        socket_errors=sockets.group(1).strip() if sockets else "",
        playlists=int(bench.get("playlists", 0)), segments=int(bench.get("segments", 0)),
        statuses={int(s): int(v) for s, v in
                  re.findall(r"^BENCH status (\d+) (\d+)$", out, re.MULTILINE)},
        cpu=cpu, machine_busy=100 * (busy_after - busy_before)
        / max(total_after - total_before, 1e-9),
        seconds=float(count.group(2)) * _UNITS[count.group(3)] / 1000)


def write_scripts(tmp: Path, mixes: Sequence[str]) -> dict[str, Path]:
    """One Lua script per mix."""
    scripts = {}
    for mix in mixes:
        scripts[mix] = tmp / f"live-{mix}.lua"
        scripts[mix].write_text(LUA.replace("BASE", f"/live/{STREAM}/").replace("MIX", mix))
    return scripts


def measure_wrk(wrk: str, script: Path, mix: str, url: str, pid: int, playlist: str,
                args: argparse.Namespace, name: str, workers: int) -> WrkRun:
    segments = playlist_uris(playlist)
    print(f"  wrk: {name}, mix {mix}, {args.seconds:g} s …", file=sys.stderr, flush=True)
    run_wrk(wrk, script, url, segments, pid, args, name, WRK_WARMUP)
    run = run_wrk(wrk, script, url, segments, pid, args, name, args.seconds)
    run.mix, run.workers = mix, workers
    return run


def wrk_part(wrk: str, scripts: dict[str, Path], server: c.HlsdServer, name: str,
             workers: int, args: argparse.Namespace) -> list[WrkRun]:
    """Every mix against one hlsd, each from a playlist just read (the stream moves on)."""
    assert server.pid is not None
    runs = []
    for mix, script in scripts.items():
        playlist, note = wait_for_segments(server.url, minimum=3)
        run = measure_wrk(wrk, script, mix, server.url, server.pid, playlist, args, name,
                          workers)
        run.note = note
        runs.append(run)
    return runs


def snapshot(url: str, root: Path) -> str:
    """The current playlist and its segments, copied under `root` at the same paths."""
    folder = root / PLAYLIST_PATH.lstrip("/").rsplit("/", 1)[0]
    folder.mkdir(parents=True, exist_ok=True)
    with httpx.Client(base_url=url, timeout=30) as http:
        playlist = http.get(PLAYLIST_PATH)
        playlist.raise_for_status()
        for uri in playlist_uris(playlist.text):
            got = http.get(f"/live/{STREAM}/{uri}")
            got.raise_for_status()
            (folder / uri).write_bytes(got.content)
        (folder / "index.m3u8").write_bytes(playlist.content)
    return playlist.text


def nginx_anchors(wrk: str, scripts: dict[str, Path], url: str, counts: Sequence[int],
                  args: argparse.Namespace, tmp: Path) -> list[WrkRun]:
    """nginx with each worker count, every mix, on one copy of the playlist and its
    segments: what this machine allows for each mix and how far a second worker helps
    a server whose per-request cost is as small as it gets."""
    binary = c.require_tools("nginx")["nginx"]
    files = tmp / "nginx-root"
    playlist = snapshot(url, files)
    runs = []
    for workers in counts:
        base = tmp / f"nginx-{workers}w"
        # Each nginx chmods its own folder for its unprivileged workers: a copy each.
        shutil.copytree(files, base / "root")
        with nginx(binary, base, base / "root", workers=workers) as (pid, nginx_url):
            for mix, script in scripts.items():
                runs.append(measure_wrk(wrk, script, mix, nginx_url, pid, playlist, args,
                                        f"nginx {workers}w", workers))
    return runs


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report_wrk(runs: Sequence[WrkRun], args: argparse.Namespace) -> None:
    mixes = [mix for mix in MIXES if any(r.mix == mix for r in runs)]
    for letter, mix in zip("abcdefgh", mixes, strict=False):
        report_mix(f"1{letter}", mix, [r for r in runs if r.mix == mix], args)


def report_mix(number: str, mix: str, runs: Sequence[WrkRun],
               args: argparse.Namespace) -> None:
    rows = []
    for r in runs:
        rows.append([r.name, f"{r.requests_per_s:,.0f}", f"{r.ok_per_s:,.0f}",
                     f"{r.playlists / r.seconds:,.0f}", f"{r.segments / r.seconds:,.0f}",
                     f"{r.mb_per_s:,.0f}",
                     f"{r.p99_ms:.1f}", f"{100 * r.cpu.total / r.cpu.seconds:.0f}",
                     f"{r.machine_busy:.0f}",
                     f"{1e6 * r.cpu.total / max(r.requests, 1):,.0f}", r.bad, r.wrk_non2xx,
                     r.socket_errors or "-", r.cpu.workers_text()])
    c.print_table(["server", "req/s", "2xx req/s", "playlists/s", "segments/s", "MB/s", "p99 ms",
                   "CPU %", "machine busy %", "CPU us/req", "non-2xx", "wrk non-2xx/3xx",
                   "socket errors", "worker CPU spread"], rows,
                  title=f"{number}. Mix {mix}: {MIXES[mix]}, under wrk -t{args.threads} "
                        f"-c{args.connections} -d{args.seconds:g}s ({args.server}); "
                        f"{os.cpu_count()} CPUs shared by wrk, ffmpeg and the server; "
                        "CPU is % of one core, machine busy % of all")
    hlsds = [r for r in runs if r.name.startswith("hlsd")]
    nginxes = {r.workers: r for r in runs if r.name.startswith("nginx")}
    for r in runs:
        if r.statuses:
            print(f"  {r.name}: statuses >= 300 {dict(sorted(r.statuses.items()))}")
        if r.note:
            print(f"  {r.name}: {r.note}")
    base = hlsds[0] if hlsds else None
    nginx_base = nginxes.get(base.workers) if base else next(iter(nginxes.values()), None)
    for r in hlsds[1:]:
        assert base is not None
        ratio = r.ok_per_s / base.ok_per_s
        print(f"{mix}: {r.name} / {base.name}: {ratio:.2f}x 2xx req/s (target >= "
              f"{WRK_RATIO_TARGET}x: {_verdict(ratio >= WRK_RATIO_TARGET)}; all responses "
              f"{r.requests_per_s / base.requests_per_s:.2f}x); non-2xx {r.bad} (target 0: "
              f"{_verdict(r.bad == 0)})")
    for workers, r in nginxes.items():
        if nginx_base is None or r is nginx_base:
            continue
        ceiling = r.ok_per_s / nginx_base.ok_per_s
        print(f"{mix}: ceiling {r.name} / {nginx_base.name}: {ceiling:.2f}x 2xx req/s")
        same = next((h for h in hlsds[1:] if h.workers == workers), None)
        ours = (f"; {same.name} / {base.name} is {same.ok_per_s / base.ok_per_s:.2f}x, "
                f"{same.ok_per_s / base.ok_per_s / ceiling:.0%} of nginx's"
                if same is not None and base is not None else "")
        if ceiling < WRK_RATIO_TARGET:
            print(f"  {mix}: the {WRK_RATIO_TARGET}x target cannot be met by anyone here: "
                  f"nginx itself gains only {ceiling:.2f}x from {nginx_base.workers} to "
                  f"{workers} workers on {os.cpu_count()} CPUs with this mix{ours}")
        else:
            print(f"  {mix}: the machine allows the {WRK_RATIO_TARGET}x target "
                  f"(nginx gains {ceiling:.2f}x){ours}")
    for r in hlsds:
        anchor = nginxes.get(r.workers)
        if anchor is not None:
            cpu = (r.cpu.total / max(r.requests, 1)) / (anchor.cpu.total
                                                       / max(anchor.requests, 1))
            print(f"{mix}: {r.name} / {anchor.name}: {r.ok_per_s / anchor.ok_per_s:.2f}x 2xx "
                  f"req/s, {cpu:.1f}x CPU per request")


# -- 2. players -----------------------------------------------------------------------


@dataclass
class PlayersRun:
    name: str
    players: int
    poll: float
    cpu: CpuSpread
    client_cpu: float
    playlists: int
    segments: int
    bytes: int
    errors: dict[str, int]
    lags: list[float]
    note: str = ""
    workers: int = 1

    @property
    def produced(self) -> float:
        """Segments the players should have fetched in the window at least: one per
        target duration each (whole ones: a short window may hold one arrival fewer)."""
        return float(self.players * max(1, math.floor(self.cpu.seconds / self.poll)))

    @property
    def same_work(self) -> bool:
        return not self.errors and self.segments >= 0.8 * self.produced

    @property
    def per_100_per_minute(self) -> float:
        return self.cpu.total / (self.players / 100) / (self.cpu.seconds / 60)


def measure_players(name: str, url: str, pid: int, playlist: str,
                    args: argparse.Namespace) -> PlayersRun:
    target = re.search(r"#EXT-X-TARGETDURATION:(\d+)", playlist)
    poll = float(target.group(1)) if target else 2.0
    host, port = url.removeprefix("http://").split(":")
    start = time.monotonic() + 2.0  # the client process starts and imports meanwhile
    plan = LoadPlan(host=host, port=int(port), playlist_path=PLAYLIST_PATH,
                    clients=args.players, start=start, measure=start + RAMP + SETTLE,
                    end=start + RAMP + SETTLE + args.seconds, poll=poll)
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=players, args=(plan, out), daemon=True)
    print(f"  players: {name}, {args.players} players, {args.seconds:g} s …",
          file=sys.stderr, flush=True)
    proc.start()
    try:
        window = CpuWindow(pid)
        time.sleep(max(0.0, plan.measure - time.monotonic()))
        window.start()
        time.sleep(max(0.0, plan.end - time.monotonic()))
        cpu = window.stop()
        got = out.get(timeout=60)
    finally:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=10)
    errors = dict(got["errors"])
    if got["unfinished"]:
        errors["unfinished"] = got["unfinished"]
    return PlayersRun(name=name, players=args.players, poll=poll, cpu=cpu,
                      client_cpu=got["client_cpu"], playlists=got["playlists"],
                      segments=got["segments"], bytes=got["bytes"], errors=errors,
                      lags=got["lags"])


def nginx_players(url: str, counts: Sequence[int], args: argparse.Namespace,
                  tmp: Path) -> list[PlayersRun]:
    """The same players against nginx with each worker count, serving a live copy of
    the stream at `url` (hlsd 1w, still taking the push) that a thread in this process
    mirrors into nginx's root: how much more CPU per player any server pays when the
    same load is split over more processes."""
    binary = c.require_tools("nginx")["nginx"]
    runs = []
    for workers in counts:
        base = tmp / f"nginx-players-{workers}w"
        folder = base / "root" / PLAYLIST_PATH.lstrip("/").rsplit("/", 1)[0]
        mirror = LiveMirror(url, PLAYLIST_PATH, folder, interval=MIRROR_INTERVAL)
        # The first files before nginx starts: it chmods its folder for its workers once.
        mirror.sync()
        with nginx(binary, base, base / "root", workers=workers) as (pid, nginx_url), mirror:
            playlist, note = wait_for_segments(nginx_url, minimum=3)
            run = measure_players(f"nginx {workers}w", nginx_url, pid, playlist, args)
        run.workers = workers
        run.note = "; ".join(filter(None, [note, mirror.summary()]))
        runs.append(run)
    return runs


def report_players(runs: Sequence[PlayersRun], anchors: Sequence[PlayersRun],
                   args: argparse.Namespace) -> None:
    rows = []
    for r in [*runs, *anchors]:
        seconds = r.cpu.seconds
        rows.append([r.name, f"{r.playlists / seconds:,.0f}", f"{r.segments / seconds:,.0f}",
                     f"{r.bytes / seconds / 1e6:,.0f}", f"{100 * r.cpu.total / seconds:.0f}",
                     f"{r.per_100_per_minute:.2f}",
                     f"{100 * r.client_cpu / seconds:.0f}",
                     f"{1000 * pct(r.lags, 99):.0f}", sum(r.errors.values()),
                     r.cpu.workers_text()])
    poll = runs[0].poll if runs else 2.0
    c.print_table(["server", "playlists/s", "segments/s", "MB/s", "CPU %",
                   "CPU s /100 players/min", "client CPU %", "poll lag p99 ms", "errors",
                   "worker CPU spread"], rows,
                  title=f"2. {args.players} players, the playlist every {poll:g} s (the "
                        f"target duration) and each new segment; {args.seconds:g} s "
                        f"measured; server CPU over the master and its workers"
                        + ("; nginx serves a live copy of hlsd 1w's stream that a thread "
                           "in the bench process mirrors into its root (not nginx's CPU)"
                           if anchors else ""))
    spread = []
    for r in [*runs, *anchors]:
        for label, cpu in sorted(r.cpu.by_label.items()):
            spread.append([r.name, label, f"{cpu:.2f}",
                           f"{100 * cpu / r.cpu.total:.0f}%" if r.cpu.total else "-"])
    c.print_table(["server", "process", "CPU s", "share"], spread,
                  title="CPU by process in the window")
    for r in [*runs, *anchors]:
        if r.errors:
            print(f"  {r.name}: errors {r.errors}")
        if r.note:
            print(f"  {r.name}: {r.note}")
        produced = r.produced
        if r.segments < 0.8 * produced:
            print(f"  {r.name}: the players fetched {r.segments} segments, "
                  f"{r.segments / produced:.0%} of the {produced:.0f} the stream made in the "
                  "window at least: the playlists they got did not advance, so this CPU is not for "
                  "the same work")
        if 100 * r.client_cpu / r.cpu.seconds > 85 or pct(r.lags, 99) > 0.25 * r.poll:
            print(f"  the players may be the bottleneck for {r.name}: client CPU "
                  f"{100 * r.client_cpu / r.cpu.seconds:.0f}%, p99 poll lag "
                  f"{1000 * pct(r.lags, 99):.0f} ms")
    for r in runs[1:]:
        ratio = r.per_100_per_minute / runs[0].per_100_per_minute
        verdict = ("not comparable: errors or fewer segments" if not r.same_work
                   else "met" if ratio <= 1.0 else "MISSED")
        print(f"{r.name} / {runs[0].name}: {ratio:.2f}x CPU per 100 players (target <= "
              f"1.0x: {verdict}); workers {r.cpu.workers_text()}")
    if anchors:
        report_players_anchor(runs, anchors)


def report_players_anchor(runs: Sequence[PlayersRun], anchors: Sequence[PlayersRun]) -> None:
    """hlsd Nw / 1w beside nginx Nw / 1w, CPU per 100 players, with each one's spread."""

    def ratio(r: PlayersRun | None, base: PlayersRun | None) -> float | None:
        if r is None or base is None or not base.per_100_per_minute:
            return None
        return r.per_100_per_minute / base.per_100_per_minute

    def text(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}x"

    hlsds = {r.workers: r for r in runs}
    nginxes = {r.workers: r for r in anchors}
    first = next(iter(nginxes))
    hlsd_base, nginx_base = hlsds.get(first), nginxes[first]
    rows: list[list[object]] = []
    for workers, anchor in nginxes.items():
        ours = hlsds.get(workers)
        mine, theirs = ratio(ours, hlsd_base), ratio(anchor, nginx_base)
        rows.append([f"{workers}w",
                     f"{ours.per_100_per_minute:.2f}" if ours else "-", text(mine),
                     ours.cpu.workers_text() if ours else "-",
                     f"{anchor.per_100_per_minute:.2f}", text(theirs),
                     anchor.cpu.workers_text(),
                     text(mine / theirs if mine is not None and theirs else None)])
    c.print_table(["workers", "hlsd CPU s /100/min", f"hlsd / {first}w",
                   "hlsd worker spread", "nginx CPU s /100/min", f"nginx / {first}w",
                   "nginx worker spread", "hlsd ratio / nginx ratio"], rows,
                  title="2b. Anchor: the same players against nginx (files, sendfile) serving "
                        f"a live copy of hlsd 1w's stream, mirrored every "
                        f"{1000 * MIRROR_INTERVAL:.0f} ms by a thread in "
                        "the bench process (its CPU is not nginx's); nginx Nw / 1w is what "
                        "splitting the load over processes costs a server whose per-request "
                        "work is as small as it gets")
    for workers, anchor in nginxes.items():
        ours = hlsds.get(workers)
        mine, theirs = ratio(ours, hlsd_base), ratio(anchor, nginx_base)
        if workers == first or mine is None or theirs is None:
            continue
        comparable = all(r is not None and r.same_work
                         for r in (ours, hlsd_base, anchor, nginx_base))
        print(f"players: {workers}w / {first}w CPU per 100 players: hlsd {mine:.2f}x, "
              f"nginx {theirs:.2f}x (anchor); hlsd's beyond nginx's {mine / theirs:.2f}x"
              + ("" if comparable else " (not comparable: errors or fewer segments)"))


# -- 3. ingest to visible -------------------------------------------------------------


def _newest(body: bytes) -> int | None:
    """The sequence number of a live playlist's last segment (``<session>-N.ts``)."""
    uris = [u for u in body.split(b"\n") if u.strip() and not u.startswith(b"#")]
    m = re.search(rb"-(\d+)\.\w+\s*$", uris[-1]) if uris else None
    return int(m.group(1)) if m else None


def which_worker(http: RawHttp) -> tuple[str, int]:
    """Who answers on this keep-alive connection, by ``node`` in ``/api/health``
    (absent with one worker): a label, and how many workers the server has."""
    status, _, body = http.request("GET", "/api/health")
    if status != 200:
        raise RuntimeError(f"/api/health answered {status}: {body[:200]!r}")
    node = json.loads(body).get("node")
    if not node:
        return "the worker", 1
    leader = " (leader)" if node.get("leader") else ""
    return f"worker {node['worker']}{leader}", int(node["workers"])


def visible_poller(url: str, path: str, probes: int, ready: MpEvent, stop: MpEvent,
                   out: Any) -> None:
    """Process entry: open fresh connections (at most `probes`) until one reaches each of
    the server's workers, poll them round robin until `stop`; report, per worker, when
    each newest sequence number was first seen."""
    host, port = url.removeprefix("http://").split(":")
    kept: dict[str, RawHttp] = {}
    workers, attempts = 1, 0
    while attempts < probes and (not kept or len(kept) < workers):
        attempts += 1
        http = RawHttp(host, int(port))
        label, workers = which_worker(http)
        if label in kept:
            http.close()
        else:
            kept[label] = http
    conns = list(kept.items())
    etags: dict[str, str | None] = {label: None for label in kept}
    newest = {label: -1 for label in kept}
    seen: dict[str, list[tuple[int, float]]] = {label: [] for label in kept}
    rtts: dict[str, list[float]] = {label: [] for label in kept}
    statuses: Counter[int] = Counter()
    rounds = 0
    while True:
        if rounds % 16 == 0:
            if stop.is_set():
                break
            if rounds == 32:
                ready.set()
        rounds += 1
        for label, http in conns:
            etag = etags[label]
            sent = time.monotonic()
            status, headers, body = http.request(
                "GET", path, headers=[("If-None-Match", etag)] if etag else ())
            done = time.monotonic()
            rtts[label].append(done - sent)
            statuses[status] += 1
            if status == 200:
                etags[label] = headers.get("etag")
                seq = _newest(body)
                if seq is not None and seq > newest[label]:
                    newest[label] = seq
                    seen[label].append((seq, done))
    for _, http in conns:
        http.close()
    out.put({"seen": seen, "rtts": rtts, "statuses": dict(statuses),
             "reached": (len(conns), workers, attempts)})


@dataclass
class Pushed:
    sequence: int
    segment_done: float
    playlist_done: float
    segment_put: float
    playlist_put: float
    committed: bool
    statuses: tuple[int, int]


def push(http: httpx.Client, n: int, segments: Sequence[SegmentFile]) -> Pushed:
    """Segment n, then the playlist of the last six naming it, as ffmpeg's muxer does."""
    seg = segments[n % len(segments)]
    auth = {"Authorization": f"Bearer {KEY}"}
    sent = time.monotonic()
    got = http.put(f"/ingest/{VISIBLE_STREAM}/seg-{n}.ts", content=seg.data, headers=auth)
    segment_done = time.monotonic()
    first = max(0, n - PLAYLIST_SIZE + 1)
    seqs = range(first, n + 1)
    body = media_playlist(first, [f"seg-{i}.ts" for i in seqs],
                          [segments[i % len(segments)].duration for i in seqs])
    listed = http.put(f"/ingest/{VISIBLE_STREAM}/index.m3u8", content=body, headers=auth)
    playlist_done = time.monotonic()
    return Pushed(n, segment_done, playlist_done, segment_done - sent,
                  playlist_done - segment_done, b'"committed":1' in listed.content,
                  (got.status_code, listed.status_code))


@dataclass
class VisibleRun:
    name: str
    delays: dict[str, list[float]]
    unseen: dict[str, int]
    rtts: dict[str, list[float]]
    reached: list[tuple[int, int, int]]  # per poller: workers kept, workers, connections
    pushes: list[Pushed]
    statuses: Counter[int] = field(default_factory=Counter)


def measure_visible(name: str, url: str, segments: Sequence[SegmentFile],
                    args: argparse.Namespace) -> VisibleRun:
    print(f"  visible: {name}, {args.pushes} pushes …", file=sys.stderr, flush=True)
    ctx = mp.get_context("spawn")
    # A fresh connection per upload (ffmpeg's -http_persistent 0): no keep-alive.
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=url, timeout=30, limits=limits) as http:
        for n in range(VISIBLE_WARMUP):
            push(http, n, segments)
            time.sleep(args.gap)
        ready = [ctx.Event() for _ in range(args.pollers)]
        stop, out = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=visible_poller,
                             args=(url, f"/live/{VISIBLE_STREAM}/index.m3u8", args.probes,
                                   event, stop, out), daemon=True)
                 for event in ready]
        try:
            for proc in procs:
                proc.start()
            for event in ready:
                if not event.wait(30):
                    raise RuntimeError("a poller did not start")
            pushed = []
            for n in range(VISIBLE_WARMUP, VISIBLE_WARMUP + args.pushes):
                pushed.append(push(http, n, segments))
                time.sleep(args.gap)
            time.sleep(0.5)
            stop.set()
            polled = [out.get(timeout=30) for _ in procs]
        finally:
            stop.set()
            for proc in procs:
                proc.join(timeout=10)
                if proc.is_alive():
                    proc.kill()
    # Per worker, the earliest poll of any poller listing it.
    delays: dict[str, list[float]] = {}
    unseen: Counter[str] = Counter()
    rtts: dict[str, list[float]] = {}
    statuses: Counter[int] = Counter()
    labels = sorted({label for p in polled for label in p["seen"]})
    for p in polled:
        statuses.update(p["statuses"])
        for label, values in p["rtts"].items():
            rtts.setdefault(label, []).extend(values)
    for label in labels:
        delays[label] = []
        for item in pushed:
            times = [next((t for seq, t in p["seen"].get(label, []) if seq >= item.sequence),
                          None) for p in polled]
            found = [t for t in times if t is not None]
            if found:
                delays[label].append(min(found) - item.playlist_done)
            else:
                unseen[label] += 1
    return VisibleRun(name, delays, dict(unseen), rtts,
                      [tuple(p["reached"]) for p in polled], pushed, statuses)


def report_visible(runs: Sequence[VisibleRun], args: argparse.Namespace) -> None:
    rows: list[list[object]] = []
    for r in runs:
        for label, delays in r.delays.items():
            rows.append([*ms_row(f"{r.name}: {label}", delays), r.unseen.get(label, 0),
                         f"{1000 * pct(r.rtts.get(label, []), 50):.2f}"])
    c.print_table(["playlist PUT returned -> visible, ms", "n", "p50", "p90", "p99", "max",
                   "min", "unseen", "poll rtt p50"], rows,
                  title=f"3. Ingest to visible: {args.pushes} segments, one every "
                        f"{1000 * args.gap:.0f} ms, uploads on fresh connections; "
                        f"{args.pollers} pollers, each with a connection to every worker "
                        "(found by /api/health on it)")
    rows = []
    for r in runs:
        rows += [ms_row(f"{r.name}: segment PUT", [p.segment_put for p in r.pushes]),
                 ms_row(f"{r.name}: playlist PUT", [p.playlist_put for p in r.pushes])]
    c.print_table(["publisher round trips, ms", "n", "p50", "p90", "p99", "max", "min"],
                  rows)
    for r in runs:
        committed = sum(p.committed for p in r.pushes)
        puts = Counter(s for p in r.pushes for s in p.statuses)
        print(f"{r.name}: {committed}/{len(r.pushes)} playlist PUTs committed their "
              f"segment; PUT statuses {dict(puts)}; poll statuses {dict(r.statuses)}; "
              "workers reached per poller "
              + ", ".join(f"{k}/{n} in {tries} connections" for k, n, tries in r.reached))
        workers = max((n for _, n, _ in r.reached), default=1)
        if len(r.delays) < workers or any(k < n for k, n, _ in r.reached):
            print(f"  {r.name}: not every poller reached every one of its {workers} workers "
                  f"in {args.probes} fresh connections: {len(r.delays)} worker(s) measured")
        for label, delays in r.delays.items():
            p50, p99 = 1000 * pct(delays, 50), 1000 * pct(delays, 99)
            ok = p99 <= VISIBLE_TARGET_MS and not r.unseen.get(label)
            print(f"  {r.name}, {label}: p50 {p50:.2f} ms, p99 {p99:.2f} ms (target p99 <= "
                  f"{VISIBLE_TARGET_MS:g} ms, none unseen: {_verdict(ok)})")


# -- main -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15,
                        help="seconds measured per wrk run and per players window")
    parser.add_argument("--server", default="granian", choices=["granian", "uvicorn"])
    parser.add_argument("--workers", default="1,2", help="worker counts (the first is the base)")
    parser.add_argument("--threads", type=int, default=4, help="wrk threads")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument("--pushes", type=int, default=60, help="timed pushes, part 3")
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between pushes")
    parser.add_argument("--pollers", type=int, default=2, help="poller processes, part 3")
    parser.add_argument("--probes", type=int, default=50,
                        help="fresh connections a poller opens at most to reach every worker")
    parser.add_argument("--mix", default="both,playlists",
                        help="part 1's request mixes: both (playlist and segments "
                             "alternating), playlists (the media playlist only)")
    parser.add_argument("--skip", default="",
                        help="parts to skip: wrk,nginx,players,visible (nginx: the anchors "
                             "of parts 1 and 2)")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    counts = [int(n) for n in args.workers.split(",") if n]
    mixes = [m for m in args.mix.split(",") if m]
    if not mixes or set(mixes) - set(MIXES):
        parser.error(f"--mix: a comma-separated list of {', '.join(MIXES)}")
    uses_nginx = "nginx" not in skip and not {"wrk", "players"} <= skip
    tools = c.require_tools("wrk", *(["nginx"] if uses_nginx else []))
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on_signal)

    segments = segment_set() if "visible" not in skip else []
    started = time.monotonic()
    load = os.getloadavg()[0]
    wrk_runs: list[WrkRun] = []
    player_runs: list[PlayersRun] = []
    anchor_runs: list[PlayersRun] = []
    visible_runs: list[VisibleRun] = []
    c.OUT_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=c.OUT_DIR, prefix="workers-") as scratch:
        tmp = Path(scratch)
        scripts = write_scripts(tmp, mixes)
        for n, workers in enumerate(counts):
            name = f"hlsd {args.server} {workers}w"
            with hlsd(workers, args, tmp) as server:
                assert server.pid is not None
                if not {"wrk", "players"} <= skip:
                    with ffmpeg_push(server.url, tmp / f"ffmpeg-{workers}w.log"):
                        if "wrk" not in skip:
                            wrk_runs += wrk_part(tools["wrk"], scripts, server, name,
                                                 workers, args)
                            if n == 0 and "nginx" not in skip:
                                wrk_runs += nginx_anchors(tools["wrk"], scripts, server.url,
                                                          counts, args, tmp)
                        if "players" not in skip:
                            playlist, note = wait_for_segments(server.url, minimum=3)
                            run_p = measure_players(name, server.url, server.pid, playlist,
                                                    args)
                            run_p.note, run_p.workers = note, workers
                            player_runs.append(run_p)
                            if n == 0 and "nginx" not in skip:
                                # Mirrored from this hlsd, which still takes the push.
                                anchor_runs += nginx_players(server.url, counts, args, tmp)
                if "visible" not in skip:
                    visible_runs.append(measure_visible(name, server.url, segments, args))
                problems = [line for line in server.log_text().splitlines()
                            if re.search(r"error|traceback|exception", line, re.I)]
                if problems:
                    print(f"  {name}: {len(problems)} error lines in hlsd's log, e.g. "
                          f"{problems[0][:200]}", file=sys.stderr, flush=True)
    print(f"\n{os.cpu_count()} CPUs; load average {load:.1f} at the start; "
          f"--server {args.server}, --workers {args.workers}")
    if wrk_runs:
        report_wrk(wrk_runs, args)
    if player_runs:
        report_players(player_runs, anchor_runs, args)
    if visible_runs:
        report_visible(visible_runs, args)
    print(f"\n({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
