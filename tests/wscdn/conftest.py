"""Real MPEG-TS fragments (cut by ffmpeg's HLS muxer) and websocket helpers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests._support import media as fx


@pytest.fixture(scope="session")
def fragments(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """Twelve one-second TS fragments of one continuous encode (video + audio)."""
    folder = tmp_path_factory.mktemp("fragments")
    subprocess.run([fx.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25",
                    "-f", "lavfi", "-i", "sine=f=440", "-t", "12", "-c:v", "libx264",
                    "-g", "25", "-c:a", "aac", "-f", "hls", "-hls_time", "1",
                    "-hls_list_size", "0", "-hls_segment_filename", str(folder / "f%d.ts"),
                    str(folder / "index.m3u8")], check=True)
    found = sorted(folder.glob("f*.ts"), key=lambda p: int(p.stem[1:]))
    return [p.read_bytes() for p in found]


def write_joined(fragments: list[bytes], path: Path) -> Path:
    path.write_bytes(b"".join(fragments))
    return path
