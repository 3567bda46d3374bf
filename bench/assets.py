"""Upload to ABR VOD: hlsd's `transcode()` against the one ffmpeg command that makes the
same ladder, and one transcode against two at once, in one run.

    python bench/assets.py [--seconds 60] [--rounds 2]

Source (generated once into bench/out/, gitignored): a 1920x1080 25 fps testsrc2 + 48 kHz
stereo sine MP4, H.264 at 8 Mbit/s (an ordinary camera upload), `--seconds` long.

hlsd: `hlsd.assets.transcode.transcode` with the default ladder (1080p 5M, 720p 2.8M,
480p 1.4M, 360p 0.8M; AAC 128k and 96k): one ffmpeg run, dash muxer writing CMAF
segments, the MPD and the HLS playlists, then hlsd rewriting the HLS playlists (VOD,
measured BANDWIDTH, CODECS from the init segments). Timed from the call to its return.

Anchor: the same ffmpeg argument list up to the muxer (same input, filter graph, x264 and
AAC settings, so the same encodes), written instead by ffmpeg's plain hls muxer as fMP4
(`-f hls -hls_segment_type fmp4 -var_stream_map …`), with no progress reporting. That is
the least a hand-written ladder command costs.

`--rounds` rounds alternate the two (the order swapped every other round) after one
untimed warm-up; medians. CPU is the children's user+sys time (ffmpeg's). Then two
hlsd transcodes of the same clip at once against one: throughput in clip-seconds per
wall-second, 1 -> 2 workers. On a machine with few cores ffmpeg already fills them all
(x264 and the scalers are threaded), so expect little gain from the second worker.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import _common as c

from hlsd.assets.ladder import LadderPlan, plan_ladder
from hlsd.assets.transcode import transcode, transcode_command
from hlsd.media.probe import probe

SEGMENT_SECONDS = 4.0


def clip_1080p(seconds: int) -> Path:
    path = c.OUT_DIR / f"testsrc2-1080p25-8M-{seconds}s.mp4"
    if path.is_file() and path.stat().st_size > 0:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.stem + ".part.mp4")
    print(f"generating {path.relative_to(c.REPO_ROOT)} (once) …", file=sys.stderr, flush=True)
    subprocess.run(
        [c.FFMPEG, "-hide_banner", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=25:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-b:v", "8M",
         "-maxrate", "8M", "-bufsize", "16M", "-g", "50", "-c:a", "aac", "-ac", "2",
         "-b:a", "192k", "-shortest", "-movflags", "+faststart", str(part)], check=True)
    part.replace(path)
    return path


def anchor_command(source: Path, folder: Path, plan: LadderPlan) -> list[str]:
    """hlsd's command with its muxer swapped for the hls muxer, and no progress."""
    args = transcode_command(c.FFMPEG, source, folder, plan, segment_seconds=SEGMENT_SECONDS)
    args = args[:args.index("-f")]
    at = args.index("-progress")
    del args[at:at + 2]
    video, audio = plan.video_rungs, plan.audio_bitrates
    streams = [f"v:{i},agroup:a{rung.audio_bitrate // 1000}" for i, rung in enumerate(video)]
    streams += [f"a:{k},agroup:a{rate // 1000}" for k, rate in enumerate(audio)]
    return [*args, "-f", "hls", "-hls_time", f"{SEGMENT_SECONDS:g}",
            "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
            "-hls_fmp4_init_filename", "init.mp4",
            "-hls_segment_filename", str(folder / "seg_%v_%05d.m4s"),
            "-master_pl_name", "index.m3u8", "-var_stream_map", " ".join(streams),
            str(folder / "media_%v.m3u8")]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(work: Callable[[], object], scratch: Path) -> tuple[float, float]:
    """(wall, children's CPU) seconds of `work`, in a fresh `scratch` removed after."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    cpu = children_cpu()
    started = time.perf_counter()
    try:
        work()
        return time.perf_counter() - started, children_cpu() - cpu
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run(coroutine: Coroutine[Any, Any, object]) -> None:
    asyncio.run(coroutine)


async def concurrently(source: Path, folders: list[Path], plan: LadderPlan) -> None:
    await asyncio.gather(*(transcode(source, folder, plan, segment_seconds=SEGMENT_SECONDS)
                           for folder in folders))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=60, help="clip length (default 60)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of hlsd + anchor")
    args = parser.parse_args()

    source = clip_1080p(args.seconds)
    plan = plan_ladder(probe(source))
    scratch = c.OUT_DIR / "assets-scratch"
    warm = c.OUT_DIR / "warmup-4s.mp4"
    if not warm.is_file():
        c.media.h264_aac_mp4(warm, seconds=4)
    timed(lambda: run(transcode(warm, scratch / "w", plan_ladder(probe(warm)))), scratch)
    print(f"{args.seconds} s of 1080p25, ladder {', '.join(r.name for r in plan.rungs)}, "
          f"{args.rounds} round(s)", flush=True)

    def hlsd_once() -> None:
        run(transcode(source, scratch / "hlsd", plan, segment_seconds=SEGMENT_SECONDS))

    def anchor_once() -> None:
        (scratch / "ffmpeg").mkdir()
        subprocess.run(anchor_command(source, scratch / "ffmpeg", plan), check=True)

    results: dict[str, list[tuple[float, float]]] = {"hlsd": [], "ffmpeg": []}
    for n in range(args.rounds):
        order = [("hlsd", hlsd_once), ("ffmpeg", anchor_once)]
        for name, work in order if n % 2 == 0 else order[::-1]:
            results[name].append(timed(work, scratch))
            wall, cpu = results[name][-1]
            print(f"  round {n + 1} {name:6s} {wall:6.1f} s wall  {cpu:6.1f} s CPU", flush=True)

    hlsd_wall = c.median([w for w, _ in results["hlsd"]])
    ffmpeg_wall = c.median([w for w, _ in results["ffmpeg"]])
    hlsd_cpu = c.median([u for _, u in results["hlsd"]])
    ffmpeg_cpu = c.median([u for _, u in results["ffmpeg"]])
    c.print_table(
        ["", "wall s", "CPU s", "x realtime"],
        [["hlsd transcode()", hlsd_wall, hlsd_cpu, args.seconds / hlsd_wall],
         ["ffmpeg, hls muxer", ffmpeg_wall, ffmpeg_cpu, args.seconds / ffmpeg_wall]],
        title="one transcode of the default ladder (medians)")
    ratio = hlsd_wall / ffmpeg_wall
    print(f"hlsd/ffmpeg wall ratio {ratio:.3f} (target <= {1 / 0.95:.3f}: "
          f"{'met' if ratio <= 1 / 0.95 else 'NOT met'}), CPU ratio {hlsd_cpu / ffmpeg_cpu:.3f}")

    folders = [scratch / "a", scratch / "b"]
    two_wall, two_cpu = timed(lambda: run(concurrently(source, folders, plan)), scratch)
    one = args.seconds / hlsd_wall
    two = 2 * args.seconds / two_wall
    c.print_table(
        ["workers", "wall s", "CPU s", "clip-s per wall-s"],
        [[1, hlsd_wall, hlsd_cpu, one], [2, two_wall, two_cpu, two]],
        title="throughput, 1 -> 2 concurrent transcodes")
    print(f"scaling 1 -> 2 workers: x{two / one:.2f}")


if __name__ == "__main__":
    main()
