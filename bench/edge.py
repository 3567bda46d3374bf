"""Edge → control: from a segment's acceptance on an edge to its appearance in the
control's live playlist, against the bare transfer of the same bytes over loopback.

    python bench/edge.py [--segments 40] [--gap 0.5] [--warmup 5]

About 1 minute. Two real hlsd processes on loopback: a control (``hlsd serve`` with
``livemix.edge_keys``) and an edge (``hlsd edge --control ws://…/v1/edge --key …``)
dialling out to it. A LiveMix source ``lat`` is defined on the control and switched to
streaming. The publisher writes bench/live.py's 2 s 720p MPEG-TS segments (4 Mbit/s,
~1.1 MB) into a folder and posts LiveMix's ``POST /v1/playlist`` to the edge with a
``file://`` prefix, one segment every `--gap` s; the edge answers once it has taken the
segment (it commits before it answers). A poller in its own process fetches the
control's ``/live/lat/index.m3u8`` back to back on one keep-alive connection and notes
when each new segment first appears. Both read CLOCK_MONOTONIC. Figures: p50/p99 of
acceptance → visible, and the poll round trip (the resolution).

Anchor, same run: the bare transfer. The same segment bytes written by one process into
a loopback TCP socket and read whole by another (``sendall`` to last byte received),
the same number of times. Target: edge → control p99 <= transfer p99 + 20 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

import _common as c
import httpx
from live import SegmentFile, media_playlist, pct, poller, segment_set

from tests._support.hlsd_server import HlsdEdge, HlsdServer, free_port

KEY = "bench-edge-key"
STREAM = "lat"
TARGET_MS = 20.0


# -- the anchor: bare loopback transfer ------------------------------------------------


def _receiver(port: int, sizes: Sequence[int], ready: MpEvent, out: Any) -> None:
    listener = socket.create_server(("127.0.0.1", port))
    ready.set()
    conn, _ = listener.accept()
    done: list[float] = []
    for size in sizes:
        left = size
        while left:
            chunk = conn.recv(min(left, 1 << 20))
            if not chunk:
                raise RuntimeError("sender closed early")
            left -= len(chunk)
        done.append(time.monotonic())
        conn.sendall(b"k")  # one at a time, as the edge sends one segment at a time
    out.put(done)


def bare_transfer(segments: Sequence[SegmentFile], count: int) -> list[float]:
    payloads = [segments[i % len(segments)].data for i in range(count)]
    port = free_port()
    ready, out = mp.Event(), mp.Queue()
    proc = mp.Process(target=_receiver, args=(port, [len(p) for p in payloads], ready, out))
    proc.start()
    ready.wait(10)
    sent: list[float] = []
    with socket.create_connection(("127.0.0.1", port)) as conn:
        for payload in payloads:
            sent.append(time.monotonic())
            conn.sendall(payload)
            conn.recv(1)
    done = out.get(timeout=30)
    proc.join(10)
    return [b - a for a, b in zip(sent, done, strict=True)]


# -- hlsd: a control and an edge ---------------------------------------------------------


@contextlib.contextmanager
def edge_process(tmp: Path, control_port: int, roots: Path) -> Iterator[str]:
    """A real ``hlsd edge`` dialling the control, once its link is up."""
    config = {"livemix": {"file_roots": [str(roots)]}, "rtmp": {"listen": None},
              "srt": {"listen": None}, "websocket": {"listen": None},
              "http": {"max_requests_per_ip": 0}}
    with HlsdEdge(f"ws://127.0.0.1:{control_port}/v1/edge", KEY, config,
                  tmp_dir=tmp / "edge", name="bench-edge") as edge:
        deadline = time.monotonic() + 30
        while httpx.get(edge.url + "/api/health", timeout=2).json()["edge"]["state"] \
                != "connected":
            if time.monotonic() > deadline:
                raise RuntimeError(f"the edge did not connect; see {edge.log_path}")
            time.sleep(0.1)
        yield edge.url


def edge_to_control(segments: Sequence[SegmentFile], args: argparse.Namespace,
                    tmp: Path) -> tuple[list[float], list[float]]:
    roots = tmp / "segments"
    roots.mkdir()
    config = {"livemix": {"edge_keys": [KEY]}, "rtmp": {"listen": None},
              "srt": {"listen": None}, "http": {"max_requests_per_ip": 0}}
    with HlsdServer(config, tmp_dir=tmp / "control") as control:
        http = httpx.Client(base_url=control.url, timeout=10)
        source = http.post("/v1/source", json={"name": STREAM, "segment_len": 2}).json()
        http.put(f"/v1/source/{source['source']['id']}/streaming?new_state=true")
        with edge_process(tmp, control.port, roots) as edge_url:
            edge = httpx.Client(base_url=edge_url, timeout=10)
            names: list[str] = []
            durations: list[float] = []
            accepted: list[float] = []
            ready, stop, out = mp.Event(), mp.Event(), mp.Queue()
            poll = None
            total = args.warmup + args.segments
            for i in range(total):
                segment = segments[i % len(segments)]
                name = f"s{i}.ts"
                (roots / name).write_bytes(segment.data)
                names.append(name)
                durations.append(segment.duration)
                first = max(0, len(names) - 6)
                body = media_playlist(first, names[first:], durations[first:])
                answer = edge.post("/v1/playlist", content=body, headers={
                    "Video-Source-Name": STREAM, "MPEG-TS-URI-Prefix": f"file://{roots}/"})
                accepted.append(time.monotonic())
                answer.raise_for_status()
                if i == args.warmup - 1:
                    time.sleep(2.0)  # the stream is on the control; the poller starts
                    poll = mp.Process(target=poller, args=(
                        control.url, f"/live/{STREAM}/index.m3u8", ready, stop, out))
                    poll.start()
                    ready.wait(10)
                time.sleep(args.gap)
            time.sleep(1.0)
            stop.set()
            seen = out.get(timeout=30)
            assert poll is not None
            poll.join(10)
    first_seen: dict[int, float] = seen["first_seen"]
    newest = sorted(first_seen)
    # the k-th segment pushed after the warm-up is the k-th new sequence number seen
    timed = newest[-args.segments:]
    if len(timed) < args.segments:
        raise RuntimeError(f"only {len(timed)} of {args.segments} segments reached the "
                           "control's playlist")
    delays = [first_seen[seq] - accepted[args.warmup + k] for k, seq in enumerate(timed)]
    return delays, seen["rtts"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--gap", type=float, default=0.5)
    args = parser.parse_args()
    segments = segment_set()
    print(f"{os.cpu_count()} CPUs; {args.segments} segments of "
          f"~{len(segments[0].data) / 1e6:.1f} MB, one every {args.gap} s")
    with tempfile.TemporaryDirectory(prefix="hlsd-bench-edge-") as tmp:
        delays, rtts = edge_to_control(segments, args, Path(tmp))
    transfer = bare_transfer(segments, args.segments)
    ms = 1000.0
    rows = [["edge accept → control playlist", f"{pct(delays, 50) * ms:.1f}",
             f"{pct(delays, 99) * ms:.1f}"],
            ["bare loopback transfer (anchor)", f"{pct(transfer, 50) * ms:.1f}",
             f"{pct(transfer, 99) * ms:.1f}"]]
    c.print_table(["path", "p50 ms", "p99 ms"], rows)
    excess = (pct(delays, 99) - pct(transfer, 99)) * ms
    print(f"poll round trip (resolution): p50 {pct(rtts, 50) * ms:.2f} ms")
    print(f"edge → control p99 - transfer p99 = {excess:.1f} ms (target <= {TARGET_MS:.0f} "
          f"ms): {'met' if excess <= TARGET_MS else 'NOT met'}")


if __name__ == "__main__":
    main()
