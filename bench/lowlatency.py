"""Low-Latency HLS from RTMP ingest: glass-to-glass latency in hls.js, blocking-reload
fan-out to 2,000 viewers against a bare-asyncio floor, and the CPU of ingest against
ffmpeg's own HLS muxer.

    python bench/lowlatency.py [--only latency,fanout,ingest,waiters] [--viewers 2000]
                               [--play 20] [--warmup 5] [--sessions 3] [--fps 30]
                               [--hls-config JSON] [--measure 12]
                               [--rounds 1] [--profile] [--loop uvloop|asyncio]
                               [--server granian|uvicorn]

About 4 minutes with every part (+ ~1 minute the first time, for the 1080p file).
hlsd runs as a real ``python -m hlsd serve`` process with ``rtmp.listen`` on a free
loopback port, ``srt.listen: null``, ``live.segment_duration: 1.0`` and
``live.part_duration: 0.2``, no publish keys (loopback publishers need none) and
``http.max_requests_per_ip: 0`` (every viewer here comes from 127.0.0.1). ffmpeg is the
one from the imageio-ffmpeg wheel.

1. latency. ffmpeg publishes testsrc2 1280x720 30 fps (libx264 veryfast zerolatency,
   a keyframe every 30 frames) + AAC over RTMP with ``-re``. hls.js (node_modules, in
   Debian's Chromium through Playwright) plays ``/live/lat/index.m3u8`` first with
   ``lowLatencyMode: true``, then, as the anchor, with ``lowLatencyMode: false``
   (classic HLS), alternating, `--sessions` times each, each in a fresh browser for
   `--warmup` s (dropped) and `--play` s (measured); the samples are pooled. hls.js
   keeps the latency its start-up gave it (its defaults never speed playback up), so
   sessions differ. Every 100 ms of playback the page samples ``Date.now() -
   hls.playingDate``: hlsd stamps PROGRAM-DATE-TIME with the wall clock at which a
   segment's first frame reached it, so this is ingest-to-screen latency (the
   encoder's own delay is not in it). Printed: median, p99, min and max, hls.js's own
   ``hls.latency`` estimate, stalls; LL / classic. Targets: LL median <= 1.0 s, p99 <=
   1.5 s.

2. fanout. hlsd with ``--workers 1`` under ``taskset -c 0``; a small live RTMP stream
   (640x360, ultrafast) published from CPU 1. `--viewers` clients in two processes
   pinned to CPU 1, each on its own keep-alive connection (asyncio protocols on uvloop
   when installed), join over 2 s, fetch the playlist once, then park on a blocking
   reload for the next part (``?_HLS_msn=M&_HLS_part=P``, computed from the answer as
   hls.js does) and re-park on the next one after each answer. A playlist version is
   named by the part a client asks for next. For each version: the spread from its
   first answer to its last (over all clients), and each answer's delay after the
   first. After 2 s of settling, `--measure` s are measured (~60 parts): p50/p99 of
   both, answers per version, the server's CPU (its process tree, /proc) as a share
   of one core and as CPU seconds per second per 1,000 viewers, net of the same
   server's CPU with the stream and no viewers. Anchor, same clients, same core, same
   count: ``bench/_ll_floor.py``, a bare-asyncio origin that parks the long-polls and
   releases them all on a 200 ms timer with one prebuilt answer of hlsd's measured
   size. Printed: hlsd / floor for the p99s and the CPU. Target: spread p99 <= 50 ms.

3. ingest. One 6 Mbit/s 1080p30 H.264 + AAC FLV of 30 s (a keyframe a second, made
   once into bench/out/) published with ``-re -c copy -f flv`` into hlsd over RTMP;
   hlsd's CPU (user + system of its process tree, /proc) over the publish, minus its
   idle CPU (measured just before, for 8 s) over the same wall time. Anchor:
   ``ffmpeg -listen 1 -i rtmp://… -c copy -f hls -hls_segment_type fmp4 -hls_time 1``
   receiving the same publish; its CPU from the moment the publish starts to its exit
   (wait4). Printed: both in CPU seconds, per second of media, and hlsd / anchor.
   Target: hlsd <= 1.2x the anchor. hlsd also cuts 0.2 s parts and keeps them served;
   the anchor writes 1 s segments to files.

waiters (not run by default): hlsd's app alone, in process (``create_app`` and its
lifespan, a real RTMP stream, `--viewers` blocking reloads called as ASGI, no server, no
sockets): the main thread's CPU per answer; ``--profile`` prints cProfile's top
functions. Part 2's CPU per answer minus this is what granian and the sockets cost.

The load average is printed at the start and after each part: the machine may be
running other work, which moves latency tails far more than CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any, cast

import _common as c
import httpx
import psutil
from live import ProtocolFault, _Conn, hlsd_log_problems, pct, tree_cpu_seconds
from wscdn import cpu_busy_seconds

SERVER_CPU = 0
CLIENT_CPU = 1
CLIENT_PROCESSES = 2
PART = 0.2
SEGMENT = 1.0
LL_TARGETS = (1.0, 1.5)  # median, p99 seconds
SPREAD_TARGET = 0.050
INGEST_TARGET = 1.2
RAMP = 2.0  # viewers join over this long
SETTLE = 2.0
DRAIN = 2.0  # after the window: parked requests answered, then the rest are dropped
TMP = c.OUT_DIR / "lowlatency"
FAN_PATH = "/live/fan/index.m3u8"


# -- shared: hlsd, publishers, output ---------------------------------------------------


class Hlsd(c.HlsdServer):
    """hlsd (`c.HlsdServer`), optionally under ``taskset -c CPU`` (taskset execs hlsd,
    so `pid` is hlsd's own)."""

    def __init__(self, config: dict[str, Any], tmp_dir: Path, cpu: int | None = None,
                 extra_args: list[str] | None = None) -> None:
        super().__init__(config, tmp_dir=tmp_dir, extra_args=extra_args)
        self.cpu = cpu

    def command(self) -> list[str]:
        command = super().command()
        return command if self.cpu is None else ["taskset", "-c", str(self.cpu), *command]


SERVER = "granian"
"""The engine hlsd runs on (``--server``)."""


def ll_config(rtmp_port: int) -> dict[str, Any]:
    return {"log_level": "warning", "server": SERVER,
            "rtmp": {"listen": f"127.0.0.1:{rtmp_port}"}, "srt": {"listen": None},
            "live": {"segment_duration": SEGMENT, "part_duration": PART},
            # Every viewer here is 127.0.0.1: the per-address bound (256) would refuse them.
            "http": {"max_requests_per_ip": 0}}


@contextlib.contextmanager
def publishing(args: Sequence[str], log: Path, cpu: int | None = None,
               ) -> Iterator[subprocess.Popen[bytes]]:
    """ffmpeg with `args` (inputs, outputs), stderr to `log`; stopped with ``q``."""
    command = [c.FFMPEG, "-hide_banner", "-v", "error", *args]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    with log.open("wb") as err:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=err)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.write(b"q")
                proc.stdin.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def live_pattern(size: str, preset: str, fps: int = 30) -> list[str]:
    """Live testsrc2 + a tone, H.264 with a keyframe a second, AAC."""
    return ["-re", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-c:v", "libx264", "-preset", preset, "-tune", "zerolatency", "-g", str(fps),
            "-keyint_min", str(fps), "-sc_threshold", "0", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "96k"]


def wait_parts(url: str, timeout: float = 30.0) -> str:
    """Until the live playlist at `url` lists parts; its text."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                response = client.get(url)
                last = f"{response.status_code}"
                if response.status_code == 200 and "#EXT-X-PART:" in response.text:
                    return response.text
            time.sleep(0.2)
    raise RuntimeError(f"{url} had no parts within {timeout:.0f} s (last: {last})")


def note_log(name: str, server: c.HlsdServer) -> None:
    """hlsd's warnings and errors (bar the websocket's open-pull notice), up to three."""
    problems = [line for line in hlsd_log_problems(server) if "PULL_SECRET" not in line]
    for line in problems[:3]:
        print(f"  {name}: hlsd log: {line[:240]}", file=sys.stderr, flush=True)
    if len(problems) > 3:
        print(f"  {name}: … {len(problems) - 3} more in {server.log_path}", file=sys.stderr)


def load_note(when: str) -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) {when}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b and a == a and b == b else "-"


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


# -- 1. latency: hls.js in Chromium ----------------------------------------------------

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>hlsd LL bench</title>
<script src="/hls.min.js"></script></head>
<body><video id="v" muted playsinline></video>
<script>
"use strict";
const S = window.__ll = {errors: [], samples: [], stalls: 0, parts: 0, fragments: 0,
                         fatal: false, playing: false, started: 0, firstPlaying: null,
                         target: null};
window.startPlayback = function (url, config) {
  S.started = Date.now();
  const video = document.getElementById("v");
  const hls = window.hls = new Hls(config);
  hls.on(Hls.Events.ERROR, (_e, d) => {
    S.errors.push(d.type + "/" + d.details + " fatal=" + d.fatal);
    if (d.fatal) S.fatal = true;
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    const p = video.play();
    if (p) p.catch((err) => S.errors.push("play " + err));
  });
  hls.on(Hls.Events.FRAG_LOADED, (_e, d) => { if (d.part) S.parts++; else S.fragments++; });
  video.addEventListener("playing", () => {
    if (S.firstPlaying === null) S.firstPlaying = Date.now() - S.started;
    S.playing = true;
  });
  video.addEventListener("waiting", () => { if (S.playing) S.stalls++; });
  // Every 100 ms of playback: the wall clock against the PROGRAM-DATE-TIME of the frame
  // on screen (hlsd stamps it when the frame reached it), and hls.js's own estimate.
  setInterval(() => {
    if (!video.paused && hls.playingDate && S.samples.length < 20000) {
      const now = Date.now();
      S.samples.push([now, (now - hls.playingDate.getTime()) / 1000, hls.latency,
                      S.stalls]);
      S.target = hls.targetLatency;
    }
  }, 100);
  hls.loadSource(url);
  hls.attachMedia(video);
};
</script></body></html>
"""


@dataclass
class Playback:
    mode: str
    latencies: list[float]
    estimates: list[float]
    stalls: int
    parts: int
    fragments: int
    errors: list[str]
    target: float | None  # hls.targetLatency at the end
    first_frame: float | None  # seconds from loadSource to the first "playing"


def play(url: str, config: dict[str, Any], mode: str, warmup: float,
         seconds: float) -> Playback:
    """hls.js with `config` on `url` in a fresh Chromium: the samples after `warmup`."""
    from tests._support.browser import browser_skip_reason, hls_page

    reason = browser_skip_reason()
    if reason is not None:
        sys.exit(reason)
    with hls_page(_PAGE) as page:
        page.evaluate("([u, c]) => window.startPlayback(u, c)", [url, config])
        deadline = time.monotonic() + 30
        while not page.evaluate("() => window.__ll.samples.length"):
            if page.evaluate("() => window.__ll.fatal") or time.monotonic() > deadline:
                state = page.evaluate("() => window.__ll")
                raise RuntimeError(f"hls.js did not play ({mode}): {state['errors'][:5]}")
            page.wait_for_timeout(100)
        first = page.evaluate("() => window.__ll.samples[0][0]")
        page.wait_for_timeout((warmup + seconds) * 1000 + 200)
        state = page.evaluate("() => window.__ll")
    start, end = first + warmup * 1000, first + (warmup + seconds) * 1000
    kept = [s for s in state["samples"] if start <= s[0] < end]
    stalls = (kept[-1][3] - kept[0][3]) if kept else 0
    return Playback(mode, [float(s[1]) for s in kept],
                    [float(s[2]) for s in kept if s[2] is not None], int(stalls),
                    int(state["parts"]), int(state["fragments"]), list(state["errors"]),
                    None if state["target"] is None else float(state["target"]),
                    None if state["firstPlaying"] is None else state["firstPlaying"] / 1000)


LL_MODE = "hls.js lowLatencyMode: true"
CLASSIC_MODE = "hls.js lowLatencyMode: false (anchor)"


def part_latency(args: argparse.Namespace) -> None:
    print(f"\n== 1. latency: hls.js, RTMP 720p{args.fps} → hlsd → /live; "
          f"{load_note('now')}", flush=True)
    if args.hls_config != "{}":
        print(f"  hls.js config: {args.hls_config} (+ lowLatencyMode)")
    rtmp = c.free_port()
    runs: list[Playback] = []
    with Hlsd(ll_config(rtmp), TMP / "latency") as hlsd, publishing(
            [*live_pattern("1280x720", "veryfast", args.fps), "-b:v", "3000k",
             "-maxrate", "3000k", "-bufsize", "3000k", "-f", "flv",
             f"rtmp://127.0.0.1:{rtmp}/live/lat"], TMP / "latency-ffmpeg.log"):
        url = f"{hlsd.url}/live/lat/index.m3u8"
        wait_parts(url)
        # LL, classic, LL, …: each player starts afresh, where the stream then is
        # (hls.js keeps whatever latency its start-up gave it: sessions differ).
        extra = json.loads(args.hls_config)
        for _ in range(args.sessions):
            runs.append(play(url, {**extra, "lowLatencyMode": True}, LL_MODE, args.warmup,
                             args.play))
            runs.append(play(url, {**extra, "lowLatencyMode": False}, CLASSIC_MODE,
                             args.warmup, args.play))
        note_log("latency", hlsd)
    rows = []
    for run in runs:
        lat = run.latencies
        rows.append([run.mode, len(lat), f"{statistics.median(lat):.3f}" if lat else "-",
                     f"{pct(lat, 99):.3f}", f"{min(lat, default=0):.3f}",
                     f"{max(lat, default=0):.3f}",
                     f"{statistics.median(run.estimates):.3f}" if run.estimates else "-",
                     "-" if run.target is None else f"{run.target:.2f}",
                     "-" if run.first_frame is None else f"{run.first_frame:.2f}", run.stalls,
                     run.parts, run.fragments, len(run.errors)])
    c.print_table(["player (one row a session)", "samples", "median s", "p99 s", "min s",
                   "max s", "hls.latency med s", "hls.js target s", "first frame s",
                   "stalls", "parts loaded", "segments loaded", "hls.js errors"], rows,
                  title=f"Ingest-to-screen latency over {args.play:g} s after {args.warmup:g} s "
                        f"(Date.now() - hls.playingDate every 100 ms)")
    errors: Counter[tuple[str, str]] = Counter()
    for run in runs:
        errors.update((run.mode, error) for error in run.errors)
    for (mode, error), count in errors.most_common(6):
        print(f"  {mode}: {count}x {error}")
    ll = [x for run in runs if run.mode == LL_MODE for x in run.latencies]
    classic = [x for run in runs if run.mode == CLASSIC_MODE for x in run.latencies]
    if ll and classic:
        median, p99 = statistics.median(ll), pct(ll, 99)
        c.print_table(
            ["", "LL", "classic", "LL / classic", "target", "met"],
            [["median s", f"{median:.3f}", f"{statistics.median(classic):.3f}",
              _ratio(median, statistics.median(classic)), f"<= {LL_TARGETS[0]}",
              _yes(median <= LL_TARGETS[0])],
             ["p99 s", f"{p99:.3f}", f"{pct(classic, 99):.3f}", _ratio(p99, pct(classic, 99)),
              f"<= {LL_TARGETS[1]}", _yes(p99 <= LL_TARGETS[1])]],
            title=f"LL-HLS against classic HLS (same stream, same run; {args.sessions} "
                  "session(s) each, samples pooled)")
    print(f"  ({load_note('after the latency part')})")


# -- 2. fan-out: viewers parked on blocking reloads -------------------------------------


def next_part(body: bytes) -> tuple[int, int]:
    """(msn, part) of the part after the newest one in an LL playlist, as hls.js asks:
    parts after the last EXTINF belong to the open segment, msn = media sequence +
    segments listed (+ skipped)."""
    text = body.decode("utf-8", "replace")
    at = text.find("#EXT-X-MEDIA-SEQUENCE:")
    first = int(text[at + 22:text.index("\n", at)]) if at >= 0 else 0
    segments = text.count("#EXTINF:")
    skipped = re.search(r"#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)", text)
    if skipped:
        segments += int(skipped.group(1))
    last = text.rfind("#EXTINF:")
    return first + segments, text.count("#EXT-X-PART:", max(0, last))


@dataclass
class FanPlan:
    host: str
    port: int
    path: str
    viewers: int  # in this process
    first: int  # this process's first viewer's number (for the join ramp)
    total: int  # over every process
    measure: float  # seconds of the measured window


@dataclass
class _Viewers:
    start: float = 0.0
    answers: list[tuple[float, tuple[int, int]]] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    sizes: dict[int, int] = field(default_factory=dict)  # body size -> count
    parsed: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    requests: dict[tuple[int, int], bytes] = field(default_factory=dict)

    def parse(self, body: bytes) -> tuple[int, int]:
        """Every viewer gets the same bytes for a version: parse each once."""
        found = self.parsed.get(body)
        if found is None:
            if len(self.parsed) > 1000:
                self.parsed.clear()
            found = self.parsed[body] = next_part(body)
            self.sizes[len(body)] = self.sizes.get(len(body), 0) + 1
        return found

    def request(self, plan: FanPlan, wanted: tuple[int, int]) -> bytes:
        raw = self.requests.get(wanted)
        if raw is None:
            if len(self.requests) > 1000:
                self.requests.clear()
            raw = self.requests[wanted] = (
                f"GET {plan.path}?_HLS_msn={wanted[0]}&_HLS_part={wanted[1]} HTTP/1.1\r\n"
                f"Host: {plan.host}:{plan.port}\r\n\r\n").encode()
        return raw


async def _viewer(n: int, plan: FanPlan, end: float, state: _Viewers) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, state.start + RAMP * n / plan.total - time.monotonic()))
    plain = f"GET {plan.path} HTTP/1.1\r\nHost: {plan.host}:{plan.port}\r\n\r\n".encode()
    try:
        _, conn = await asyncio.wait_for(
            loop.create_connection(_Conn, plan.host, plan.port), 10)
    except (OSError, TimeoutError) as exc:
        state.errors[f"connect {type(exc).__name__}"] += 1
        return
    try:
        wanted: tuple[int, int] | None = None
        while time.monotonic() < end:
            if wanted is None:
                status, body, _ = await conn.request(plain, True)
            else:
                status, body, _ = await conn.request(state.request(plan, wanted), True)
            if status != 200:
                state.errors[f"HTTP {status}"] += 1
                wanted = None
                await asyncio.sleep(0.1)
                continue
            got = state.parse(body)
            if wanted is not None:
                state.answers.append((time.monotonic(), got))
            wanted = got
    except (OSError, ProtocolFault) as exc:
        state.errors[type(exc).__name__] += 1
    finally:
        conn.close()


async def _viewers(plan: FanPlan, start: Any, go: MpEvent) -> dict[str, Any]:
    state = _Viewers()
    await asyncio.to_thread(go.wait)
    state.start = start.value
    window_start = state.start + RAMP + SETTLE
    end = window_start + plan.measure
    tasks = [asyncio.create_task(_viewer(plan.first + i, plan, end, state))
             for i in range(plan.viewers)]
    await asyncio.sleep(max(0.0, window_start - time.monotonic()))
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.sleep(max(0.0, end - time.monotonic()))
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    _, pending = await asyncio.wait(tasks, timeout=DRAIN)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    return {"answers": state.answers, "errors": dict(state.errors), "unfinished": len(pending),
            "client_cpu": cpu, "sizes": state.sizes, "uvloop": "uvloop" in sys.modules}


def viewers_process(plan: FanPlan, start: Any, go: MpEvent, out: Any) -> None:
    """Process entry (pinned to the client core by its parent's affinity)."""
    try:
        import uvloop
    except ImportError:
        out.put(asyncio.run(_viewers(plan, start, go)))
    else:
        out.put(uvloop.run(_viewers(plan, start, go)))


@dataclass
class FanResult:
    name: str
    viewers: int
    versions: int
    per_version: list[int]
    spreads: list[float]
    delays: list[float]
    cpu: float  # server CPU seconds over the window
    idle_cpu_rate: float  # server CPU seconds per second without viewers
    wall: float
    client_cpu: float
    client_core: float  # seconds CPU 1 was busy over the window
    errors: dict[str, int]
    unfinished: int
    body_bytes: int
    uvloop: bool
    answered: int  # answers received inside the window

    def per_answer(self) -> float:
        """Server CPU seconds per answer over the window (with re-parking it)."""
        return self.cpu / self.answered if self.answered else float("nan")

    def net_rate(self) -> float:
        return max(0.0, self.cpu / self.wall - self.idle_cpu_rate)


def _window_cpu(pid: int, seconds: float) -> float:
    before = tree_cpu_seconds(pid)
    time.sleep(seconds)
    return (tree_cpu_seconds(pid) - before) / seconds


def fan_measure(name: str, pid: int, port: int, path: str, viewers: int,
                measure: float) -> FanResult:
    """`viewers` clients in CLIENT_PROCESSES processes (this process runs on the client
    core, so they do too) against the server `pid` at `port`."""
    idle = _window_cpu(pid, 4.0)
    ctx = mp.get_context("spawn")
    start, go, out = ctx.Value("d", 0.0), ctx.Event(), ctx.Queue()
    procs = []
    first = 0
    for i in range(CLIENT_PROCESSES):
        share = viewers // CLIENT_PROCESSES + (1 if i < viewers % CLIENT_PROCESSES else 0)
        plan = FanPlan("127.0.0.1", port, path, share, first, viewers, measure)
        first += share
        proc = ctx.Process(target=viewers_process, args=(plan, start, go, out))
        proc.start()
        procs.append(proc)
    time.sleep(2.0)  # the processes import and wait for `go`
    start.value = time.monotonic() + 0.2
    go.set()
    window = start.value + RAMP + SETTLE
    time.sleep(max(0.0, window - time.monotonic()))
    cpu0, core0, t0 = tree_cpu_seconds(pid), cpu_busy_seconds(CLIENT_CPU), time.monotonic()
    time.sleep(max(0.0, window + measure - time.monotonic()))
    cpu1, core1, t1 = tree_cpu_seconds(pid), cpu_busy_seconds(CLIENT_CPU), time.monotonic()
    results = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    answers = [a for r in results for a in r["answers"]]
    first_at: dict[tuple[int, int], float] = {}
    last_at: dict[tuple[int, int], float] = {}
    count: Counter[tuple[int, int]] = Counter()
    for at, key in answers:
        first_at[key] = min(first_at.get(key, at), at)
        last_at[key] = max(last_at.get(key, at), at)
        count[key] += 1
    # Versions first answered inside the window, not in its last 0.5 s (viewers stop
    # re-parking at its end).
    inside = {k for k, at in first_at.items() if window <= at < window + measure - 0.5}
    sizes: Counter[int] = Counter()
    for r in results:
        sizes.update(r["sizes"])
    errors: Counter[str] = Counter()
    for r in results:
        errors.update(r["errors"])
    return FanResult(
        name=name, viewers=viewers, versions=len(inside),
        per_version=[count[k] for k in inside],
        spreads=[last_at[k] - first_at[k] for k in inside],
        delays=[at - first_at[key] for at, key in answers if key in inside],
        cpu=cpu1 - cpu0, idle_cpu_rate=idle, wall=t1 - t0,
        client_cpu=sum(r["client_cpu"] for r in results), client_core=core1 - core0,
        errors=dict(errors), unfinished=sum(r["unfinished"] for r in results),
        body_bytes=sizes.most_common(1)[0][0] if sizes else 0,
        uvloop=all(r["uvloop"] for r in results),
        answered=sum(1 for at, _ in answers if t0 <= at < t1))


@contextlib.contextmanager
def floor_server(body_bytes: int) -> Iterator[tuple[int, int]]:
    """bench/_ll_floor.py under ``taskset -c SERVER_CPU``: (pid, port)."""
    port = c.free_port()
    log = (TMP / "floor.log").open("wb")
    proc = subprocess.Popen(["taskset", "-c", str(SERVER_CPU), sys.executable,
                             str(Path(__file__).with_name("_ll_floor.py")), "--port", str(port),
                             "--part", str(PART), "--body-bytes", str(body_bytes)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"_ll_floor exited: {(TMP / 'floor.log').read_text()}")
            try:
                with httpx.Client(timeout=2) as client:
                    client.get(f"http://127.0.0.1:{port}/live/floor/index.m3u8")
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield proc.pid, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def fan_hlsd(args: argparse.Namespace, round_: int) -> FanResult:
    rtmp = c.free_port()
    with Hlsd(ll_config(rtmp), TMP / f"fanout-{round_}", cpu=SERVER_CPU,
              extra_args=["--workers", "1"]) as hlsd, publishing(
            [*live_pattern("640x360", "ultrafast"), "-f", "flv",
             f"rtmp://127.0.0.1:{rtmp}/live/fan"], TMP / "fanout-ffmpeg.log", cpu=CLIENT_CPU):
        wait_parts(hlsd.url + FAN_PATH)
        time.sleep(2.0)  # a few segments in
        result = fan_measure(f"hlsd ({SERVER}, 1 worker)", hlsd.pid or 0, hlsd.port, FAN_PATH,
                             args.viewers, args.measure)
        note_log("fanout", hlsd)
    return result


def fan_floor(args: argparse.Namespace, body_bytes: int) -> FanResult:
    with floor_server(body_bytes) as (pid, port):
        return fan_measure("bare asyncio floor", pid, port, FAN_PATH, args.viewers,
                           args.measure)


def pooled(runs: list[FanResult]) -> FanResult:
    """The samples of several runs of one server, pooled."""
    first = runs[0]
    errors: Counter[str] = Counter()
    for r in runs:
        errors.update(r.errors)
    wall = sum(r.wall for r in runs)
    return FanResult(
        name=first.name, viewers=first.viewers, versions=sum(r.versions for r in runs),
        per_version=[n for r in runs for n in r.per_version],
        spreads=[x for r in runs for x in r.spreads],
        delays=[x for r in runs for x in r.delays], cpu=sum(r.cpu for r in runs),
        idle_cpu_rate=sum(r.idle_cpu_rate * r.wall for r in runs) / wall, wall=wall,
        client_cpu=sum(r.client_cpu for r in runs),
        client_core=sum(r.client_core for r in runs), errors=dict(errors),
        unfinished=sum(r.unfinished for r in runs), body_bytes=first.body_bytes,
        uvloop=first.uvloop, answered=sum(r.answered for r in runs))


def part_fanout(args: argparse.Namespace) -> None:
    print(f"\n== 2. blocking-reload fan-out: {args.viewers} viewers; {load_note('now')}",
          flush=True)
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {CLIENT_CPU})  # the viewer processes inherit it
    hlsd_runs: list[FanResult] = []
    floor_runs: list[FanResult] = []
    try:
        for i in range(args.rounds):
            # hlsd, floor, floor, hlsd, …: drift in the background falls on both alike
            # (the first hlsd run measures the answer size the floor then sends).
            if i % 2 == 0:
                hlsd_runs.append(fan_hlsd(args, i))
                floor_runs.append(fan_floor(args, hlsd_runs[0].body_bytes or 2000))
            else:
                floor_runs.append(fan_floor(args, hlsd_runs[0].body_bytes or 2000))
                hlsd_runs.append(fan_hlsd(args, i))
    finally:
        os.sched_setaffinity(0, affinity)
    ours, floor = pooled(hlsd_runs), pooled(floor_runs)
    rows = []
    for r in (ours, floor):
        per = r.per_version or [0]
        rows.append([r.name, r.versions, f"{min(per)}/{statistics.median(per):.0f}",
                     _ms(pct(r.spreads, 50)), _ms(pct(r.spreads, 99)),
                     _ms(pct(r.delays, 50)), _ms(pct(r.delays, 99)),
                     f"{100 * r.cpu / r.wall:.1f}%", f"{100 * r.idle_cpu_rate:.1f}%",
                     f"{1000 * r.net_rate() / r.viewers:.3f}", f"{r.per_answer() * 1e6:.1f}",
                     f"{100 * r.client_cpu / r.wall:.0f}%",
                     f"{100 * r.client_core / r.wall:.0f}%", r.body_bytes,
                     sum(r.errors.values()) + r.unfinished])
    c.print_table(["server", "parts", "answers/part min/med", "spread p50 ms", "p99 ms",
                   "answer delay p50 ms", "p99 ms", "server CPU", "no viewers",
                   "CPU s/s per 1k", "µs/answer", "viewers CPU", "client core", "body B",
                   "errors"], rows,
                  title=f"{args.viewers} viewers parked on the next part (0.2 s parts), "
                        f"{args.measure:g} s measured x {args.rounds}; spread = first to last "
                        "answer of a part; server on CPU 0, viewers on CPU 1")
    for r in (ours, floor):
        if r.errors or r.unfinished:
            print(f"  {r.name}: errors {r.errors}, unfinished at the end {r.unfinished}")
        if r.client_core / r.wall > 0.9:
            print(f"  {r.name}: the client core was {100 * r.client_core / r.wall:.0f}% busy "
                  f"(the viewers' own share {100 * r.client_cpu / r.wall:.0f}%; the rest is "
                  "other work on the machine): the viewers may be what limits these figures")
    if not ours.uvloop:
        print("  (viewers on asyncio: uvloop is not installed)")
    c.print_table(
        ["", "hlsd", "floor", "hlsd / floor", "target", "met"],
        [["spread p99 ms", _ms(pct(ours.spreads, 99)), _ms(pct(floor.spreads, 99)),
          _ratio(pct(ours.spreads, 99), pct(floor.spreads, 99)),
          f"<= {SPREAD_TARGET * 1000:.0f}", _yes(pct(ours.spreads, 99) <= SPREAD_TARGET)],
         ["answer delay p99 ms", _ms(pct(ours.delays, 99)), _ms(pct(floor.delays, 99)),
          _ratio(pct(ours.delays, 99), pct(floor.delays, 99)), "", ""],
         ["CPU s/s per 1k viewers", f"{1000 * ours.net_rate() / ours.viewers:.3f}",
          f"{1000 * floor.net_rate() / floor.viewers:.3f}",
          _ratio(ours.net_rate(), floor.net_rate()), "", ""],
         ["server CPU µs per answer", f"{ours.per_answer() * 1e6:.1f}",
          f"{floor.per_answer() * 1e6:.1f}", _ratio(ours.per_answer(), floor.per_answer()),
          f"<= {SPREAD_TARGET / args.viewers * 1e6:.0f} (spread target / viewers)", ""]],
        title="hlsd against the floor (bench/_ll_floor.py, same clients and core; CPU net "
              "of each server's CPU with no viewers)")
    print(f"  ({load_note('after the fan-out part')})")


# -- 3. ingest: CPU of RTMP → CMAF parts, against ffmpeg's HLS muxer -------------------


def _publish_file(flv: Path, url: str, log: Path) -> float:
    """``ffmpeg -re -i flv -c copy -f flv url`` to its end: wall seconds."""
    started = time.monotonic()
    with log.open("wb") as err:
        subprocess.run([c.FFMPEG, "-hide_banner", "-v", "error", "-re", "-i", str(flv),
                        "-c", "copy", "-f", "flv", url], stderr=err, stdin=subprocess.DEVNULL,
                       check=True, timeout=180)
    return time.monotonic() - started


@dataclass
class IngestRun:
    name: str
    cpu: float
    wall: float
    gross: float
    idle: float
    segments: int
    note: str


def ingest_hlsd(flv: Path, round_: int) -> IngestRun:
    rtmp = c.free_port()
    with Hlsd(ll_config(rtmp), TMP / f"ingest-hlsd-{round_}") as hlsd:
        time.sleep(1.0)
        idle = _window_cpu(hlsd.pid or 0, 8.0)
        before = tree_cpu_seconds(hlsd.pid or 0)
        started = time.monotonic()
        _publish_file(flv, f"rtmp://127.0.0.1:{rtmp}/live/in", TMP / "ingest-pub.log")
        # The session ends with the connection; the segmenter cuts what it still holds.
        deadline = time.monotonic() + 10
        text = ""
        while time.monotonic() < deadline:
            text = httpx.get(f"{hlsd.url}/live/in/index.m3u8").text
            if "#EXT-X-ENDLIST" in text:
                break
            time.sleep(0.1)
        wall = time.monotonic() - started
        gross = tree_cpu_seconds(hlsd.pid or 0) - before
        note_log("ingest", hlsd)
    segments = next_part(text.encode())[0] if "#EXTINF" in text else 0
    return IngestRun("hlsd (RTMP → CMAF segments + 0.2 s parts)", gross - idle * wall, wall,
                     gross, idle * wall, segments,
                     "" if "#EXT-X-ENDLIST" in text else "no ENDLIST within 10 s")


def ingest_anchor(flv: Path, round_: int) -> IngestRun:
    port = c.free_port()
    out = TMP / f"ingest-anchor-{round_}"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    with (TMP / "ingest-anchor.log").open("wb") as err:
        proc = subprocess.Popen(
            [c.FFMPEG, "-hide_banner", "-v", "error", "-listen", "1",
             "-i", f"rtmp://127.0.0.1:{port}/live/x", "-c", "copy", "-f", "hls",
             "-hls_segment_type", "fmp4", "-hls_time", "1", str(out / "index.m3u8")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    anchor = psutil.Process(proc.pid)
    deadline = time.monotonic() + 10
    while not any(conn.status == psutil.CONN_LISTEN for conn in anchor.net_connections("tcp")):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("the anchor ffmpeg did not listen")
        time.sleep(0.05)
    times = anchor.cpu_times()
    before = times.user + times.system
    started = time.monotonic()
    _publish_file(flv, f"rtmp://127.0.0.1:{port}/live/x", TMP / "ingest-pub.log")
    _, status, usage = os.wait4(proc.pid, 0)  # its own CPU, to the last tick
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    gross = usage.ru_utime + usage.ru_stime - before
    segments = len(list(out.glob("*.m4s")))
    return IngestRun("ffmpeg -listen 1 … -c copy -f hls fmp4 (anchor)", gross, wall, gross,
                     0.0, segments, "" if proc.returncode == 0 else f"exit {proc.returncode}")


def part_ingest(args: argparse.Namespace) -> None:
    flv = c.flv_1080p()
    size = flv.stat().st_size
    print(f"\n== 3. ingest CPU: {flv.name} ({size * 8 / 30 / 1e6:.1f} Mbit/s over 30 s); "
          f"{load_note('now')}", flush=True)
    runs: list[IngestRun] = []
    for i in range(args.rounds):
        order = [ingest_hlsd, ingest_anchor] if i % 2 == 0 else [ingest_anchor, ingest_hlsd]
        for run in order:
            runs.append(run(flv, i))
    rows = [[r.name, f"{r.cpu:.2f}", f"{r.gross:.2f}", f"{r.idle:.2f}", f"{r.wall:.1f}",
             f"{100 * r.cpu / r.wall:.1f}%", r.segments, r.note] for r in runs]
    c.print_table(["server", "CPU s (net)", "gross", "idle over the wall", "wall s",
                   "of one core", "segments", "note"], rows,
                  title="CPU of receiving one 6 Mbit/s 1080p30 RTMP publish (user + system)")
    ours = statistics.median([r.cpu for r in runs if r.name.startswith("hlsd")])
    anchor = statistics.median([r.cpu for r in runs if not r.name.startswith("hlsd")])
    c.print_table(["", "hlsd", "anchor", "hlsd / anchor", "target", "met"],
                  [["CPU s", f"{ours:.2f}", f"{anchor:.2f}", _ratio(ours, anchor),
                    f"<= {INGEST_TARGET}x", _yes(ours <= INGEST_TARGET * anchor)]],
                  title="Ingest against ffmpeg's HLS muxer (same file, same run)")
    print(f"  ({load_note('after the ingest part')})")


# -- waiters: hlsd's own cost per answered blocking reload, in process -----------------


async def _in_process(viewers: int, seconds: float, profile: bool) -> None:
    """hlsd's app (`create_app`, its lifespan running: the RTMP listener, the hub) with
    `viewers` blocking reloads called as ASGI, no server and no sockets, on a real RTMP
    stream: the main thread's CPU per answer, and where it goes (`profile`)."""
    import cProfile
    import pstats
    import tempfile

    import yaml
    from request_path import ASGI, running, scope_for

    from hlsd.app import create_app
    from hlsd.config import load_settings

    async def call(path: str) -> tuple[int, bytes]:
        status, body = [0], []

        async def receive() -> dict[str, Any]:
            await asyncio.Event().wait()  # never a disconnect
            raise AssertionError

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            else:
                body.append(message.get("body", b""))

        await app(scope_for(path, {}), receive, send)
        return status[0], b"".join(body)

    parsed: dict[bytes, tuple[int, int]] = {}
    answers, stop = [0], [False]

    async def viewer() -> None:
        status, body = await call(path)
        while not stop[0]:
            wanted = parsed.get(body) or parsed.setdefault(body, next_part(body))
            status, body = await call(f"{path}?_HLS_msn={wanted[0]}&_HLS_part={wanted[1]}")
            if status != 200:
                await asyncio.sleep(0.1)
                status, body = await call(path)
                continue
            answers[0] += 1

    rtmp = c.free_port()
    path = "/live/fan/index.m3u8"
    with tempfile.TemporaryDirectory(dir=TMP) as scratch:
        config = Path(scratch) / "hls.yaml"
        config.write_text(yaml.safe_dump({**ll_config(rtmp), "data_dir": scratch}))
        app = cast(ASGI, create_app(load_settings(config)))  # Starlette types it wider
        async with running(app):
            with publishing([*live_pattern("320x240", "ultrafast"), "-f", "flv",
                             f"rtmp://127.0.0.1:{rtmp}/live/fan"], Path(scratch) / "ff.log"):
                deadline = time.monotonic() + 30
                while (await call(path))[1].count(b"#EXT-X-PART:") < 5:
                    if time.monotonic() > deadline:
                        raise RuntimeError("no parts in 30 s")
                    await asyncio.sleep(0.2)
                tasks = [asyncio.create_task(viewer()) for _ in range(viewers)]
                await asyncio.sleep(RAMP + SETTLE)
                profiler = cProfile.Profile() if profile else None
                a0, cpu0, t0 = answers[0], time.thread_time(), time.monotonic()
                if profiler is not None:
                    profiler.enable()
                await asyncio.sleep(seconds)
                if profiler is not None:
                    profiler.disable()
                a1, cpu1, t1 = answers[0], time.thread_time(), time.monotonic()
                stop[0] = True
                _, pending = await asyncio.wait(tasks, timeout=DRAIN)
                for task in pending:
                    task.cancel()
    n = a1 - a0
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    print(f"  {viewers} blocking reloads as ASGI calls in process ({loop} loop): {n} answers "
          f"in {t1 - t0:.1f} s ({n / (t1 - t0):.0f}/s), main thread "
          f"{100 * (cpu1 - cpu0) / (t1 - t0):.0f}% of a core = "
          f"{(cpu1 - cpu0) / max(n, 1) * 1e6:.1f} µs per answer"
          + (" (under cProfile: inflated)" if profile else ""))
    if profiler is not None:
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(20)


def part_waiters(args: argparse.Namespace) -> None:
    print(f"\n== waiters: hlsd's app alone, in process; {load_note('now')}", flush=True)
    runner: Any = asyncio.run
    if args.loop == "uvloop":
        import uvloop

        runner = uvloop.run
    runner(_in_process(args.viewers, args.measure, args.profile))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="latency,fanout,ingest",
                        help="parts to run, comma-separated: latency, fanout, ingest, and "
                             "waiters (not run by default)")
    parser.add_argument("--profile", action="store_true",
                        help="waiters: print cProfile's top functions")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop",
                        help="waiters: the event loop (granian runs hlsd on uvloop)")
    parser.add_argument("--server", choices=["granian", "uvicorn"], default="granian",
                        help="the engine hlsd runs on")
    parser.add_argument("--viewers", type=int, default=2000)
    parser.add_argument("--measure", type=float, default=12.0,
                        help="seconds of the fan-out window (~5 parts a second)")
    parser.add_argument("--play", type=float, default=20.0,
                        help="seconds of playback measured per player")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds of playback dropped first")
    parser.add_argument("--hls-config", default="{}",
                        help="latency: more hls.js config, JSON, for both players (e.g. "
                             "'{\"maxLiveSyncPlaybackRate\": 1.5}': hls.js catches up)")
    parser.add_argument("--sessions", type=int, default=3,
                        help="players started afresh per mode, alternating (latency)")
    parser.add_argument("--fps", type=int, default=30,
                        help="frame rate of the latency part's stream (a keyframe a second)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="fan-out and ingest runs per side, alternating, pooled")
    args = parser.parse_args()
    global SERVER
    SERVER = args.server
    only = set(filter(None, args.only.split(",")))
    unknown = only - {"latency", "fanout", "ingest", "waiters"}
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    TMP.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"{os.cpu_count()} CPUs; {load_note('at the start')}")
    if "latency" in only:
        part_latency(args)
    if "fanout" in only:
        part_fanout(args)
    if "ingest" in only:
        part_ingest(args)
    if "waiters" in only:
        part_waiters(args)
    print(f"\n({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
