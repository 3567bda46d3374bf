"""The live CMAF segmenter's CPU against ffmpeg's own fMP4 HLS muxer, and its startup
delay on a stream arriving in real time.

    python bench/live_segmenter.py [--runs 3] [--seconds 60] [--realtime 20]
                                   [--startup-only|--cpu-only]

Media (generated once into bench/out/): 1920x1080 30 fps H.264 at 6 Mbit/s (a keyframe
every 2 s) + AAC 128k, as FLV (RTMP's container) and as MPEG-TS (SRT's and chunked
HTTP's), the same packets in both.

CPU, user + sys seconds over the whole input, median of N runs, alternating:
  ffmpeg     ``ffmpeg -i in -c copy -f hls -hls_segment_type fmp4 -hls_time 2`` (for TS,
             with ``-bsf:a aac_adtstoasc``, which ffmpeg needs to put ADTS in MP4), a
             separate process: its start-up is in its figure
  file       `segment_stream` in this process reading the file (segments 2 s, parts
             0.5 s), the parts kept in memory as a hub would
  pipe       the integrated shape: an asyncio task writes the bytes in 64 KiB pieces into
             a `BytePipe` (1 MiB), `segment_stream` reads it in a worker thread; this
             process's CPU, both threads
Printed: seconds and the ratio to ffmpeg (the target is ≤ 1.2 for the pipeline).
With ``--realtime S`` (S seconds of the media, once each): ``ffmpeg -re`` against the
pipe fed at the media's bit rate in 64 KiB writes, as a socket would; printed, the
process's CPU (the feeder's file reads and sleeps included) and the segmenter thread's
alone (`segment_stream` and its reads of the pipe).

Startup: the first 8 s of the same media written into a `BytePipe` at its own bit rate
(real time), from an asyncio task; times from the first byte to the demuxer's probe
returning, to the init, and to the first part. The first part cannot come before the
second keyframe (the target duration is learnt from the first GOP): that GOP is printed
alongside.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import _common as c

from hlsd.infra.byte_pipe import BytePipe
from hlsd.media import _live_input
from hlsd.media.live_segmenter import CmafInit, CmafPart, segment_stream

GOP_SECONDS = 2
CHUNK = 64 * 1024


def media(seconds: int) -> dict[str, Path]:
    flv = c.flv_1080p(seconds, gop_seconds=GOP_SECONDS)

    def make_ts(out: Path) -> None:
        subprocess.run([c.FFMPEG, "-hide_banner", "-v", "error", "-y", "-i", str(flv),
                        "-c", "copy", "-f", "mpegts", str(out)], check=True)

    ts = c._generate_once(flv.with_suffix(".ts"), make_ts)
    return {"flv": flv, "mpegts": ts}


class Parts:
    def __init__(self) -> None:
        self.inits: list[CmafInit] = []
        self.parts: list[CmafPart] = []
        self.first_init: float | None = None
        self.first_part: float | None = None

    def init(self, init: CmafInit) -> None:
        self.inits.append(init)
        self.first_init = self.first_init or time.perf_counter()

    def part(self, part: CmafPart) -> None:
        self.parts.append(part)
        self.first_part = self.first_part or time.perf_counter()


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_ffmpeg(path: Path, container: str, *, realtime: bool = False) -> float:
    folder = Path(tempfile.mkdtemp(dir=c.OUT_DIR))
    try:
        before = _cpu(resource.RUSAGE_CHILDREN)
        bsf = ["-bsf:a", "aac_adtstoasc"] if container == "mpegts" else []
        pace = ["-re"] if realtime else []
        subprocess.run([c.FFMPEG, "-v", "error", *pace, "-i", str(path), "-c", "copy", *bsf,
                        "-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", "2",
                        str(folder / "x.m3u8")], check=True)
        return _cpu(resource.RUSAGE_CHILDREN) - before
    finally:
        shutil.rmtree(folder)


def run_file(path: Path, container: str) -> float:
    out = Parts()
    before = _cpu(resource.RUSAGE_SELF)
    with path.open("rb") as source:
        segment_stream(source, container=container, segment_duration=2, part_duration=0.5,
                       output=out)
    return _cpu(resource.RUSAGE_SELF) - before


async def _feed(path: Path, pipe: BytePipe, rate: float | None) -> float:
    """Write the file into the pipe (at `rate` bytes/s when given); the first write's
    time."""
    started = time.perf_counter()
    with path.open("rb") as source:
        sent = 0
        while chunk := source.read(CHUNK):
            await pipe.write(chunk)
            sent += len(chunk)
            if rate is not None:
                ahead = started + sent / rate - time.perf_counter()
                if ahead > 0:
                    await asyncio.sleep(ahead)
    pipe.close()
    return started


async def _through_pipe(path: Path, container: str, rate: float | None,
                        out: Parts, probed: list[float],
                        thread_cpu: list[float] | None = None) -> float:
    pipe = BytePipe(1 << 20)

    def segment() -> None:
        started = time.thread_time()
        try:
            segment_stream(pipe, container=container, segment_duration=2,
                           part_duration=0.5, output=out)
        finally:
            pipe.abort("done")
            if thread_cpu is not None:
                thread_cpu.append(time.thread_time() - started)

    opened = _live_input.LiveInput.__init__

    def timed_open(self: _live_input.LiveInput, *args: object, **kwargs: object) -> None:
        opened(self, *args, **kwargs)  # type: ignore[arg-type]
        probed.append(time.perf_counter())

    _live_input.LiveInput.__init__ = timed_open  # type: ignore[method-assign]
    try:
        reader = asyncio.create_task(asyncio.to_thread(segment))
        started = await _feed(path, pipe, rate)
        await reader
    finally:
        _live_input.LiveInput.__init__ = opened  # type: ignore[method-assign]
    return started


def run_pipe(path: Path, container: str) -> float:
    before = _cpu(resource.RUSAGE_SELF)
    asyncio.run(_through_pipe(path, container, None, Parts(), []))
    return _cpu(resource.RUSAGE_SELF) - before


def realtime(path: Path, container: str, seconds: int) -> tuple[float, float]:
    """(process CPU, segmenter thread CPU) with the media fed at its own rate."""
    thread: list[float] = []
    before = _cpu(resource.RUSAGE_SELF)
    asyncio.run(_through_pipe(path, container, path.stat().st_size / seconds, Parts(), [],
                              thread))
    return _cpu(resource.RUSAGE_SELF) - before, thread[0]


def clip(path: Path, seconds: int) -> Path:
    """The first `seconds` of `path`, cut on packets (no re-encoding)."""
    out = path.with_name(f"{path.stem}-first{seconds}s{path.suffix}")

    def make(target: Path) -> None:
        subprocess.run([c.FFMPEG, "-hide_banner", "-v", "error", "-y", "-i", str(path),
                        "-t", str(seconds), "-c", "copy", "-f",
                        "flv" if path.suffix == ".flv" else "mpegts", str(target)],
                       check=True)

    return c._generate_once(out, make)


def startup(path: Path, container: str, seconds: int) -> tuple[float, float, float]:
    out = Parts()
    probed: list[float] = []
    rate = path.stat().st_size / seconds
    started = asyncio.run(_through_pipe(path, container, rate, out, probed))
    assert out.first_init is not None and out.first_part is not None
    return probed[0] - started, out.first_init - started, out.first_part - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--startup-only", action="store_true")
    parser.add_argument("--cpu-only", action="store_true")
    parser.add_argument("--realtime", type=int, default=0, metavar="SECONDS")
    args = parser.parse_args()
    files = media(args.seconds)
    if not args.startup_only:
        print(f"CPU, user+sys s, median of {args.runs}, {args.seconds} s of 1080p30 6 Mbit/s")
        for container, path in files.items():
            times: dict[str, list[float]] = {"ffmpeg": [], "file": [], "pipe": []}
            for _ in range(args.runs):
                times["ffmpeg"].append(run_ffmpeg(path, container))
                times["file"].append(run_file(path, container))
                times["pipe"].append(run_pipe(path, container))
            medians = {name: statistics.median(t) for name, t in times.items()}
            anchor = medians["ffmpeg"]
            line = "  ".join(f"{name} {value:.3f} s"
                             + ("" if name == "ffmpeg" else f" ({value / anchor:.2f}x)")
                             for name, value in medians.items())
            print(f"  {container:7} {line}")
        if args.realtime:
            print(f"CPU in real time, user+sys s, {args.realtime} s of the same media")
            for container, path in files.items():
                short = clip(path, args.realtime)
                anchor = run_ffmpeg(short, container, realtime=True)
                process, thread = realtime(short, container, args.realtime)
                print(f"  {container:7} ffmpeg -re {anchor:.3f} s  pipeline process "
                      f"{process:.3f} s ({process / anchor:.2f}x), segmenter thread "
                      f"{thread:.3f} s ({thread / anchor:.2f}x)")
    if not args.cpu_only:
        print(f"startup, real-time feed (first GOP {GOP_SECONDS:g} s): from the first byte")
        for container, path in files.items():
            probe, init, part = startup(clip(path, 8), container, 8)
            print(f"  {container:7} probe {probe:.3f} s  init {init:.3f} s  "
                  f"first part {part:.3f} s  (less the GOP: {part - GOP_SECONDS:.3f} s)")


if __name__ == "__main__":
    main()
