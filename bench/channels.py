"""VOD-to-live channels: playlist serving, window computation, idle channels. One run.

    python bench/channels.py [--items 1000] [--duration 4] [--rounds 3] [--connections 32]
                             [--threads 2] [--ops 2000] [--channels 1000,5000] [--idle 20]
                             [--watched 10] [--skip rps,window,idle]

Needs ``wrk`` and ``nginx`` (``apt-get install -y nginx wrk``). About 3 minutes (+ ~10 s
the first time, to make the media).

The media: ten 8 s ABR HLS VODs (640x360 at 800k and 320x180 at 300k, 2 s segments, MPEG-TS,
``tests/_support/hls_vod.abr_vod``), made once into ``bench/out/channels-library/``, which
is hlsd's ``channels.library``.

1. **Playlist requests per second.** One hlsd (granian, 1 worker) with a looping channel of
   `--items` items cycling the ten assets (``POST /api/channels``). ``wrk -t2 -c32`` on
   ``GET /live/big/0/index.m3u8`` (a 30 s window: 15 segments), against nginx serving a
   snapshot of that playlist (the same size) as a static file, with serving.py's config.
   A reference row (not a target): the same hlsd process serving a pushed live stream's
   playlist of as many segments (``PUT /ingest/…``, from its stream hub: no computation),
   so the gap between the two hlsd rows is what computing a channel's playlist costs.
   Untimed 2 s warm-up each, then `--rounds` runs of `--duration` s go round the three;
   medians. Printed: req/s, p50/p99, server CPU per request, ratios to nginx.
2. **Time to compute a window**, in-process, no HTTP: the same programs (resolved from the
   library with ``resolve_library``) in a ``ChannelSpec`` of `--items` items, laid out as
   ``ChannelService.create`` does. Timed per op over `--ops` random instants across a year:
   ``Timeline.on_air`` (what every playlist request computes), ``Timeline.window`` (laid
   out when a segment has finished airing), ``Channel.media`` with a new instant each time
   (the render cache misses), ``Channel.media`` at one instant (it hits: on_air and a
   lookup), ``Channel.segment`` (the lookup
   behind a segment URI), and compiling the channel from its stored JSON (what a watched
   channel costs after every change). Anchor: ``open`` + ``read`` of a file of the
   playlist's size from the page cache. Medians of 5 repeats.
3. **Idle channels.** A fresh hlsd (``channels.max_channels`` 100,000), nobody watching: its
   process tree's CPU (psutil) over `--idle` s and its RSS, with 0 channels, then with each
   `--channels` count, made through ``POST /api/channels`` (one item each; the create rate
   is printed). Then `--watched` of them are watched by a poller fetching each one's
   variant-0 playlist once a second. Also printed: ``GET /api/channels`` with all of them,
   and how long hlsd takes to answer again after a restart with all of them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common as c
import httpx
import live
import serving

from hlsd.channels import Channel, ChannelSpec, Program, SourceKind
from hlsd.channels.channel import air_tick
from hlsd.channels.ladder import shared_ladder
from hlsd.channels.schedule import Item, Mode, Revision, Source
from hlsd.channels.service import target_duration
from hlsd.channels.sources import resolve_library
from tests._support.hls_vod import abr_vod

ASSETS = 10
ASSET_SECONDS = 8
SEGMENT_SECONDS = 2
WINDOW_SECONDS = 30.0  # channels.window's default
LIBRARY = c.OUT_DIR / "channels-library"
BIG = "big"
WARMUP_SECONDS = 2.0
SETTLE_SECONDS = 3.0
CPU_BUDGET = 10.0  # % of one core: the question of part 3
REPEATS = 5
MIB = 1024 * 1024


def asset(n: int) -> str:
    return f"p{n}/master.m3u8"


def make_library() -> None:
    """The ten assets, made once (distinct tones and patterns: distinct programs)."""
    for n in range(ASSETS):
        folder = LIBRARY / f"p{n}"
        if (folder / "master.m3u8").is_file():
            continue
        part = LIBRARY / f".p{n}.part"
        shutil.rmtree(part, ignore_errors=True)
        print(f"generating {folder.relative_to(c.REPO_ROOT)} (once) …", file=sys.stderr,
              flush=True)
        abr_vod(part, seconds=ASSET_SECONDS, segment=SEGMENT_SECONDS, tone=300 + 60 * n,
                pattern="testsrc2" if n % 2 == 0 else "testsrc")
        part.replace(folder)


def items_json(count: int, distinct: int = ASSETS) -> list[dict[str, Any]]:
    return [{"source": {"library": asset(n % distinct)}} for n in range(count)]


def hlsd_config(**channels: Any) -> dict[str, Any]:
    return {"log_level": "warning", "channels": {"library": str(LIBRARY), **channels}}


def create_channel(client: httpx.Client, name: str, items: list[dict[str, Any]]) -> None:
    response = client.post("/api/channels", json={"name": name, "items": items})
    if response.status_code != 201:
        raise RuntimeError(f"POST /api/channels {name}: {response.status_code} "
                           f"{response.text[:300]}")


# -- 1. playlist requests per second ----------------------------------------------------


@dataclass(frozen=True)
class Load:
    rps: float
    requests: int
    p50_ms: float
    p99_ms: float
    errors: str
    server_cpu_s: float
    seconds: float

    @property
    def cpu_us_per_request(self) -> float:
        return 1e6 * self.server_cpu_s / max(self.requests, 1)

    @property
    def cpu_percent(self) -> float:
        return 100 * self.server_cpu_s / self.seconds


def run_wrk(wrk: str, target: serving.Target, path: str, *, threads: int, connections: int,
            seconds: float) -> Load:
    """serving.py's wrk run, with p50 as well as p99."""
    before = serving.session_cpu_seconds(target.session)
    out = subprocess.run(
        [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency",
         target.url + path],
        check=True, capture_output=True, text=True, timeout=seconds + 60).stdout
    cpu = serving.session_cpu_seconds(target.session) - before
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in ", out)
    pct = {p: re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
           for p in (50, 99)}
    if rps is None or count is None or pct[50] is None or pct[99] is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    errors = []
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        errors.append(f"{m.group(1)} non-2xx")
    if m := re.search(r"Socket errors:(.*)", out):
        errors.append("socket errors:" + m.group(1))
    ms = {p: float(m.group(1)) * serving._TIME_MS[m.group(2)]
          for p, m in pct.items() if m is not None}
    return Load(rps=float(rps.group(1)), requests=int(count.group(1)), p50_ms=ms[50],
                p99_ms=ms[99], errors="; ".join(errors), server_cpu_s=cpu, seconds=seconds)


def combine(runs: list[Load]) -> Load:
    return Load(rps=c.median([r.rps for r in runs]), requests=sum(r.requests for r in runs),
                p50_ms=c.median([r.p50_ms for r in runs]),
                p99_ms=c.median([r.p99_ms for r in runs]),
                errors="; ".join(r.errors for r in runs if r.errors),
                server_cpu_s=sum(r.server_cpu_s for r in runs),
                seconds=sum(r.seconds for r in runs))


def push_stream(client: httpx.Client, stream: str, count: int) -> str:
    """`count` segments of an asset pushed to hlsd's stream hub, as ffmpeg's HLS muxer
    does (loopback publishers need no key); returns the live playlist's path."""
    variant = LIBRARY / "p0" / "v0"
    names = [u for u in (variant / "index.m3u8").read_text().splitlines()
             if u and not u.startswith("#")]
    for n in range(count):
        response = client.put(f"/ingest/{stream}/seg-{n}.ts",
                              content=(variant / names[n % len(names)]).read_bytes())
        response.raise_for_status()
    response = client.put(f"/ingest/{stream}/index.m3u8", content=live.media_playlist(
        0, [f"seg-{n}.ts" for n in range(count)], [float(SEGMENT_SECONDS)] * count))
    response.raise_for_status()
    return f"/live/{stream}/index.m3u8"


def measure_rps(args: argparse.Namespace, tools: dict[str, str], tmp: Path
                ) -> tuple[dict[str, tuple[Load, int]], float]:
    """({server: (load, playlist bytes)}, seconds to create the channel)."""
    path = f"/live/{BIG}/0/index.m3u8"
    segments = round(WINDOW_SECONDS / SEGMENT_SECONDS)
    config = {**hlsd_config(), "live": {"window": segments, "idle_timeout": 3600}}
    with contextlib.ExitStack() as stack:
        hlsd = stack.enter_context(c.HlsdServer(config, tmp_dir=tmp / "hlsd-rps"))
        assert hlsd.pid is not None
        with httpx.Client(base_url=hlsd.url, timeout=60) as client:
            with c.stopwatch() as made:
                create_channel(client, BIG, items_json(args.items))
            pushed_path = push_stream(client, "pushed", segments)
            pushed = client.get(pushed_path)
            pushed.raise_for_status()
            playlist = client.get(path)
            playlist.raise_for_status()
            last = [u for u in playlist.text.splitlines() if u and not u.startswith("#")][-1]
            segment_path = f"/live/{BIG}/0/{last}"
            segment = client.get(segment_path)
            segment.raise_for_status()
        # nginx serves a snapshot of the playlist (and of one segment, which serving.py's
        # helpers check too) at the same URL paths.
        files = serving.Files(segment_path=segment_path, playlist_path=path,
                              segment=segment.content, playlist=playlist.content, token="")
        (tmp / "nginx").mkdir()
        servers = {"nginx 1w (static file)": (stack.enter_context(
                       serving.nginx_serving(tools["nginx"], files, tmp / "nginx")), path),
                   "hlsd granian 1w": (serving.Target(hlsd.url, hlsd.pid), path),
                   "(hlsd, a pushed live stream)": (serving.Target(hlsd.url, hlsd.pid),
                                                    pushed_path)}
        sizes = {"nginx 1w (static file)": len(playlist.content),
                 "hlsd granian 1w": len(playlist.content),
                 "(hlsd, a pushed live stream)": len(pushed.content)}
        print(f"playlist {len(playlist.content):,} B; wrk -t{args.threads} "
              f"-c{args.connections} -d{args.duration:g}s x {args.rounds} rounds",
              file=sys.stderr, flush=True)
        wrk = {"threads": args.threads, "connections": args.connections}
        for target, url_path in servers.values():
            run_wrk(tools["wrk"], target, url_path, seconds=WARMUP_SECONDS, **wrk)
        runs: dict[str, list[Load]] = {name: [] for name in servers}
        for n in range(args.rounds):
            order = list(servers.items())
            for name, (target, url_path) in order if n % 2 == 0 else order[::-1]:
                r = run_wrk(tools["wrk"], target, url_path, seconds=args.duration, **wrk)
                runs[name].append(r)
                print(f"  round {n + 1} {name:<28} {r.rps:>9,.0f} req/s  p50 {r.p50_ms:5.2f} "
                      f"p99 {r.p99_ms:6.2f} ms  server CPU {r.cpu_percent:4.0f}%  {r.errors}",
                      file=sys.stderr, flush=True)
        noted = [line for line in hlsd.log_text().splitlines()
                 if re.search(r"error|traceback|exception", line, re.I)]
        if noted:
            print(f"  hlsd: {len(noted)} error lines in its log, e.g. {noted[0][:200]}",
                  file=sys.stderr)
    return {name: (combine(r), sizes[name]) for name, r in runs.items()}, made()


# -- 2. time to compute a window ---------------------------------------------------------


def build_spec(programs: dict[str, Program], refs: list[str], now_us: int) -> ChannelSpec:
    """What ChannelService.create stores for these items, made at `now_us`."""
    items = tuple(Item(id=f"i{n + 1}", source=Source(kind=SourceKind.LIBRARY, ref=ref))
                  for n, ref in enumerate(refs))
    used = {s.key: programs[s.key] for s in (i.source for i in items)}
    target = max(target_duration(p) for p in used.values())
    window_us = round(max(WINDOW_SECONDS, 3 * target) * 1_000_000)
    revision = Revision(effective_us=now_us - window_us - target * 1_000_000,
                        opening_discontinuity=False, mode=Mode.LOOP, items=items,
                        start_item=items[0].id)
    return ChannelSpec(name=BIG, created_us=now_us, target_duration=target,
                       window_us=window_us, ladder=shared_ladder(list(used.values())),
                       revisions=(revision,), programs=used)


def per_op_us(op: Callable[[Any], object], inputs: Sequence[Any]) -> float:
    """Median over REPEATS of the mean µs per call of `op` over `inputs`."""
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        for x in inputs:
            op(x)
        times.append((time.perf_counter() - started) / len(inputs) * 1e6)
    return statistics.median(times)


@dataclass
class Timings:
    rows: list[tuple[str, float]] = field(default_factory=list)
    anchor_us: float = 0.0
    playlist_bytes: int = 0
    definition_bytes: int = 0


def measure_window(args: argparse.Namespace, tmp: Path) -> Timings:
    programs = {p.key: p for p in (resolve_library(LIBRARY, asset(n)) for n in range(ASSETS))}
    now = time.time_ns() // 1000
    distinct = build_spec(programs, [asset(n % ASSETS) for n in range(args.items)], now)
    same = build_spec(programs, [asset(0)] * args.items, now)
    rng = random.Random(1)
    year = 365 * 86_400 * 1_000_000
    nows = [now + rng.randrange(year) for _ in range(args.ops)]
    out = Timings()

    for label, spec in ((f"{ASSETS} programs", distinct), ("1 program", same)):
        channel = Channel(spec=spec)
        keys = {(w.media_sequence, len(w.slots))
                for w in (channel.timeline.window(t) for t in nows) if w is not None}
        if len(keys) < len(nows) * 0.99:
            raise RuntimeError("the random instants do not give distinct windows")
        if spec is distinct:
            out.rows.append(("Timeline.on_air(now)", per_op_us(channel.timeline.on_air, nows)))
        out.rows.append((f"Timeline.window(now) [{label}]",
                         per_op_us(channel.timeline.window, nows)))
        out.rows.append((f"Channel.media, cache miss [{label}]",
                         per_op_us(lambda t, ch=channel: ch.media(0, t), nows)))
        if spec is distinct:
            fixed = nows[0]
            first = channel.media(0, fixed)
            assert first is not None
            out.playlist_bytes = len(first.body)
            out.rows.append(("Channel.media, cache hit",
                             per_op_us(lambda _t, ch=channel, at=fixed: ch.media(0, at),
                                       [fixed] * args.ops)))
            # A segment in the middle of each window, as a player asks for it.
            asks = []
            for t in nows:
                window = channel.timeline.window(t)
                assert window is not None
                slot = window.slots[len(window.slots) // 2]
                asks.append((slot.clip.key, air_tick(slot.start_us - slot.offset_us),
                             slot.index, t))
            out.rows.append(("Channel.segment (URI lookup)", per_op_us(
                lambda a, ch=channel: ch.segment(0, *a), asks)))
            definition = json.dumps(spec.to_json())
            out.definition_bytes = len(definition)
            compiles = list(range(max(args.ops // 100, 5)))
            out.rows.append(("compile: json + from_json + Channel", per_op_us(
                lambda _n, d=definition: Channel(spec=ChannelSpec.from_json(
                    BIG, 1, json.loads(d))), compiles)))

    # The anchor: a file of the playlist's size, read whole from the page cache.
    static = tmp / "playlist.m3u8"
    static.write_bytes(b"#" * out.playlist_bytes)

    def read(_n: int) -> bytes:
        with open(static, "rb") as f:
            return f.read()

    read(0)
    out.anchor_us = per_op_us(read, list(range(args.ops)))
    return out


# -- 3. idle channels ----------------------------------------------------------------------


@dataclass(frozen=True)
class Idle:
    label: str
    channels: int
    seconds: float
    cpu_s: float
    rss_worker: int
    rss_tree: int
    start_s: float | None = None  # the server's start with this many channels
    polls: int = 0
    poll_errors: int = 0
    poll_p50_ms: float | None = None
    poll_p99_ms: float | None = None

    @property
    def cpu_percent(self) -> float:
        return 100 * self.cpu_s / self.seconds


def sample_idle(server: c.HlsdServer, label: str, channels: int, seconds: float,
                start_s: float | None = None) -> Idle:
    assert server.pid is not None
    time.sleep(SETTLE_SECONDS)
    cpu = live.tree_cpu_seconds(server.pid)
    with c.stopwatch() as elapsed:
        time.sleep(seconds)
    cpu = live.tree_cpu_seconds(server.pid) - cpu
    worker, tree = live.rss_bytes(server.pid)
    print(f"  {label}: CPU {100 * cpu / elapsed():.2f}% of a core, RSS {tree / MIB:.0f} MiB",
          file=sys.stderr, flush=True)
    return Idle(label=label, channels=channels, seconds=elapsed(), cpu_s=cpu,
                rss_worker=worker, rss_tree=tree, start_s=start_s)


def watched(server: c.HlsdServer, names: list[str], channels: int, seconds: float) -> Idle:
    """A poller fetching each of `names`' variant-0 playlist once a second."""
    assert server.pid is not None
    stop = threading.Event()
    times: list[float] = []
    errors = [0]

    def poll() -> None:
        with httpx.Client(base_url=server.url, timeout=5) as client:
            tick = time.monotonic()
            while not stop.is_set():
                for name in names:
                    started = time.perf_counter()
                    try:
                        ok = client.get(f"/live/{name}/0/index.m3u8").status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    times.append(time.perf_counter() - started)
                    errors[0] += not ok
                tick += 1.0
                stop.wait(max(0.0, tick - time.monotonic()))

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    time.sleep(SETTLE_SECONDS)  # every watched channel compiled
    first = len(times)
    cpu = live.tree_cpu_seconds(server.pid)
    with c.stopwatch() as elapsed:
        time.sleep(seconds)
    cpu = live.tree_cpu_seconds(server.pid) - cpu
    measured = times[first:]
    stop.set()
    thread.join(timeout=10)
    worker, tree = live.rss_bytes(server.pid)
    ms = sorted(1000 * t for t in measured)
    label = f"{channels:,} channels, {len(names)} watched (1 poll/s each)"
    print(f"  {label}: CPU {100 * cpu / elapsed():.2f}% of a core, {len(ms)} polls, "
          f"{errors[0]} errors", file=sys.stderr, flush=True)
    return Idle(label=label, channels=channels, seconds=elapsed(), cpu_s=cpu,
                rss_worker=worker, rss_tree=tree, polls=len(ms), poll_errors=errors[0],
                poll_p50_ms=ms[len(ms) // 2] if ms else None,
                poll_p99_ms=ms[min(len(ms) - 1, int(len(ms) * 0.99))] if ms else None)


@dataclass
class IdleRun:
    rows: list[Idle] = field(default_factory=list)
    create_ms: list[tuple[int, float]] = field(default_factory=list)
    """(channels there after, ms per POST /api/channels over the last hundred)."""
    list_s: tuple[int, float] | None = None
    """(channels, seconds of GET /api/channels) at the largest count."""
    restart_s: tuple[int, float] | None = None
    """(channels, seconds until hlsd answers again after a restart)."""


def measure_idle(args: argparse.Namespace, tmp: Path) -> IdleRun:
    counts = sorted(int(n) for n in args.channels.split(","))
    out = IdleRun()
    server = c.HlsdServer(hlsd_config(max_channels=100_000), tmp_dir=tmp / "hlsd-idle")
    with c.stopwatch() as started:
        server.start()
    try:
        out.rows.append(sample_idle(server, "0 channels", 0, args.idle, started()))
        made = 0
        one = items_json(1)
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for count in counts:
                while made < count:
                    batch = min(100, count - made)
                    with c.stopwatch() as elapsed:
                        for _ in range(batch):
                            made += 1
                            create_channel(client, f"ch{made}", one)
                    if made in (batch, count):
                        out.create_ms.append((made, 1000 * elapsed() / batch))
                out.rows.append(sample_idle(server, f"{count:,} channels", count, args.idle))
            if args.watched:
                out.rows.append(watched(server, [f"ch{n + 1}" for n in range(args.watched)],
                                        made, args.idle))
            with c.stopwatch() as listing:
                listed = client.get("/api/channels").json()["channels"]
            if len(listed) != made:
                raise RuntimeError(f"hlsd lists {len(listed)} channels, not {made}")
            out.list_s = (made, listing())
        noted = [line for line in server.log_text().splitlines()
                 if re.search(r"error|traceback|exception", line, re.I)]
        if noted:
            print(f"  hlsd: {len(noted)} error lines in its log, e.g. {noted[0][:200]}",
                  file=sys.stderr)
        server.stop()
        with c.stopwatch() as restarted:
            server.start()
        out.restart_s = (made, restarted())
    finally:
        server.stop()
    return out


# -- report ------------------------------------------------------------------------------


def report(args: argparse.Namespace, rps: tuple[dict[str, tuple[Load, int]], float] | None,
           window: Timings | None, idle: IdleRun | None) -> None:
    print(f"\n{os.cpu_count()} CPUs, shared with other work: compare the ratios, not the "
          "absolute figures")
    if rps is not None:
        loads, made = rps
        nginx = loads["nginx 1w (static file)"][0]
        rows = [[name, f"{size:,}", f"{r.rps:,.0f}", f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}",
                 f"{r.cpu_us_per_request:,.0f}", f"{r.rps / nginx.rps:.2f}",
                 f"{r.cpu_us_per_request / nginx.cpu_us_per_request:.1f}", r.errors]
                for name, (r, size) in loads.items()]
        c.print_table(["server", "bytes", "req/s", "p50 ms", "p99 ms", "CPU us/req",
                       "req/s vs nginx", "CPU/req vs nginx", "errors"], rows,
                      title=f"1. GET /live/{BIG}/0/index.m3u8, a channel of {args.items:,} "
                            f"items (made in {made:.2f} s); wrk "
                            f"-t{args.threads} -c{args.connections}, {args.rounds} x "
                            f"{args.duration:g} s, medians")
    if window is not None:
        rows = [[name, f"{us:,.1f}", f"{us / window.anchor_us:,.1f}",
                 f"{1e6 / us:,.0f}"] for name, us in window.rows]
        rows.append([f"anchor: open+read {window.playlist_bytes:,} B (page cache)",
                     f"{window.anchor_us:,.1f}", "1.0", f"{1e6 / window.anchor_us:,.0f}"])
        c.print_table(["operation", "us/op", "vs open+read", "ops/s (1 core)"], rows,
                      title=f"2. In-process, a {args.items:,}-item channel ({ASSETS} programs "
                            f"cycled, or 1 program), {args.ops:,} random instants over a "
                            f"year; stored definition {window.definition_bytes:,} B; "
                            f"median of {REPEATS}")
    if idle is not None:
        base = idle.rows[0]
        rows = []
        for r in idle.rows:
            extra = r.cpu_percent - base.cpu_percent
            rows.append([
                r.label, f"{r.cpu_percent:.2f}",
                "" if r is base or r.polls else f"{1000 * extra / r.channels:+.3f}",
                f"{r.rss_tree / MIB:.0f}", f"{r.rss_worker / MIB:.0f}",
                "" if r is base or not r.channels else
                f"{(r.rss_tree - base.rss_tree) / r.channels / 1024:+.1f}",
                "" if r.poll_p50_ms is None else
                f"{r.poll_p50_ms:.1f} / {r.poll_p99_ms:.1f} ({r.poll_errors} err)"])
        c.print_table(["hlsd, idle", "CPU % core", "+CPU %/1k ch", "RSS MiB", "worker MiB",
                       "+RSS KiB/ch", "poll p50/p99 ms"], rows,
                      title=f"3. Idle channels, {args.idle:g} s each (after "
                            f"{SETTLE_SECONDS:g} s settling), process tree CPU and RSS")
        if idle.create_ms:
            print("   POST /api/channels (one item): " + ", ".join(
                f"{ms:.1f} ms each up to {n:,} channels" for n, ms in idle.create_ms))
        if idle.list_s:
            print(f"   GET /api/channels with {idle.list_s[0]:,} channels: "
                  f"{idle.list_s[1]:.2f} s")
        if idle.restart_s:
            print(f"   hlsd restarted with {idle.restart_s[0]:,} channels: answering after "
                  f"{idle.restart_s[1]:.1f} s (with 0: {base.start_s:.1f} s)")
    # The compact summary.
    summary: list[list[str]] = []
    if rps is not None:
        loads, _ = rps
        hlsd, nginx = loads["hlsd granian 1w"][0], loads["nginx 1w (static file)"][0]
        summary.append(["playlist req/s (hlsd / nginx static)",
                        f"{hlsd.rps:,.0f} / {nginx.rps:,.0f}", f"{hlsd.rps / nginx.rps:.2f}"])
        summary.append(["playlist p50 / p99 ms (hlsd)",
                        f"{hlsd.p50_ms:.2f} / {hlsd.p99_ms:.2f}",
                        f"{hlsd.p99_ms / nginx.p99_ms:.1f} (p99)"])
    if window is not None:
        for name, us in window.rows[:4]:
            summary.append([name, f"{us:,.1f} us", f"{us / window.anchor_us:,.1f}"])
    if idle is not None:
        base = idle.rows[0]
        previous = base
        for r in idle.rows[1:]:
            summary.append([f"CPU: {r.label}", f"{r.cpu_percent:.2f}% core",
                            f"{r.cpu_percent - previous.cpu_percent:+.2f} vs idle"
                            if r.polls else f"{r.cpu_percent - base.cpu_percent:+.2f} vs 0 ch"])
            previous = r
        idles = [r for r in idle.rows[1:] if r.polls == 0]
        if idles:
            top = idles[-1]
            extra = top.cpu_percent - base.cpu_percent
            verdict = (f">= {top.channels:,} (no measurable growth)"
                       if extra < 0.5 else
                       f"~{(CPU_BUDGET - base.cpu_percent) / extra * top.channels:,.0f}")
            summary.append([f"idle channels within {CPU_BUDGET:g}% CPU", verdict,
                            f"base {base.cpu_percent:.2f}%"])
    c.print_table(["summary", "value", "ratio / note"], summary, title="Summary")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=4, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ops", type=int, default=2000, help="instants per timed loop")
    parser.add_argument("--channels", default="1000,5000",
                        help="idle channel counts; the first is made through the API")
    parser.add_argument("--idle", type=float, default=20, help="seconds per idle sample")
    parser.add_argument("--watched", type=int, default=10)
    parser.add_argument("--skip", default="", help="any of rps,window,idle")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    tools = c.require_tools("wrk", "nginx") if "rps" not in skip else {}
    began = time.monotonic()
    make_library()
    c.OUT_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=c.OUT_DIR, prefix="channels-") as scratch:
        tmp = Path(scratch)
        rps = window = idle = None
        if "rps" not in skip:
            print("1. playlist requests per second", file=sys.stderr, flush=True)
            rps = measure_rps(args, tools, tmp)
        if "window" not in skip:
            print("2. window computation, in-process", file=sys.stderr, flush=True)
            window = measure_window(args, tmp)
        if "idle" not in skip:
            print("3. idle channels", file=sys.stderr, flush=True)
            idle = measure_idle(args, tmp)
    report(args, rps, window, idle)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"\n({time.monotonic() - began:.0f} s; this process "
          f"{usage.ru_utime + usage.ru_stime:.0f} s CPU)")


if __name__ == "__main__":
    main()
