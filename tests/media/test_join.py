"""Joining HLS segments into one MP4: checked by decoding it with ffmpeg and by reading
its duration and streams back with PyAV."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import pytest

from hlsd.media.errors import MediaError
from hlsd.media.join import join_to_mp4
from tests._support import media as fx


def _hls(folder: Path, segment_type: str) -> list[bytes]:
    """Four one-second segments (the init section first for fMP4)."""
    folder.mkdir()
    subprocess.run([fx.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25",
                    "-f", "lavfi", "-i", "sine=f=440", "-t", "4", "-c:v", "libx264",
                    "-g", "25", "-c:a", "aac", "-f", "hls", "-hls_time", "1",
                    "-hls_list_size", "0", "-hls_segment_type", segment_type,
                    "-hls_segment_filename", str(folder / "s%d.seg"),
                    str(folder / "index.m3u8")], check=True)
    segments = [(folder / f"s{n}.seg").read_bytes() for n in range(4)]
    init = folder / "init.mp4"
    return [init.read_bytes(), *segments] if init.exists() else segments


def _probe(path: Path) -> tuple[float, set[str]]:
    with av.open(str(path)) as container:
        assert container.duration is not None
        return container.duration / 1e6, {s.type for s in container.streams}


@pytest.mark.parametrize(("segment_type", "demuxer"), [("mpegts", "mpegts"), ("fmp4", "mp4")])
def test_runs_are_laid_end_to_end(tmp_path: Path, segment_type: str, demuxer: str) -> None:
    chunks = _hls(tmp_path / "hls", segment_type)
    head = 1 if segment_type == "fmp4" else 0
    # A publisher restart: the second run's timestamps start over.
    runs = [chunks, chunks[:head] + chunks[head:head + 2]]
    out = tmp_path / "joined.mp4"
    reported = join_to_mp4(runs, out, segment_format=demuxer)
    duration, kinds = _probe(out)
    assert kinds == {"video", "audio"}
    assert abs(duration - 6.0) < 0.25 and abs(reported - duration) < 0.1
    assert fx.decode_errors(str(out)) == ""


def test_unreadable_segments_raise_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError):
        join_to_mp4([[b"this is not a transport stream" * 100]], tmp_path / "x.mp4",
                    segment_format="mpegts")
