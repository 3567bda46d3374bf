"""Live streaming: ingest-to-visible latency, 1,000 players against nginx, memory per stream.

    python bench/live.py [--segments 300] [--gap 0.03] [--clients 1000] [--duration 30]
                         [--poll 1.0] [--streams 1,5,10] [--memory-segments 45]
                         [--engines granian,uvicorn] [--skip latency,load,memory]

Needs ``nginx`` (``apt-get install -y nginx``) for the anchor; the players use uvloop
when it is installed. About 3 minutes.

The segments: 20 s of 1280x720 25 fps H.264 (4 Mbit/s, a keyframe every 2 s) + AAC
cut by ffmpeg's HLS muxer into ten 2 s MPEG-TS segments (~1.1 MB each), made once into
bench/out/. The publisher here speaks HTTP as ffmpeg does (``PUT`` the segment, then
``PUT`` a playlist of the last six naming it, ``Authorization: Bearer``), over one
keep-alive connection, cycling through the ten segments.

1. Ingest-to-visible latency, for each engine in `--engines` (granian, uvicorn; one
   worker: the stream hub lives in one process). A fresh hlsd (``live.window: 6``).
   After 5 untimed pushes, 30 are timed with nothing else talking to hlsd (quiet: the
   PUT round trips alone); then a poller in its own process fetches
   ``GET /live/lat/index.m3u8`` back to back on one keep-alive connection
   (``If-None-Match``, so unchanged playlists are 304s) while N more segments are
   pushed, one every `--gap` s. For each: from the moment the playlist PUT naming it
   returned (hlsd commits before it answers), and from the moment the segment's own PUT
   returned, to the first poll response that lists it. Both processes read
   CLOCK_MONOTONIC. A poll response read after the commit but before the PUT's response
   gives a negative figure; the resolution is the poll round trip, printed with it.
   Target: p99 <= 5 ms from the playlist PUT.

2. Load. For each engine a fresh hlsd, then nginx (the anchor: serving.py's generated
   config, 1 worker, sendfile) serving a directory that the publisher writes instead
   (the segment, then the playlist written under a temporary name and renamed over the
   old one). For each server in turn: six segments are pushed at once, then one every
   2 s in real time; `--clients` players in one client process (asyncio, uvloop if
   installed, plain protocols that count segment bytes without keeping them) join over
   1 s, each on its own keep-alive connection, fetch the playlist every `--poll` s and
   every segment that is new in it (on joining, only the newest), with no conditional
   requests. After 2 s of settling, `--duration` s are measured: requests, bytes,
   latency, the server's CPU (psutil: the server's process and its children), the
   client process's own CPU (getrusage) and the rest of the machine's busy CPU
   ("other": the publisher, and anything else running). Errors (refused or reset
   connections, timeouts, any status but 200, a short body) are counted over the whole
   run and must be zero. Printed: CPU % of one core, CPU per 100 players, and the
   ratio to nginx. hlsd's CPU includes handling the pushes; nginx's does not include
   the publisher's file writes.

3. Memory per live stream, on the first engine. A fresh hlsd with ``live.window: 30``
   (60 s of 2 s segments). RSS of the server (the worker process that holds the
   streams, and the whole process tree) before any stream, then with 1, 5 and 10
   streams, each pushed `--memory-segments` segments as fast as the connection goes.
   With 45 segments, 30 are in the window and 15 have left it but are still available
   (for their duration plus the playlist's, 62 s), so hlsd holds all 45. Compared with
   the bytes of those segments; the oldest one is fetched to check it is still held,
   and the PROGRAM-DATE-TIME steps of the playlist are printed (the publisher sends
   none, so hlsd stamps segments with the wall clock at the commit).

Run it on a quiet machine: the client, the server and the publisher share the cores,
and on 2 cores the players' process competes with the server under test. Compare the
ratios; check the client's CPU, its poll lag (a client that cannot keep up delays its
polls) and the "other" CPU before reading the server's figures. Latency tails under
load move with background work far more than CPU per request does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import multiprocessing as mp
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any, cast

import _common as c
import psutil

KEY = "k"
AUTH = ("Authorization", f"Bearer {KEY}")
SEGMENT_KBPS = 4000
SEGMENT_SIZE = "1280x720"
SEGMENT_SECONDS = 2
SET_SECONDS = 20  # ten distinct segments, cycled
PLAYLIST_SIZE = 6  # names in each pushed playlist, as ffmpeg's -hls_list_size 6
LATENCY_TARGET_MS = 5.0
WARMUP_SEGMENTS = 5  # the stream's first pushes, untimed
QUIET_SEGMENTS = 30
PREFILL = 6
RAMP = 1.0  # players join over this long
SETTLE = 2.0  # then this long before the measured window
REQUEST_TIMEOUT = 10.0
MEMORY_WINDOW = 30
MIB = 1024 * 1024


# -- the segments ---------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentFile:
    name: str
    duration: float
    data: bytes


def segment_set() -> list[SegmentFile]:
    """Ten 2 s TS segments (made once with ffmpeg's HLS muxer into bench/out/)."""
    folder = c.OUT_DIR / f"live-{SEGMENT_SIZE}-{SEGMENT_KBPS}k-{SEGMENT_SECONDS}s"
    playlist = folder / "index.m3u8"
    if not playlist.is_file():
        part = folder.with_name(folder.name + ".part")
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True)
        print(f"generating {folder.relative_to(c.REPO_ROOT)}/ (once) …", file=sys.stderr,
              flush=True)
        gop = str(25 * SEGMENT_SECONDS)
        subprocess.run(
            [c.FFMPEG, "-hide_banner", "-v", "error", "-y",
             "-f", "lavfi", "-i",
             f"testsrc2=size={SEGMENT_SIZE}:rate=25:duration={SET_SECONDS}",
             "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={SET_SECONDS}",
             "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
             "-b:v", f"{SEGMENT_KBPS}k", "-maxrate", f"{SEGMENT_KBPS}k",
             "-bufsize", f"{2 * SEGMENT_KBPS}k",
             "-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
             "-c:a", "aac", "-b:a", "128k", "-shortest",
             "-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_list_size", "0",
             "-hls_segment_filename", str(part / "seg-%d.ts"), str(part / "index.m3u8")],
            check=True)
        part.rename(folder)
    text = playlist.read_text()
    pairs = re.findall(r"#EXTINF:([\d.]+),[^\n]*\n([^#\s][^\n]*)", text)
    return [SegmentFile(name, float(d), (folder / name).read_bytes()) for d, name in pairs]


def media_playlist(first: int, names: Sequence[str], durations: Sequence[float]) -> bytes:
    """A live media playlist as ffmpeg's HLS muxer writes it (no ENDLIST)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{SEGMENT_SECONDS}",
             f"#EXT-X-MEDIA-SEQUENCE:{first}"]
    for name, duration in zip(names, durations, strict=True):
        lines += [f"#EXTINF:{duration:.6f},", name]
    return ("\n".join(lines) + "\n").encode()


# -- a small blocking HTTP/1.1 client (one keep-alive connection) ---------------------


class RawHttp:
    """Requests in order on one TCP connection, Content-Length bodies only. Far less
    client time per request than httpx, so round trips are mostly the server's."""

    def __init__(self, host: str, port: int) -> None:
        self.host = f"{host}:{port}"
        self._sock = socket.create_connection((host, port), timeout=30)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray()

    def close(self) -> None:
        self._sock.close()

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: Sequence[tuple[str, str]] = ()) -> tuple[int, dict[str, str], bytes]:
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        head += [f"{k}: {v}" for k, v in headers]
        if body is not None:
            head.append(f"Content-Length: {len(body)}")
        self._sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        if body:
            self._sock.sendall(body)
        return self._response()

    def _response(self) -> tuple[int, dict[str, str], bytes]:
        buf = self._buf
        while (end := buf.find(b"\r\n\r\n")) < 0:
            self._fill()
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        del buf[:end + 4]
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", ""):
            raise ConnectionError("chunked responses are not expected here")
        length = int(headers.get("content-length", "0"))
        while len(buf) < length:
            self._fill()
        body = bytes(buf[:length])
        del buf[:length]
        return status, headers, body

    def _fill(self) -> None:
        chunk = self._sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self._buf += chunk


# -- measurement helpers --------------------------------------------------------------


def pct(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms_row(name: str, seconds: Sequence[float]) -> list[object]:
    ms = [1000 * s for s in seconds]
    return [name, len(ms), *(f"{pct(ms, p):.2f}" for p in (50, 90, 99)),
            f"{max(ms):.2f}" if ms else "-", f"{min(ms):.2f}" if ms else "-"]


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of process `pid` and its living descendants."""
    root = psutil.Process(pid)
    total = 0.0
    for proc in (root, *root.children(recursive=True)):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


def rss_bytes(pid: int) -> tuple[int, int]:
    """(the RSS of the process holding the app, the RSS of the whole tree): granian's
    main process supervises a worker process; under uvicorn there is one process."""
    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    sizes = [p.memory_info().rss for p in procs]
    return (sizes[-1] if len(sizes) > 1 else sizes[0]), sum(sizes)


def sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def hlsd_log_problems(server: c.HlsdServer) -> list[str]:
    return [line for line in server.log_text().splitlines()
            if re.search(r"error|traceback|exception|warn", line, re.I)
            and "no handshake configured" not in line and "clients only" not in line]


def note_log(name: str, server: c.HlsdServer) -> None:
    problems = hlsd_log_problems(server)
    if problems:
        print(f"  {name}: {len(problems)} error/warning lines in hlsd's log, e.g. "
              f"{problems[0][:200]}", file=sys.stderr, flush=True)


# -- publishers -----------------------------------------------------------------------


@dataclass
class Push:
    sequence: int
    sent: float  # segment PUT sent
    segment_done: float  # its response read
    playlist_done: float  # the playlist PUT's response read


class HlsdPublisher:
    """Pushes to ``/ingest/<stream>/`` as ffmpeg does, over one keep-alive connection."""

    def __init__(self, url: str, stream: str, segments: Sequence[SegmentFile]) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.http = RawHttp(host, int(port))
        self.stream = stream
        self.segments = segments
        self.next = 0
        self.errors: Counter[str] = Counter()

    def push(self) -> Push:
        n = self.next
        self.next += 1
        seg = self.segments[n % len(self.segments)]
        sent = time.monotonic()
        status, _, body = self.http.request("PUT", f"/ingest/{self.stream}/seg-{n}.ts",
                                            seg.data, [AUTH])
        segment_done = time.monotonic()
        if status != 201:
            self.errors[f"segment PUT {status} {body[:80]!r}"] += 1
        first = max(0, n - PLAYLIST_SIZE + 1)
        seqs = range(first, n + 1)
        text = media_playlist(first, [f"seg-{i}.ts" for i in seqs],
                              [self.segments[i % len(self.segments)].duration for i in seqs])
        status, _, body = self.http.request("PUT", f"/ingest/{self.stream}/index.m3u8",
                                            text, [AUTH])
        playlist_done = time.monotonic()
        if status != 201 or b'"committed":1' not in body:
            self.errors[f"playlist PUT {status} {body[:80]!r}"] += 1
        return Push(n, sent, segment_done, playlist_done)

    def close(self) -> None:
        self.http.close()


class DirPublisher:
    """The same stream as files for nginx: the segment, then the playlist renamed into
    place (a player never sees a playlist naming a segment that is not whole)."""

    def __init__(self, folder: Path, segments: Sequence[SegmentFile]) -> None:
        self.folder = folder
        self.segments = segments
        self.next = 0
        self.errors: Counter[str] = Counter()

    def _write(self, name: str, data: bytes) -> None:
        part = self.folder / (name + ".part")
        part.write_bytes(data)
        part.chmod(0o644)
        part.replace(self.folder / name)

    def push(self) -> Push:
        n = self.next
        self.next += 1
        sent = time.monotonic()
        self._write(f"seg-{n}.ts", self.segments[n % len(self.segments)].data)
        segment_done = time.monotonic()
        first = max(0, n - PLAYLIST_SIZE + 1)
        seqs = range(first, n + 1)
        self._write("index.m3u8", media_playlist(
            first, [f"seg-{i}.ts" for i in seqs],
            [self.segments[i % len(self.segments)].duration for i in seqs]))
        return Push(n, sent, segment_done, time.monotonic())

    def close(self) -> None:
        pass


# -- 1. ingest-to-visible latency -----------------------------------------------------


def _newest_sequence(body: bytes) -> int:
    """The sequence number in the last URI of an hlsd live playlist (``<session>-N.ts``)."""
    last = body.rstrip().rsplit(b"\n", 1)[-1]
    return int(last.rsplit(b"-", 1)[1].split(b".", 1)[0])


def poller(url: str, path: str, ready: MpEvent, stop: MpEvent, out: Any) -> None:
    """Process entry: poll `path` back to back until `stop`; report when each newest
    segment was first seen, and every poll's round trip."""
    host, port = url.removeprefix("http://").split(":")
    http = RawHttp(host, int(port))
    first_seen: dict[int, float] = {}
    rtts: list[float] = []
    statuses: Counter[int] = Counter()
    etag: str | None = None
    newest = -1
    while True:
        if len(rtts) % 32 == 0:
            if stop.is_set():
                break
            if len(rtts) == 32:
                ready.set()
        sent = time.monotonic()
        status, headers, body = http.request(
            "GET", path, headers=[("If-None-Match", etag)] if etag else ())
        done = time.monotonic()
        rtts.append(done - sent)
        statuses[status] += 1
        if status == 200:
            etag = headers.get("etag")
            seq = _newest_sequence(body)
            if seq > newest:
                first_seen[seq] = done
                newest = seq
    http.close()
    out.put({"first_seen": first_seen, "rtts": rtts, "statuses": dict(statuses)})


@dataclass
class LatencyResult:
    name: str
    commit_to_visible: list[float]
    segment_to_visible: list[float]
    playlist_put: list[float]
    segment_put: list[float]
    quiet_playlist_put: list[float]
    quiet_segment_put: list[float]
    poll_rtts: list[float]
    polls: int
    statuses: dict[int, int]
    unseen: int
    publisher_errors: Counter[str]
    segment_bytes: float
    seconds: float
    log_problems: list[str]


def measure_latency(engine: str, segments: Sequence[SegmentFile], tmp: Path,
                    args: argparse.Namespace, ctx: Any) -> LatencyResult:
    config = {"live": {"window": 6, "publish_keys": [KEY]}, "log_level": "warning"}
    with c.HlsdServer(config, tmp_dir=tmp / f"hlsd-latency-{engine}",
                      extra_args=["--server", engine]) as server:
        pub = HlsdPublisher(server.url, "lat", segments)
        quiet = []
        for n in range(WARMUP_SEGMENTS + QUIET_SEGMENTS):
            push = pub.push()
            if n >= WARMUP_SEGMENTS:
                quiet.append(push)
            time.sleep(args.gap)
        ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
        proc = ctx.Process(target=poller, args=(server.url, "/live/lat/index.m3u8",
                                                ready, stop, out), daemon=True)
        proc.start()
        if not ready.wait(30):
            raise RuntimeError("the poller did not start")
        started = time.monotonic()
        pushes = []
        for _ in range(args.segments):
            pushes.append(pub.push())
            time.sleep(args.gap)
        seconds = time.monotonic() - started
        stop.set()
        polled = out.get(timeout=60)
        proc.join(timeout=10)
        pub.close()
        problems = hlsd_log_problems(server)
    first_seen: dict[int, float] = polled["first_seen"]
    seen_at = sorted(first_seen.items())
    commit, segment, unseen = [], [], 0
    for push in pushes:
        # The first response listing it: the first whose newest segment is this one or later.
        visible = next((t for seq, t in seen_at if seq >= push.sequence), None)
        if visible is None:
            unseen += 1
            continue
        commit.append(visible - push.playlist_done)
        segment.append(visible - push.segment_done)
    return LatencyResult(
        name=f"hlsd {engine}", commit_to_visible=commit, segment_to_visible=segment,
        playlist_put=[p.playlist_done - p.segment_done for p in pushes],
        segment_put=[p.segment_done - p.sent for p in pushes],
        quiet_playlist_put=[p.playlist_done - p.segment_done for p in quiet],
        quiet_segment_put=[p.segment_done - p.sent for p in quiet],
        poll_rtts=polled["rtts"], polls=len(polled["rtts"]), statuses=polled["statuses"],
        unseen=unseen, publisher_errors=pub.errors,
        segment_bytes=sum(len(s.data) for s in segments) / len(segments),
        seconds=seconds, log_problems=problems)


def report_latency(results: list[LatencyResult], args: argparse.Namespace) -> None:
    rows = []
    for r in results:
        rows += [
            ms_row(f"{r.name}: playlist PUT returned -> visible", r.commit_to_visible),
            ms_row(f"{r.name}: segment PUT returned -> visible", r.segment_to_visible),
            ms_row(f"{r.name}: playlist PUT round trip (polled)", r.playlist_put),
            ms_row(f"{r.name}: playlist PUT round trip (quiet)", r.quiet_playlist_put),
            ms_row(f"{r.name}: segment PUT round trip (polled)", r.segment_put),
            ms_row(f"{r.name}: segment PUT round trip (quiet)", r.quiet_segment_put),
            ms_row(f"{r.name}: poll round trip (the resolution)", r.poll_rtts),
        ]
    first = results[0]
    c.print_table(["ms", "n", "p50", "p90", "p99", "max", "min"], rows,
                  title=f"1. Ingest to visible: {args.segments} segments "
                        f"({first.segment_bytes / 1e6:.2f} MB on average), one every "
                        f"{args.gap * 1000:.0f} ms, after {QUIET_SEGMENTS} pushed with no "
                        "poller (quiet); the poller fetches the playlist back to back")
    for r in results:
        p99 = pct([1000 * s for s in r.commit_to_visible], 99)
        ahead = sum(1 for s in r.commit_to_visible if s < 0)
        print(f"{r.name}: p99 from the playlist PUT {p99:.2f} ms: target <= "
              f"{LATENCY_TARGET_MS:g} ms {'met' if p99 <= LATENCY_TARGET_MS else 'MISSED'}; "
              f"{r.polls:,} polls in {r.seconds:.1f} s ({r.polls / r.seconds:,.0f}/s, "
              f"statuses {r.statuses})")
        if ahead:
            print(f"  {ahead} segments were listed by a poll response read before the "
                  "playlist PUT's own response (negative figures)")
        if r.unseen:
            print(f"  {r.unseen} segments never seen by the poller")
        if r.publisher_errors:
            print(f"  publisher errors: {dict(r.publisher_errors)}")
        for line in r.log_problems[:3]:
            print(f"  hlsd log: {line[:200]}")


# -- 2. load: players polling a live playlist ------------------------------------------


class ProtocolFault(Exception):
    pass


class _Conn(asyncio.Protocol):
    """One player's keep-alive connection: one request at a time, Content-Length
    bodies; a segment body is counted, not kept."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[tuple[int, bytes, int]] | None = None
        self._head = bytearray()
        self._in_body = False
        self._remaining = 0
        self._keep = False
        self._parts: list[bytes] = []
        self._status = 0
        self._received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail(ConnectionError(f"connection lost: {exc!r}"))

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        self._waiter = None

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()
            self.transport = None

    def request(self, raw: bytes, keep: bool) -> asyncio.Future[tuple[int, bytes, int]]:
        """(status, body if `keep`, body bytes received)."""
        if self.transport is None:
            raise ConnectionError("not connected")
        self._waiter = asyncio.get_running_loop().create_future()
        self._keep = keep
        self._head.clear()
        self._in_body = False
        self._parts = []
        self._received = 0
        self.transport.write(raw)
        return self._waiter

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            self.close()
            return
        if not self._in_body:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                if len(self._head) > 65536:
                    self._fail(ProtocolFault("response head too long"))
                    self.close()
                return
            head = bytes(self._head[:end]).lower()
            data = bytes(self._head[end + 4:])
            self._status = int(head[9:12])
            m = re.search(rb"\r\ncontent-length:\s*(\d+)", head)
            if m is None:
                self._fail(ProtocolFault(f"no content-length ({self._status})"))
                self.close()
                return
            self._remaining = int(m.group(1))
            self._in_body = True
        if data:
            if len(data) > self._remaining:
                self._fail(ProtocolFault("more bytes than content-length"))
                self.close()
                return
            self._remaining -= len(data)
            self._received += len(data)
            if self._keep:
                self._parts.append(data)
        if self._remaining == 0:
            waiter, self._waiter = self._waiter, None
            if not waiter.done():
                waiter.set_result((self._status, b"".join(self._parts), self._received))


@dataclass
class LoadPlan:
    host: str
    port: int
    playlist_path: str
    clients: int
    start: float  # time.monotonic(): the first player joins
    measure: float  # the measured window
    end: float
    poll: float


@dataclass
class _Stats:
    playlists: int = 0
    segments: int = 0
    bytes: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    playlist_times: list[tuple[float, float]] = field(default_factory=list)
    segment_times: list[tuple[float, float]] = field(default_factory=list)
    lags: list[tuple[float, float]] = field(default_factory=list)

    def snapshot(self) -> tuple[int, int, int, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return self.playlists, self.segments, self.bytes, usage.ru_utime + usage.ru_stime


async def _fetch(conn: _Conn, raw: bytes, keep: bool) -> tuple[int, bytes, int]:
    return await asyncio.wait_for(conn.request(raw, keep), REQUEST_TIMEOUT)


async def _player(n: int, plan: LoadPlan, stats: _Stats) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, plan.start + RAMP * n / plan.clients - time.monotonic()))
    host = f"{plan.host}:{plan.port}"
    base = plan.playlist_path.rsplit("/", 1)[0] + "/"
    playlist_request = f"GET {plan.playlist_path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    conn: _Conn | None = None
    previous: set[str] | None = None
    due = time.monotonic()
    while (now := time.monotonic()) < plan.end:
        stats.lags.append((now, now - due))
        try:
            if conn is None or conn.transport is None:
                _, conn = await asyncio.wait_for(
                    loop.create_connection(_Conn, plan.host, plan.port), REQUEST_TIMEOUT)
            sent = time.monotonic()
            status, body, _ = await _fetch(conn, playlist_request, True)
            done = time.monotonic()
            stats.playlists += 1
            stats.playlist_times.append((done, done - sent))
            if status != 200:
                stats.errors[f"playlist {status}"] += 1
            else:
                uris = [u for u in body.decode().splitlines() if u and not u.startswith("#")]
                new = uris[-1:] if previous is None else [u for u in uris if u not in previous]
                previous = set(uris)
                for uri in new:
                    sent = time.monotonic()
                    status, _, size = await _fetch(
                        conn, f"GET {base}{uri} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode(),
                        False)
                    done = time.monotonic()
                    stats.segments += 1
                    stats.bytes += size
                    stats.segment_times.append((done, done - sent))
                    if status != 200:
                        stats.errors[f"segment {status}"] += 1
        except (OSError, TimeoutError, ProtocolFault) as exc:
            stats.errors[type(exc).__name__] += 1
            if conn is not None:
                conn.close()
            conn = None
        due += plan.poll
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    if conn is not None:
        conn.close()


async def _players(plan: LoadPlan) -> dict[str, Any]:
    stats = _Stats()
    tasks = [asyncio.create_task(_player(n, plan, stats)) for n in range(plan.clients)]
    await asyncio.sleep(max(0.0, plan.measure - time.monotonic()))
    before = stats.snapshot()
    await asyncio.sleep(max(0.0, plan.end - time.monotonic()))
    after = stats.snapshot()
    _, pending = await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT + 2)
    for task in pending:
        task.cancel()
    window = (plan.measure, plan.end)

    def inside(samples: list[tuple[float, float]]) -> list[float]:
        return [v for t, v in samples if window[0] <= t < window[1]]

    return {"playlists": after[0] - before[0], "segments": after[1] - before[1],
            "bytes": after[2] - before[2], "client_cpu": after[3] - before[3],
            "errors": dict(stats.errors), "unfinished": len(pending),
            "playlist_times": inside(stats.playlist_times),
            "segment_times": inside(stats.segment_times), "lags": inside(stats.lags),
            "uvloop": "uvloop" in sys.modules}


def players(plan: LoadPlan, out: Any) -> None:
    """Process entry: run the players; put the figures on `out`."""
    try:
        import uvloop
    except ImportError:
        out.put(asyncio.run(_players(plan)))
    else:
        out.put(uvloop.run(_players(plan)))


@dataclass
class LoadResult:
    name: str
    seconds: float
    playlists: int
    segments: int
    bytes: int
    server_cpu: float
    client_cpu: float
    errors: dict[str, int]
    playlist_times: list[float]
    segment_times: list[float]
    lags: list[float]
    pushes: int
    push_times: list[float]  # playlist PUT round trips (hlsd) or file writes (nginx)
    publisher_errors: Counter[str]
    used_uvloop: bool
    machine_cpu: float  # busy CPU of the whole machine in the window
    log_problems: list[str] = field(default_factory=list)

    @property
    def server_percent(self) -> float:
        return 100 * self.server_cpu / self.seconds

    @property
    def client_percent(self) -> float:
        return 100 * self.client_cpu / self.seconds

    @property
    def other_percent(self) -> float:
        return 100 * (self.machine_cpu - self.server_cpu - self.client_cpu) / self.seconds


def run_load(name: str, server_pid: int, url: str, playlist_path: str,
             publisher: HlsdPublisher | DirPublisher, args: argparse.Namespace,
             ctx: Any) -> LoadResult:
    """Prefill, then players and a real-time publisher; the server's CPU in the window."""
    for _ in range(PREFILL):
        publisher.push()
    host, port = url.removeprefix("http://").split(":")
    start = time.monotonic() + 2.0  # the client process starts and imports meanwhile
    plan = LoadPlan(host=host, port=int(port), playlist_path=playlist_path,
                    clients=args.clients, start=start, measure=start + RAMP + SETTLE,
                    end=start + RAMP + SETTLE + args.duration, poll=args.poll)
    out = ctx.Queue()
    proc = ctx.Process(target=players, args=(plan, out), daemon=True)
    proc.start()
    pushes: list[Push] = []
    stop = threading.Event()

    def publish() -> None:
        due = start
        while not stop.is_set() and due < plan.end + SEGMENT_SECONDS:
            sleep_until(due)
            pushes.append(publisher.push())
            due += SEGMENT_SECONDS

    thread = threading.Thread(target=publish, name=f"publisher-{name}", daemon=True)
    thread.start()
    sleep_until(plan.measure)
    cpu_before, machine_before = tree_cpu_seconds(server_pid), machine_busy_seconds()
    sleep_until(plan.end)
    cpu_after, machine_after = tree_cpu_seconds(server_pid), machine_busy_seconds()
    try:
        got = out.get(timeout=REQUEST_TIMEOUT + 30)
    finally:
        stop.set()
        thread.join(timeout=SEGMENT_SECONDS + 5)
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
    return LoadResult(
        name=name, seconds=plan.end - plan.measure, playlists=got["playlists"],
        segments=got["segments"], bytes=got["bytes"], server_cpu=cpu_after - cpu_before,
        client_cpu=got["client_cpu"],
        errors={**got["errors"], **({"unfinished": got["unfinished"]}
                                    if got["unfinished"] else {})},
        playlist_times=got["playlist_times"], segment_times=got["segment_times"],
        lags=got["lags"], pushes=len(pushes),
        push_times=[p.playlist_done - p.segment_done for p in pushes],
        publisher_errors=publisher.errors, used_uvloop=got["uvloop"],
        machine_cpu=machine_after - machine_before)


@contextlib.contextmanager
def nginx(binary: str, tmp: Path, root: Path,
          workers: int = 1) -> Iterator[tuple[int, str]]:
    """nginx with serving.py's generated config, in the foreground, in its own session;
    `workers` replaces its ``worker_processes 1``."""
    from serving import NGINX_CONF

    port = c.free_port()
    conf = tmp / "nginx.conf"
    text = NGINX_CONF.format(tmp=tmp, port=port, root=root)
    if workers != 1:
        if "worker_processes 1;\n" not in text:
            raise RuntimeError("serving.NGINX_CONF has changed: no 'worker_processes 1;'")
        text = text.replace("worker_processes 1;\n", f"worker_processes {workers};\n")
    conf.write_text(text)
    # Started as root, nginx's master hands requests to an unprivileged worker: let it in.
    for p in (tmp.parent, tmp, *tmp.rglob("*")):
        p.chmod(0o755 if p.is_dir() else 0o644)
    with (tmp / "nginx.log").open("wb") as log:
        proc = subprocess.Popen([binary, "-p", str(tmp), "-c", str(conf)], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {(tmp / 'nginx.log').read_text()[-500:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port),
                                                                        timeout=1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not listen")
            time.sleep(0.05)
        yield proc.pid, f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def measure_load(segments: Sequence[SegmentFile], tmp: Path, args: argparse.Namespace,
                 ctx: Any) -> list[LoadResult]:
    """Each hlsd engine in turn, then the nginx anchor (the last result)."""
    binary = c.require_tools("nginx")["nginx"]
    results = []
    config = {"live": {"window": 6, "publish_keys": [KEY]}, "log_level": "warning"}
    for engine in args.engines:
        with c.HlsdServer(config, tmp_dir=tmp / f"hlsd-load-{engine}",
                          extra_args=["--server", engine]) as server:
            assert server.pid is not None
            pub = HlsdPublisher(server.url, "load", segments)
            print(f"  load: hlsd {engine}, {args.clients} players, {args.duration:g} s …",
                  file=sys.stderr, flush=True)
            result = run_load(f"hlsd {engine}", server.pid, server.url,
                              "/live/load/index.m3u8", pub, args, ctx)
            pub.close()
            result.log_problems = hlsd_log_problems(server)
            results.append(result)
    base = tmp / "nginx"
    folder = base / "root" / "live" / "load"
    folder.mkdir(parents=True)
    with nginx(binary, base, base / "root") as (pid, url):
        print(f"  load: nginx, {args.clients} players, {args.duration:g} s …",
              file=sys.stderr, flush=True)
        results.append(run_load("nginx 1w (anchor)", pid, url, "/live/load/index.m3u8",
                                DirPublisher(folder, segments), args, ctx))
    return results


def report_load(results: list[LoadResult], args: argparse.Namespace,
                segments: Sequence[SegmentFile]) -> None:
    anchor = results[-1]
    mean = sum(len(s.data) for s in segments) / len(segments)
    rows = []
    for r in results:
        errors = sum(r.errors.values())
        rows.append([
            r.name, f"{(r.playlists + r.segments) / r.seconds:,.0f}",
            f"{r.playlists / r.seconds:,.0f}", f"{r.segments / r.seconds:,.0f}",
            f"{r.bytes / r.seconds / 1e6:,.0f}", f"{r.server_percent:.1f}",
            f"{r.server_percent * 100 / args.clients:.2f}",
            f"{r.server_percent / anchor.server_percent:.1f}" if anchor.server_percent
            else "-", f"{r.client_percent:.0f}", f"{r.other_percent:.0f}",
            f"{errors}" + (f" {r.errors}" if errors else "")])
    c.print_table(["server", "req/s", "playlists/s", "segments/s", "MB/s", "CPU %",
                   "CPU % per 100", "CPU vs nginx", "client CPU %", "other CPU %", "errors"],
                  rows,
                  title=f"2. Load: {args.clients} players, playlist every {args.poll:g} s, "
                        f"each new {mean / 1e6:.2f} MB segment; a segment every "
                        f"{SEGMENT_SECONDS} s pushed in real time; {args.duration:g} s "
                        f"measured per server; {os.cpu_count()} CPUs shared by players, server "
                        "and publisher; CPU is % of one core, 'other' is the rest of the "
                        "machine's (publisher, background)")
    rows = []
    for r in results:
        rows += [ms_row(f"{r.name}: playlist GET", r.playlist_times),
                 ms_row(f"{r.name}: segment GET", r.segment_times),
                 ms_row(f"{r.name}: poll start lag (client)", r.lags),
                 ms_row(f"{r.name}: publisher playlist "
                        + ("write+rename" if r is anchor else "PUT"), r.push_times)]
    c.print_table(["ms", "n", "p50", "p90", "p99", "max", "min"], rows,
                  title="Latency seen by the players in the window, and the publisher's")
    expected = args.clients * args.duration * (1 / args.poll + 1 / SEGMENT_SECONDS)
    for r in results:
        total = r.playlists + r.segments
        print(f"{r.name}: {total:,} requests ({total / expected:.0%} of the "
              f"{expected:,.0f} planned), {r.bytes / 1e9:.2f} GB; "
              f"{r.pushes} segments pushed; errors "
              f"{'0' if not r.errors else r.errors}"
              f"{'' if not r.publisher_errors else f'; publisher: {dict(r.publisher_errors)}'}"
              f"{'' if r.used_uvloop else ' (players without uvloop)'}")
        if r.client_percent > 85 or pct(r.lags, 99) > 0.25 * args.poll:
            print(f"  the client may be the bottleneck for {r.name}: its CPU "
                  f"{r.client_percent:.0f}%, p99 poll lag {1000 * pct(r.lags, 99):.0f} ms")
        for line in r.log_problems[:3]:
            print(f"  hlsd log: {line[:200]}")
    for r in results[:-1]:
        print(f"{r.name} / nginx CPU: {r.server_percent / anchor.server_percent:.1f}x "
              f"({r.server_percent:.1f}% vs {anchor.server_percent:.1f}% of a core)")
    print(f"errors: {'zero' if not any(r.errors for r in results) else 'NOT zero'} "
          "(required: zero)")


# -- 3. memory per live stream --------------------------------------------------------


@dataclass
class MemoryRow:
    streams: int
    worker_rss: int
    tree_rss: int
    held: int  # bytes of segments hlsd holds (window + retired)


def measure_memory(segments: Sequence[SegmentFile], tmp: Path,
                   args: argparse.Namespace) -> tuple[list[MemoryRow], list[str], float]:
    counts = sorted({int(n) for n in args.streams.split(",")})
    config = {"live": {"window": MEMORY_WINDOW, "publish_keys": [KEY],
                       "max_streams": max(100, counts[-1])}, "log_level": "warning"}
    rows = []
    notes: list[str] = []
    push_seconds = 0.0
    with c.HlsdServer(config, tmp_dir=tmp / "hlsd-memory",
                      extra_args=["--server", args.engines[0]]) as server:
        assert server.pid is not None
        host, port = server.url.removeprefix("http://").split(":")
        probe = RawHttp(host, int(port))
        probe.request("GET", "/live/none/index.m3u8")  # the live path, once, before any stream
        time.sleep(1.0)
        rows.append(MemoryRow(0, *rss_bytes(server.pid), held=0))
        held = 0
        made = 0
        for count in counts:
            while made < count:
                pub = HlsdPublisher(server.url, f"mem-{made}", segments)
                started = time.monotonic()
                for _ in range(args.memory_segments):
                    push = pub.push()
                    held += len(segments[push.sequence % len(segments)].data)
                push_seconds += time.monotonic() - started
                if pub.errors:
                    notes.append(f"mem-{made}: publisher errors {dict(pub.errors)}")
                pub.close()
                made += 1
            time.sleep(1.0)
            rows.append(MemoryRow(count, *rss_bytes(server.pid), held=held))
        # What hlsd holds: the window in the playlist, and the oldest segment still there.
        _, _, body = probe.request("GET", "/live/mem-0/index.m3u8")
        uris = [u for u in body.decode().splitlines() if u and not u.startswith("#")]
        in_window = len(uris)
        oldest = re.sub(r"-\d+\.ts$", "-0.ts", uris[0]) if uris else ""
        status0, _, body0 = probe.request("GET", f"/live/mem-0/{oldest}")
        notes.append(f"mem-0: {in_window} segments in its playlist (window "
                     f"{MEMORY_WINDOW}); its first segment {oldest}: {status0}, "
                     f"{len(body0):,} B ({'held' if status0 == 200 else 'NOT held'})")
        stamps = [datetime.fromisoformat(t) for t in re.findall(
            r"#EXT-X-PROGRAM-DATE-TIME:(\S+)", body.decode())]
        steps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
        if steps:
            notes.append(f"mem-0: PROGRAM-DATE-TIME steps {min(steps):.3f}-{max(steps):.3f} s "
                         f"between segments whose EXTINF is {segments[0].duration:g} s (the "
                         "publisher sent none: hlsd takes the wall clock at the commit, and "
                         "these were pushed faster than real time)")
        probe.close()
        notes += [f"hlsd log: {line[:200]}" for line in hlsd_log_problems(server)[:3]]
    return rows, notes, push_seconds


def report_memory(rows: list[MemoryRow], notes: list[str], push_seconds: float,
                  args: argparse.Namespace, segments: Sequence[SegmentFile]) -> None:
    base = rows[0]
    kbps = 8 * sum(len(s.data) for s in segments) / sum(s.duration for s in segments) / 1000
    table = []
    for r in rows:
        grown = r.worker_rss - base.worker_rss
        table.append([
            r.streams, f"{r.worker_rss / MIB:.0f}", f"{r.tree_rss / MIB:.0f}",
            f"{grown / MIB:.0f}", f"{grown / MIB / r.streams:.1f}" if r.streams else "-",
            f"{r.held / MIB:.0f}", f"{r.held / MIB / r.streams:.1f}" if r.streams else "-",
            f"{grown / r.held:.2f}" if r.held else "-"])
    for before, after in itertools.pairwise(rows[1:]):
        grown = after.worker_rss - before.worker_rss
        held = after.held - before.held
        added = after.streams - before.streams
        table.append([f"{before.streams}->{after.streams}", "", "",
                      f"{grown / MIB:.0f}", f"{grown / MIB / added:.1f}",
                      f"{held / MIB:.0f}", f"{held / MIB / added:.1f}",
                      f"{grown / held:.2f}"])
    retired = max(0, args.memory_segments - MEMORY_WINDOW)
    c.print_table(["streams", "worker RSS MiB", "tree RSS MiB", "RSS growth MiB",
                   "MiB/stream", "held MiB", "held MiB/stream", "growth / held"], table,
                  title=f"3. Memory: live.window {MEMORY_WINDOW}, {args.memory_segments} "
                        f"segments of {SEGMENT_SECONDS} s pushed per stream at "
                        f"{kbps:,.0f} kbit/s ({MEMORY_WINDOW} in the window + {retired} "
                        f"retired, still available); pushed at "
                        f"{rows[-1].held / 1e6 / push_seconds:,.0f} MB/s")
    for note in notes:
        print(f"  {note}")


# -- main ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segments", type=int, default=300,
                        help="segments timed for ingest-to-visible")
    parser.add_argument("--gap", type=float, default=0.03,
                        help="seconds between pushes in the latency part")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=30, help="seconds measured per server")
    parser.add_argument("--poll", type=float, default=1.0,
                        help="seconds between a player's playlist fetches")
    parser.add_argument("--streams", default="1,5,10", help="stream counts for memory")
    parser.add_argument("--memory-segments", type=int, default=45,
                        help="segments pushed per stream in the memory part")
    parser.add_argument("--engines", default="granian,uvicorn",
                        help="hlsd's ASGI servers for latency and load, 1 worker each (the "
                             "stream hub is per process); memory uses the first")
    parser.add_argument("--skip", default="", help="parts to skip: latency,load,memory")
    args = parser.parse_args()
    args.engines = [e for e in args.engines.split(",") if e]
    skip = set(filter(None, args.skip.split(",")))
    if "load" not in skip:
        c.require_tools("nginx")

    segments = segment_set()
    ctx = mp.get_context("spawn")
    started = time.monotonic()
    load_at_start = os.getloadavg()[0]
    parts: list[Callable[[], None]] = []
    with tempfile.TemporaryDirectory(dir=c.OUT_DIR, prefix="live-") as scratch:
        tmp = Path(scratch)
        if "latency" not in skip:
            print("  latency …", file=sys.stderr, flush=True)
            lat = [measure_latency(engine, segments, tmp, args, ctx)
                   for engine in args.engines]
            parts.append(lambda: report_latency(lat, args))
        if "load" not in skip:
            load = measure_load(segments, tmp, args, ctx)
            parts.append(lambda: report_load(load, args, segments))
        if "memory" not in skip:
            print("  memory …", file=sys.stderr, flush=True)
            memory = measure_memory(segments, tmp, args)
            parts.append(lambda: report_memory(*memory, args, segments))
    print(f"{len(segments)} segments of {segments[0].duration:g} s cycled, "
          f"{sum(len(s.data) for s in segments) / len(segments) / 1e6:.2f} MB on average; "
          f"{os.cpu_count()} CPUs; load average {load_at_start:.1f} at the start (other work "
          "on the machine shows in 'other CPU %' and in latency tails)")
    for part in parts:
        part()
    print(f"\n({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
