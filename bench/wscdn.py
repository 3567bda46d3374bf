"""Websocket CDN: fan-out latency to 100 / 500 / 1,000 spectators, and the latency one
relay hop adds.

    python bench/wscdn.py [--spectators 100,500,1000] [--fragments 8] [--skip fanout,relay]
                          [--engine granian|uvicorn] [--no-anchor] [--anchor-loop uvloop]
                          [--ceiling] [--rounds 1] [--via listener|main]

The publisher sends 2 s fragments of 20 s of 720p H.264 + AAC at 4 Mbit/s (~1.1 MB each,
the segments bench/live.py makes), one every 2 s, over the websocket protocol. Spectators
(``PULL``, ``max_initial_fragments=0``) run in two client processes on their own core;
hlsd runs on the other core (its process tree pinned to CPU 0, as "one core for the
server"). Latency is from the moment the publisher's send of a fragment's binary frame
returned to the moment a spectator has the whole binary frame, both on CLOCK_MONOTONIC.
Loss is fragments sent minus fragments received, per spectator. Server CPU is the hlsd
process tree's CPU seconds over the measured span, as a share of one core; "client core"
is how busy CPU 1 (the spectators, the publisher and whatever else runs there) was.

Anchor (``--anchor``, the default): ``bench/_raw_fanout.py``, a websocket fan-out server
written on bare asyncio (handshake by hand, ``PUSH``/``PULL`` answered ``OK``, each
fragment's outgoing bytes built once and handed to every spectator's
``transport.write``), run as a subprocess pinned to CPU 0 as hlsd is, measured with the
same clients, fragments and N in the same run, alternating with hlsd. It is the floor
of fan-out on this machine: what the kernel's loopback copies, one Python event loop and
the client core cost. The figures to compare are the ratios hlsd / floor.

hlsd is measured as it is deployed by default: spectators and the publisher connect to
its own websocket listener (``websocket.listen``, the URL the registry announces);
``--via main`` measures ``/ws`` on the main port (through the engine) instead.

Relay hop: node A takes the push, node B relays from A (``cluster.relay_from``); ten
spectators on each. The added latency is, per fragment, each B spectator's latency minus
the median of A's spectators for that fragment.

Ceiling (``--ceiling``): ``bench/_asgi_fanout.py``, a bare ASGI fan-out (no framework,
one shared message per fragment) on hlsd's engine, measured alike: what the engine's
ASGI websocket send costs by itself, which hlsd on that engine cannot beat.

Targets (issue 15): at 1,000 spectators, p99 <= 1.1x and server CPU <= 1.5x the floor's;
a relay hop adds p99 <= 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import _common as c
import psutil
from live import pct, segment_set, tree_cpu_seconds
from websockets.asyncio.client import connect

SERVER_CPU = 0
CLIENT_CPU = 1
CLIENT_PROCESSES = 2


def pin_tree(pid: int, cpu: int) -> None:
    proc = psutil.Process(pid)
    for each in (proc, *proc.children(recursive=True)):
        each.cpu_affinity([cpu])


class _Spectator(asyncio.Protocol):
    """A websocket client that parses frame headers and counts payload bytes without
    assembling messages: cheap enough that one client core can hold 1,000 spectators, so
    what is measured is hlsd. It records when each F message's header arrives (first
    byte) and when its binary frame is complete."""

    def __init__(self, request: bytes, ready: Any, count: int, done: asyncio.Future[None]):
        self.request = request
        self.ready = ready
        self.count = count
        self.done = done
        self.buffer = b""
        self.handshaken = False
        self.remaining = 0  # payload bytes left in the current frame
        self.binary = False
        self.text = b""
        self.first: list[float] = []
        self.whole: list[float] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if not self.handshaken:
            self.buffer += data
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self.handshaken = True
            data, self.buffer = self.buffer[end + 4:], b""
            self.transport.write(_masked_text(b"PULL:stream=" + STREAM_NAME[0].encode()  # type: ignore[attr-defined]
                                              + b"&max_initial_fragments=0"))
        view = memoryview(self.buffer + data if self.buffer else data)
        self.buffer = b""
        at = 0
        while at < len(view):
            if self.remaining:
                take = min(self.remaining, len(view) - at)
                if not self.binary:
                    self.text += bytes(view[at:at + take])
                self.remaining -= take
                at += take
                if not self.remaining:
                    self._frame_done()
                continue
            header = _header(view, at)
            if header is None:
                self.buffer = bytes(view[at:])
                return
            opcode, length, size = header
            at += size
            self.binary = opcode == 2
            self.text = b""
            self.remaining = length
            if not length:
                self._frame_done()

    def _frame_done(self) -> None:
        now = time.monotonic()
        if self.binary:
            self.whole.append(now)
            if len(self.whole) >= self.count and not self.done.done():
                self.done.set_result(None)
        elif self.text == b"OK":
            with self.ready.get_lock():
                self.ready.value += 1
        elif self.text.startswith(b"F:"):
            self.first.append(now)
        elif self.text == b"CLOSE" and not self.done.done():
            self.done.set_result(None)


STREAM_NAME = [""]
ENGINE = ["granian"]
VIA = ["listener"]
ANCHOR_LOOP = ["asyncio"]


def _header(view: memoryview, at: int) -> tuple[int, int, int] | None:
    if len(view) - at < 2:
        return None
    opcode, length = view[at] & 0x0F, view[at + 1] & 0x7F
    if length == 126:
        if len(view) - at < 4:
            return None
        return opcode, int.from_bytes(view[at + 2:at + 4], "big"), 4
    if length == 127:
        if len(view) - at < 10:
            return None
        return opcode, int.from_bytes(view[at + 2:at + 10], "big"), 10
    return opcode, length, 2


def _masked_text(payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


async def _spectate(url: str, count: int, ready: Any) -> tuple[list[float], list[float]]:
    host, port_path = url.removeprefix("ws://").split(":", 1)
    port, path = port_path.split("/", 1)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /{path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    transport, protocol = await loop.create_connection(
        lambda: _Spectator(request, ready, count, done), host, int(port))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done, 60)
    transport.close()
    return protocol.first, protocol.whole


def spectators(url: str, stream: str, n: int, count: int, ready: Any, results: Any) -> None:
    os.sched_setaffinity(0, {CLIENT_CPU})
    STREAM_NAME[0] = stream

    async def run() -> list[tuple[list[float], list[float]]]:
        tasks = []
        for i in range(n):
            tasks.append(asyncio.create_task(_spectate(url, count, ready)))
            if i % 50 == 49:
                await asyncio.sleep(0.05)  # join over a moment, not in one burst
        return list(await asyncio.gather(*tasks))

    results.put(asyncio.run(run()))


async def publish(url: str, stream: str, fragments: Sequence[bytes], count: int,
                  first_sent: asyncio.Event, go: asyncio.Event) -> list[float]:
    """Send a first fragment (so the stream exists), wait for `go`, then `count` more, one
    every 2 s; the moments each timed send returned."""
    sent: list[float] = []
    async with connect(url, max_size=None, ping_interval=None) as ws:
        await ws.send(f"PUSH:stream={stream}")
        while (await ws.recv()) != "OK":
            pass
        await ws.send("F:duration=2")
        await ws.send(fragments[0])
        first_sent.set()
        await go.wait()
        start = time.monotonic() + 1.0
        for i in range(count):
            await asyncio.sleep(max(0.0, start + 2.0 * i - time.monotonic()))
            await ws.send("F:duration=2")
            await ws.send(fragments[(i + 1) % len(fragments)])
            sent.append(time.monotonic())
        await asyncio.sleep(1.0)
        await ws.send("CLOSE")
    return sent


def cpu_busy_seconds(cpu: int) -> float:
    """Seconds CPU `cpu` spent busy (anything but idle and iowait) since boot."""
    t = psutil.cpu_times(percpu=True)[cpu]
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


async def measured(urls: Sequence[str], stream: str, n: int, count: int,
                   fragments: Sequence[bytes], server_pids: Sequence[int],
                   ) -> tuple[list[float], list[list[tuple[list[float], list[float]]]], float,
                              float, float]:
    """Publish to urls[0] with `n` spectators spread over `urls`: (send moments, each
    client process's (header, whole-frame) receipt moments per spectator, server CPU
    seconds, wall seconds, client core busy seconds)."""
    first_sent, go = asyncio.Event(), asyncio.Event()
    publisher = asyncio.create_task(publish(urls[0], stream, fragments, count, first_sent, go))
    await first_sent.wait()
    await asyncio.sleep(0.5)  # relays, if any, pick the stream up
    procs, ready, results = run_spectators(urls, stream, n, count)
    deadline = time.monotonic() + 120
    while ready.value < n and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    cpu0 = sum(tree_cpu_seconds(pid) for pid in server_pids)
    client0 = cpu_busy_seconds(CLIENT_CPU)
    wall0 = time.monotonic()
    go.set()
    sent = await publisher
    cpu = sum(tree_cpu_seconds(pid) for pid in server_pids) - cpu0
    client = cpu_busy_seconds(CLIENT_CPU) - client0
    wall = time.monotonic() - wall0
    rows = [await asyncio.to_thread(results.get, True, 120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    return sent, rows, cpu, wall, client


def run_spectators(urls: Sequence[str], stream: str, n: int, count: int,
                   ) -> tuple[list[mp.Process], Any, Any]:
    ctx = mp.get_context("spawn")
    ready = ctx.Value("i", 0)
    results = ctx.Queue()
    procs = []
    per = [n // CLIENT_PROCESSES + (1 if i < n % CLIENT_PROCESSES else 0)
           for i in range(CLIENT_PROCESSES)]
    for i, share in enumerate(per):
        if share:
            proc = ctx.Process(target=spectators, args=(urls[i % len(urls)], stream, share,
                                                        count, ready, results))
            proc.start()
            procs.append(proc)
    return procs, ready, results


@contextlib.contextmanager
def reference_server(tmp: Path, script: str, *args: str) -> Iterator[tuple[int, int]]:
    """A reference fan-out server (bench/`script`) in its own session: (pid, port)."""
    port = c.free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    log_path = tmp / f"{script}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name(script)),
                                 "--port", str(port), *args],
                                stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).parent,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{script} exited: {log_path.read_text()[-500:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port),
                                                                        timeout=1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{script} did not listen")
            time.sleep(0.05)
        yield proc.pid, port
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def fanout_once(server: str, n: int, fragments: Sequence[bytes], count: int, tmp: Path,
                round_: int = 0) -> dict[str, Any]:
    """One fan-out run against hlsd (`server` "hlsd"), the raw anchor ("raw") or the bare
    ASGI ceiling on hlsd's engine ("asgi"): the samples, not yet summarised."""
    if server == "hlsd":
        listen = c.free_port()
        cfg = {"websocket": {"fragment_buffer": 10, "write_timeout": "10s",
                             "listen": f"127.0.0.1:{listen}"},
               "live": {"window": 6, "max_segment_bytes": "8MB"}, "server": ENGINE[0]}
        with c.HlsdServer(cfg, tmp_dir=tmp / f"fanout-{n}-{round_}") as hlsd:
            pin_tree(hlsd.pid or 0, SERVER_CPU)
            url = hlsd_url(hlsd.port, listen)
            sent, rows, cpu, wall, client = asyncio.run(
                measured([url], "fan", n, count, fragments, [hlsd.pid or 0]))
    else:
        script, args = (("_raw_fanout.py", ("--loop", ANCHOR_LOOP[0])) if server == "raw"
                        else ("_asgi_fanout.py", ("--server", ENGINE[0])))
        with reference_server(tmp / f"{server}-{n}", script, *args) as (pid, port):
            pin_tree(pid, SERVER_CPU)
            url = f"ws://127.0.0.1:{port}/ws"
            sent, rows, cpu, wall, client = asyncio.run(
                measured([url], "fan", n, count, fragments, [pid]))
    received = [row for process in rows for row in process]
    first = [f[i] - sent[i] for f, _ in received for i in range(min(len(f), len(sent)))]
    whole = [w[i] - sent[i] for _, w in received for i in range(min(len(w), len(sent)))]
    return {"first": first, "whole": whole, "held": sum(1 for _, w in received if w),
            "lost": sum(count - len(w) for _, w in received), "cpu": cpu, "wall": wall,
            "client": client}


def summarise(n: int, runs: Sequence[dict[str, Any]], fragment_bytes: int) -> dict[str, Any]:
    """Samples of one server's runs at `n` spectators, pooled over rounds."""
    first = [x for r in runs for x in r["first"]]
    whole = [x for r in runs for x in r["whole"]]
    wall = sum(r["wall"] for r in runs)
    return {"spectators": n, "held": min(r["held"] for r in runs),
            "lost": sum(r["lost"] for r in runs),
            "first50": pct(first, 50), "first99": pct(first, 99),
            "p50": pct(whole, 50), "p99": pct(whole, 99),
            "cpu": 100 * sum(r["cpu"] for r in runs) / wall if wall else 0.0,
            "client": 100 * sum(r["client"] for r in runs) / wall if wall else 0.0,
            "bytes": n * fragment_bytes}


def fanout(n: int, fragments: Sequence[bytes], count: int, tmp: Path, *, anchor: bool = True,
           ceiling: bool = False, rounds: int = 1, raw_first: bool = False,
           ) -> dict[str, dict[str, Any]]:
    """hlsd (and the raw anchor, and the bare ASGI ceiling, alternating with it) at `n`
    spectators, `rounds` times: {"hlsd": summary, "raw": summary, "asgi": summary}."""
    order = ["hlsd", *(["asgi"] if ceiling else []), *(["raw"] if anchor else [])]
    runs: dict[str, list[dict[str, Any]]] = {server: [] for server in order}
    for i in range(rounds):
        # hlsd, raw, raw, hlsd, …: drift in the background load falls on both alike.
        for server in (order[::-1] if (i + raw_first) % 2 else order):
            runs[server].append(fanout_once(server, n, fragments, count, tmp, i))
    return {server: summarise(n, r, len(fragments[1])) for server, r in runs.items()}


def hlsd_url(port: int, listen: int) -> str:
    """Where spectators connect: hlsd's websocket listener, or (``--via main``) ``/ws``
    on the main port."""
    return f"ws://127.0.0.1:{listen if VIA[0] == 'listener' else port}/ws"


def relay_hop(fragments: Sequence[bytes], count: int, tmp: Path) -> dict[str, float]:
    listens = [c.free_port(), c.free_port()]

    def config(listen: int, **more: Any) -> dict[str, Any]:
        return {"websocket": {"fragment_buffer": 10, "listen": f"127.0.0.1:{listen}"},
                "live": {"max_segment_bytes": "8MB"}, "server": ENGINE[0], **more}

    with c.HlsdServer(config(listens[0]), tmp_dir=tmp / "origin") as origin:
        upstream = hlsd_url(origin.port, listens[0])
        edge_cfg = config(listens[1], cluster={"relay_from": upstream})
        with c.HlsdServer(edge_cfg, tmp_dir=tmp / "edge") as edge:
            for server in (origin, edge):
                pin_tree(server.pid or 0, SERVER_CPU)
            urls = [upstream, hlsd_url(edge.port, listens[1])]
            sent, rows, _, _, _ = asyncio.run(
                measured(urls, "hop", 20, count, fragments, [origin.pid or 0, edge.pid or 0]))
    # Client process i pulled from urls[i]: the first is the origin's spectators.
    by_origin, by_edge = ([whole for _, whole in rows[0]], [whole for _, whole in rows[1]])
    added = []
    for k in range(len(sent)):
        reference = statistics.median(
            [row[k] - sent[k] for row in by_origin if k < len(row)] or [float("nan")])
        added += [row[k] - sent[k] - reference for row in by_edge if k < len(row)]
    return {"p50": pct(added, 50), "p99": pct(added, 99)}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b and b == b and a == a else "-"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spectators", default="100,500,1000")
    parser.add_argument("--fragments", type=int, default=8)
    parser.add_argument("--skip", default="")
    parser.add_argument("--engine", default="granian", choices=["granian", "uvicorn"])
    parser.add_argument("--anchor", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure bench/_raw_fanout.py, the floor (default: on)")
    parser.add_argument("--anchor-loop", default="asyncio", choices=["asyncio", "uvloop"],
                        help="the anchor's event loop (default: the standard library's)")
    parser.add_argument("--ceiling", action=argparse.BooleanOptionalAction, default=False,
                        help="also measure bench/_asgi_fanout.py, a bare ASGI fan-out on "
                             "hlsd's engine (default: off)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="runs per server and N, alternating, samples pooled")
    parser.add_argument("--via", default="listener", choices=["listener", "main"],
                        help="hlsd's websocket listener (websocket.listen, the default "
                             "deployment) or /ws on the main port (through the engine)")
    args = parser.parse_args()
    ENGINE[0] = args.engine
    VIA[0] = args.via
    ANCHOR_LOOP[0] = args.anchor_loop
    os.sched_setaffinity(0, {CLIENT_CPU})
    fragments = [s.data for s in segment_set()]
    tmp = c.OUT_DIR / "wscdn"
    tmp.mkdir(parents=True, exist_ok=True)
    skip = set(args.skip.split(","))
    if "fanout" not in skip:
        rows, ratios = [], []
        names = {"hlsd": f"hlsd ({args.engine}, {args.via})",
                 "raw": f"raw {args.anchor_loop} (floor)",
                 "asgi": f"bare ASGI ({args.engine})"}
        for k, n in enumerate(int(x) for x in args.spectators.split(",")):
            got = fanout(n, fragments, args.fragments, tmp, anchor=args.anchor,
                         ceiling=args.ceiling, rounds=args.rounds, raw_first=bool(k % 2))
            for server, r in got.items():
                rows.append([r["spectators"], names[server], r["held"], r["lost"],
                             _ms(r["first50"]), _ms(r["first99"]), _ms(r["p50"]),
                             _ms(r["p99"]), f"{r['bytes'] / 1e6:.0f} MB", f"{r['cpu']:.1f}%",
                             f"{r['client']:.0f}%"])
            if "raw" in got:
                h, r = got["hlsd"], got["raw"]
                row = [n, _ratio(h["p50"], r["p50"]), _ratio(h["p99"], r["p99"]),
                       _ratio(h["first99"], r["first99"]), _ratio(h["cpu"], r["cpu"])]
                if "asgi" in got:
                    a = got["asgi"]
                    row += [_ratio(a["p99"], r["p99"]), _ratio(a["cpu"], r["cpu"])]
                ratios.append([*row, "yes" if h["p99"] <= 1.1 * r["p99"] else "no",
                               "yes" if h["cpu"] <= 1.5 * r["cpu"] else "no"])
        c.print_table(["spectators", "server", "held", "lost", "first byte p50 ms", "p99 ms",
                       "whole fragment p50 ms", "p99 ms", "per fragment", "server CPU",
                       "client core"], rows,
                      title=f"Fan-out: {len(fragments[0]) / 1e6:.1f} MB fragments every 2 s "
                            f"(4 Mbit/s), {args.fragments} measured x {args.rounds} round(s)")
        if ratios:
            ceiling = ["p99 ASGI/raw", "CPU ASGI/raw"] if args.ceiling else []
            c.print_table(["spectators", "p50 hlsd/raw", "p99 hlsd/raw",
                           "first byte p99 hlsd/raw", "CPU hlsd/raw", *ceiling,
                           "p99 <= 1.1x", "CPU <= 1.5x"], ratios,
                          title="Fan-out against the floor (bench/_raw_fanout.py, same run)")
    if "relay" not in skip:
        hop = relay_hop(fragments, args.fragments, tmp)
        c.print_table(["added by one relay hop", "p50 ms", "p99 ms"],
                      [["edge - origin", f"{hop['p50'] * 1000:.1f}",
                        f"{hop['p99'] * 1000:.1f}"]], title="Relay hop; target p99 <= 10 ms")


if __name__ == "__main__":
    main()
