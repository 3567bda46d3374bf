"""Real MPEG-TS fragments, cut by ffmpeg's HLS muxer, for websocket CDN tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests._support.media import FFMPEG


def ts_fragments(folder: Path, count: int = 12) -> list[bytes]:
    """`count` one-second TS fragments of one continuous encode (video + audio)."""
    subprocess.run([FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25",
                    "-f", "lavfi", "-i", "sine=f=440", "-t", str(count), "-c:v", "libx264",
                    "-g", "25", "-c:a", "aac", "-f", "hls", "-hls_time", "1",
                    "-hls_list_size", "0", "-hls_segment_filename", str(folder / "f%d.ts"),
                    str(folder / "index.m3u8")], check=True)
    found = sorted(folder.glob("f*.ts"), key=lambda p: int(p.stem[1:]))
    return [p.read_bytes() for p in found]
