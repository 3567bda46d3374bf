"""A segment's measured duration: what its video (else its audio) covers, init included."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hlsd.media import MediaError
from hlsd.media.measure import MeasuredSegment, measure_segment
from tests._support import hls_vod
from tests._support.media import FFMPEG


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("measure")


def test_mpegts_segments_measure_their_video(folder: Path) -> None:
    playlist = hls_vod.media_only_vod(folder / "ts", seconds=5, segment=2)
    measured = [measure_segment((playlist.parent / f"seg{n}.ts").read_bytes())
                for n in range(3)]
    assert measured == [MeasuredSegment(2.0, "video"), MeasuredSegment(2.0, "video"),
                        MeasuredSegment(1.0, "video")]


def test_fmp4_segments_are_read_with_their_init_section(folder: Path) -> None:
    master = hls_vod.abr_vod(folder / "fmp4", seconds=4, segment=2, sizes=("160x90",),
                             bitrates=("100k",), fmp4=True)
    variant = master.parent / "v0"
    init = (variant / "init.mp4").read_bytes()
    assert measure_segment((variant / "seg1.m4s").read_bytes(), init) == MeasuredSegment(
        2.0, "video")
    with pytest.raises(MediaError):  # a fragment alone is no file ffmpeg can open
        measure_segment((variant / "seg1.m4s").read_bytes())


def test_audio_only_segments_measure_their_audio(folder: Path) -> None:
    target = folder / "audio"
    target.mkdir()
    subprocess.run([FFMPEG, "-v", "error", "-f", "lavfi", "-i", "sine=duration=3",
                    "-c:a", "aac", "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod",
                    str(target / "a.m3u8")], check=True)
    extinfs = [float(line[8:].rstrip(",")) for line in (target / "a.m3u8").read_text()
               .splitlines() if line.startswith("#EXTINF:")]
    for n, extinf in enumerate(extinfs):
        measured = measure_segment((target / f"a{n}.ts").read_bytes())
        assert measured.track == "audio"
        # ffmpeg's EXTINF of the last segment ends where the sound does, inside the
        # last AAC frame (1024 samples, 23 ms at 44.1 kHz), whose packet lasts whole.
        assert measured.duration == pytest.approx(extinf, abs=0.024)


def test_what_is_no_media_is_a_media_error() -> None:
    with pytest.raises(MediaError, match="not a media file"):
        measure_segment(b"<html>not found</html>")
