"""Recording export: ``join_to_mp4`` (what ``/recordings/{id}.mp4`` runs) against the
plain ffmpeg command that does the same job, ``ffmpeg -i index.m3u8 -c copy -movflags
+faststart out.mp4``, on the same 60 s of 720p MPEG-TS segments, in one run.

    python bench/export.py [--seconds 60] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _common import FFMPEG

from hlsd.media.join import join_to_mp4


def _segments(folder: Path, seconds: int) -> list[Path]:
    subprocess.run([FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30",
                    "-f", "lavfi", "-i", "sine=f=440", "-t", str(seconds),
                    "-c:v", "libx264", "-preset", "veryfast", "-b:v", "3M", "-g", "60",
                    "-c:a", "aac", "-f", "hls", "-hls_time", "2", "-hls_list_size", "0",
                    "-hls_segment_filename", str(folder / "s%d.ts"),
                    str(folder / "index.m3u8")], check=True)
    return sorted(folder.glob("s*.ts"), key=lambda p: int(p.stem[1:]))


def _timed(action: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        segments = _segments(folder, args.seconds)
        size = sum(p.stat().st_size for p in segments)
        hlsd = _timed(lambda: join_to_mp4([(p.read_bytes() for p in segments)],
                                          folder / "hlsd.mp4", segment_format="mpegts"),
                      args.runs)
        ffmpeg = _timed(lambda: subprocess.run(
            [FFMPEG, "-v", "error", "-y", "-i", str(folder / "index.m3u8"), "-c", "copy",
             "-movflags", "+faststart", str(folder / "ffmpeg.mp4")], check=True), args.runs)
        print(f"{len(segments)} segments, {size / 1e6:.1f} MB, {args.seconds} s of 720p")
        print(f"hlsd join_to_mp4: {hlsd * 1000:.0f} ms   ffmpeg -c copy: {ffmpeg * 1000:.0f} ms"
              f"   ratio hlsd/ffmpeg: {hlsd / ffmpeg:.2f}")


if __name__ == "__main__":
    main()
