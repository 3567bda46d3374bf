"""A video's poster and its scrubbing thumbnails.

`poster.jpg` is one frame a tenth of the way in (past black openings and titles).
`thumbs.jpg` is a sprite of small tiles, one every `interval` seconds, and `thumbs.vtt`
maps each stretch of time to its tile as ``thumbs.jpg#xywh=x,y,w,h``: the WebVTT format
players read for previews over the seek bar.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import imageio_ffmpeg

from hlsd.assets.transcode import run_ffmpeg
from hlsd.media.probe import probe

__all__ = ["POSTER", "SPRITE", "VTT", "Thumbnails", "make_thumbnails"]

POSTER = "poster.jpg"
SPRITE = "thumbs.jpg"
VTT = "thumbs.vtt"
_POSTER_WIDTH = 1280
_COLUMNS = 10
# Keeps a sprite of any duration well inside JPEG's 65,535-pixel height.
_MAX_TILES = 1000


@dataclass(frozen=True, kw_only=True, slots=True)
class Thumbnails:
    """What `make_thumbnails` wrote; `files` are relative to `folder` (none for audio)."""

    folder: Path
    poster: Path | None
    sprite: Path | None
    vtt: Path | None
    files: tuple[Path, ...]


async def make_thumbnails(source: Path, folder: Path, *, duration: float,
                          ffmpeg: str | None = None, interval: float = 10.0,
                          tile_width: int = 160) -> Thumbnails:
    """Write the poster, sprite and WebVTT of `source` into `folder`.

    A source without video gets none (an empty result). Raises MediaError for a file
    that is not media, TranscodeError when ffmpeg fails.
    """
    info = await asyncio.to_thread(probe, source)
    if info.video is None:
        return Thumbnails(folder=folder, poster=None, sprite=None, vtt=None, files=())
    folder.mkdir(parents=True, exist_ok=True)
    exe = ffmpeg or imageio_ffmpeg.get_ffmpeg_exe()
    # The stream hlsd's probe chose: never an attached cover picture.
    head = [exe, "-hide_banner", "-nostdin", "-v", "error", "-y"]
    stream = ["-map", f"0:{info.video.index}"]
    # Square pixels, display aspect kept (rotation is applied before the filters).
    poster_size = (f"scale=w='min({_POSTER_WIDTH},2*trunc(iw*sar/2))':h='2*trunc(ow/dar/2)',"
                   "setsar=1")
    for at in (duration / 10, 0.0):  # a video track shorter than the audio has no frame there
        (folder / POSTER).unlink(missing_ok=True)
        await run_ffmpeg([*head, "-ss", f"{at:.3f}", "-i", f"file:{source}", *stream,
                          "-vf", poster_size, "-frames:v", "1", "-q:v", "3",
                          str(folder / POSTER)], source=source, folder=folder, duration=duration)
        if (folder / POSTER).is_file() and (folder / POSTER).stat().st_size:
            break

    interval = max(interval, duration / _MAX_TILES)
    count = max(1, math.ceil(duration / interval))
    columns = min(_COLUMNS, count)
    rows = math.ceil(count / columns)
    step = f"{interval:g}"
    # The first frame at or after each multiple of the interval; the last frame repeated
    # for one interval so the final tile exists even if the video ends a little early.
    tiles = (f"tpad=stop_mode=clone:stop_duration={step},"
             f"select='gte(t,{step}*selected_n)',"
             f"scale=w={tile_width}:h='2*trunc(ow/dar/2)',setsar=1,"
             f"tile={columns}x{rows}")
    await run_ffmpeg([*head, "-i", f"file:{source}", *stream, "-vf", tiles,
                      "-frames:v", "1", "-q:v", "5", str(folder / SPRITE)],
                     source=source, folder=folder, duration=duration)
    await asyncio.to_thread(_write_vtt, folder, count=count, columns=columns, rows=rows,
                            interval=interval, duration=duration)
    return Thumbnails(folder=folder, poster=folder / POSTER, sprite=folder / SPRITE,
                      vtt=folder / VTT, files=(Path(POSTER), Path(SPRITE), Path(VTT)))


def _write_vtt(folder: Path, *, count: int, columns: int, rows: int, interval: float,
               duration: float) -> None:
    # The tile size is read back from the sprite: the scaler picked the height.
    with av.open(str(folder / SPRITE)) as container:
        stream: Any = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
    tile_w, tile_h = width // columns, height // rows
    lines = ["WEBVTT", ""]
    for n in range(count):
        start, end = n * interval, min((n + 1) * interval, duration)
        x, y = (n % columns) * tile_w, (n // columns) * tile_h
        lines += [f"{_timestamp(start)} --> {_timestamp(end)}",
                  f"{SPRITE}#xywh={x},{y},{tile_w},{tile_h}", ""]
    (folder / VTT).write_text("\n".join(lines), encoding="utf-8")


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis // 1000:02d}.{millis % 1000:03d}"
