"""Real HLS VOD assets made at test time with the ffmpeg binary from imageio-ffmpeg.

Each generator writes into the folder it is given and returns the playlist to open.
Nothing is cached here: a test module that wants one asset for all its tests makes it
in a module-scoped fixture under `tmp_path_factory`.

Every variant is cut at the same instants (fixed GOP of `segment * rate` frames, no
scene-cut keyframes, keyframes forced on the segment grid), so the variants of an ABR
asset are segment-aligned, as a channel needs them to be.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests._support.media import FFMPEG

__all__ = ["abr_vod", "media_only_vod"]


def _run(args: list[str]) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-v", "error", "-y", *args], check=True)


def _sources(seconds: float, size: str, rate: int, tone: int, pattern: str) -> list[str]:
    return ["-f", "lavfi", "-i", f"{pattern}=size={size}:rate={rate}:duration={seconds:g}",
            "-f", "lavfi", "-i", f"sine=frequency={tone}:sample_rate=48000:duration={seconds:g}"]


def _codecs(segment: float, rate: int) -> list[str]:
    gop = str(max(round(segment * rate), 1))
    return ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-r", str(rate),
            "-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
            # The GOP alone drifts from the grid if a frame is dropped or duplicated;
            # forcing keyframes on the clock keeps every variant's cuts identical.
            "-force_key_frames", f"expr:gte(t,n_forced*{segment:g})",
            "-c:a", "aac", "-b:a", "64k", "-ar", "48000"]


def _hls(segment: float, fmp4: bool = False) -> list[str]:
    kind = ["-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4"] if fmp4 else []
    return ["-f", "hls", "-hls_time", f"{segment:g}", "-hls_playlist_type", "vod", *kind]


def abr_vod(folder: Path, *, seconds: float = 12, segment: float = 2,
            sizes: tuple[str, ...] = ("640x360", "320x180"),
            bitrates: tuple[str, ...] = ("800k", "300k"),
            rate: int = 25, tone: int = 440, pattern: str = "testsrc2",
            fmp4: bool = False) -> Path:
    """An ABR VOD (with `fmp4`, fMP4 segments `seg{n}.m4s` after an init section):
    `folder/master.m3u8` (BANDWIDTH, AVERAGE-BANDWIDTH, RESOLUTION and
    CODECS on every variant) and, per variant i, `folder/v{i}/index.m3u8` with MPEG-TS
    segments `folder/v{i}/seg{n}.ts`, H.264 + AAC muxed. `sizes[0]` is the picture the
    test pattern is drawn at; every variant is scaled from it.

    Returns the master playlist's path.
    """
    if not sizes or len(sizes) != len(bitrates):
        raise ValueError("give one bitrate per size, and at least one of each")
    folder.mkdir(parents=True, exist_ok=True)
    n = len(sizes)
    chains = [f"[0:v]split={n}" + "".join(f"[s{i}]" for i in range(n))]
    for i, size in enumerate(sizes):
        width, height = size.lower().split("x")
        chains.append(f"[s{i}]scale={width}:{height}[v{i}]")
    maps: list[str] = ["-filter_complex", ";".join(chains)]
    for i in range(n):
        maps += ["-map", f"[v{i}]"]
    for _ in range(n):
        maps += ["-map", "1:a:0"]
    for i, bitrate in enumerate(bitrates):
        # maxrate/bufsize keep the peak near the target, so BANDWIDTH orders like
        # `bitrates` even for a pattern that is cheap to encode.
        maps += [f"-b:v:{i}", bitrate, f"-maxrate:v:{i}", bitrate, f"-bufsize:v:{i}", bitrate]
    stream_map = " ".join(f"v:{i},a:{i}" for i in range(n))
    _run([*_sources(seconds, sizes[0], rate, tone, pattern), *maps, *_codecs(segment, rate),
          *_hls(segment, fmp4),
          "-hls_segment_filename", str(folder / "v%v" / ("seg%d.m4s" if fmp4 else "seg%d.ts")),
          "-var_stream_map", stream_map, "-master_pl_name", "master.m3u8",
          str(folder / "v%v" / "index.m3u8")])
    master = folder / "master.m3u8"
    if not master.is_file():
        raise RuntimeError(f"ffmpeg wrote no master playlist in {folder}")
    return master


def media_only_vod(folder: Path, *, seconds: float = 8, segment: float = 2,
                   size: str = "320x180", bitrate: str = "300k", rate: int = 25,
                   tone: int = 440, pattern: str = "testsrc2") -> Path:
    """A single media playlist, no master: `folder/index.m3u8` and `folder/seg{n}.ts`,
    H.264 + AAC muxed in MPEG-TS. Returns the playlist's path."""
    folder.mkdir(parents=True, exist_ok=True)
    playlist = folder / "index.m3u8"
    _run([*_sources(seconds, size, rate, tone, pattern), "-map", "0:v:0", "-map", "1:a:0",
          "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate, *_codecs(segment, rate),
          *_hls(segment), "-hls_segment_filename", str(folder / "seg%d.ts"), str(playlist)])
    return playlist
