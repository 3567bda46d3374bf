"""ffmpeg (from the imageio-ffmpeg wheel) cutting an input into live MPEG-TS fragments,
as the original tester does: it writes an HLS playlist into a private folder, and each
segment is handed on once the playlist names it (so it is complete)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncGenerator
from pathlib import Path

import imageio_ffmpeg

from hlsd.hls.parse import PlaylistError, parse_media

_POLL = 0.1


def encode_args(source: str, *, loop: bool, segment_seconds: float,
                copy: bool) -> list[str]:
    """ffmpeg reading `source` in real time and encoding it for live HLS (H.264 + AAC,
    a keyframe at every segment boundary), up to the muxer."""
    args = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
            "-re"]
    if loop:
        args += ["-stream_loop", "-1"]
    args += ["-i", source]
    if copy:
        return [*args, "-c", "copy"]
    return [*args, "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
            "-force_key_frames", f"expr:gte(t,n_forced*{segment_seconds})",
            "-c:a", "aac", "-b:a", "128k"]


def ffmpeg_command(source: str, folder: Path, *, loop: bool, segment_seconds: float,
                   copy: bool) -> list[str]:
    args = encode_args(source, loop=loop, segment_seconds=segment_seconds, copy=copy)
    args += ["-f", "hls", "-hls_time", f"{segment_seconds:g}", "-hls_list_size", "10",
             "-hls_flags", "delete_segments+omit_endlist",
             "-hls_segment_filename", str(folder / "f%d.ts"), str(folder / "live.m3u8")]
    return args


async def fragments(source: str, *, loop: bool = False, segment_seconds: float = 2.0,
                    copy: bool = False) -> AsyncGenerator[tuple[float, bytes], None]:
    """(duration, bytes) of each fragment as ffmpeg finishes it, until the input ends."""
    folder = Path(tempfile.mkdtemp(prefix="hlsd-publish-"))
    proc = await asyncio.create_subprocess_exec(
        *ffmpeg_command(source, folder, loop=loop, segment_seconds=segment_seconds, copy=copy),
        stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    seen: set[str] = set()
    try:
        while True:
            done = proc.returncode is not None
            for duration, name in _listed(folder / "live.m3u8"):
                if name not in seen:
                    seen.add(name)
                    with contextlib.suppress(FileNotFoundError):
                        yield duration, (folder / name).read_bytes()
            if done:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), _POLL)
        if proc.returncode:
            assert proc.stderr is not None
            error = (await proc.stderr.read()).decode(errors="replace").strip()
            raise RuntimeError(f"ffmpeg failed ({proc.returncode}): {error[-500:]}")
    finally:
        if proc.returncode is None:
            proc.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 5)
            if proc.returncode is None:
                proc.kill()
        shutil.rmtree(folder, ignore_errors=True)


def _listed(playlist: Path) -> list[tuple[float, str]]:
    try:
        parsed = parse_media(playlist.read_text())
    except (FileNotFoundError, PlaylistError, ValueError):
        return []  # not written yet, or caught mid-rename
    return [(segment.duration, segment.uri) for segment in parsed.segments]
