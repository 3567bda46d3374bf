"""Real media for the media tests, generated once per session with the ffmpeg CLI."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest

from tests._support import media as fx

_VIDEO = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=8"]
_AUDIO = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=8"]
_X264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "50"]


def ffmpeg(*args: str) -> None:
    subprocess.run([fx.FFMPEG, "-hide_banner", "-v", "error", "-y", *args], check=True)


def h264_opus_mkv(path: Path) -> Path:
    """Video to copy next to audio to transcode, in a container that is not MP4."""
    ffmpeg(*_VIDEO, *_AUDIO, *_X264, "-c:a", "libopus", "-ac", "2", "-shortest", str(path))
    return path


def h264_aac_ts(path: Path) -> Path:
    """An MPEG-TS source: its timeline starts at 1.4 s and its seeks are approximate."""
    ffmpeg(*_VIDEO, *_AUDIO, *_X264, "-c:a", "aac", "-shortest", str(path))
    return path


def still_png(path: Path) -> Path:
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1", str(path))
    return path


def mp3_with_cover(path: Path) -> Path:
    cover = still_png(path.with_suffix(".png"))
    ffmpeg(*_AUDIO, "-i", str(cover), "-map", "0:a", "-map", "1:v", "-c:a", "libmp3lame",
            "-c:v", "copy", "-disposition:v", "attached_pic", str(path))
    return path

# kind -> (generator, file extension)
KINDS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "h264_aac_mp4": (fx.h264_aac_mp4, "mp4"),
    "h264_mp3_mp4": (fx.h264_mp3_mp4, "mp4"),
    "wav": (fx.wav, "wav"),
    "mp3": (fx.mp3, "mp3"),
    "flac": (fx.flac, "flac"),
    "ogg_opus": (fx.ogg_opus, "ogg"),
    "vp9_opus_webm": (fx.vp9_opus_webm, "webm"),
    "h264_opus_mkv": (h264_opus_mkv, "mkv"),
    "h264_aac_ts": (h264_aac_ts, "ts"),
}


class MediaFiles:
    """Makes each kind of test file on first use and hands out the same path after."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._made: dict[str, Path] = {}

    def __call__(self, kind: str) -> Path:
        if kind not in self._made:
            make, ext = KINDS[kind]
            self._made[kind] = make(self._root / f"{kind}.{ext}")
        return self._made[kind]


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> MediaFiles:
    return MediaFiles(tmp_path_factory.mktemp("media"))


class FileSource:
    """A `MediaSource` over a local file that records every byte range read from it, so
    tests see what each media function touches (and that it works without a path)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size
        self.reads: list[tuple[int, int]] = []  # (offset, length)

    def open(self) -> BinaryIO:
        return _RecordingReader(self)

    def furthest(self) -> int:
        """The end of the furthest byte read."""
        return max((o + n for o, n in self.reads), default=0)

    def bytes_read(self) -> int:
        return sum(n for _, n in self.reads)


class _RecordingReader(io.FileIO):
    def __init__(self, source: FileSource) -> None:
        super().__init__(source.path, "rb")
        self._source = source

    def read(self, size: int | None = -1) -> bytes:
        offset = self.tell()
        data = super().read(size)
        if data:
            self._source.reads.append((offset, len(data)))
        return data
