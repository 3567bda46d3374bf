"""Test media made at test time with the ffmpeg binary from the imageio-ffmpeg wheel.

Every generator writes to the path it is given and returns it; the argument lists
are explicit (no shell), and the content is synthetic (test patterns, sine tones).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def _run(args: list[str]) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-v", "error", "-y", *args], check=True)


def _video_input(seconds: float, size: str, rate: int) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]


def _audio_input(seconds: float, freq: int = 440, rate: int = 48000) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency={freq}:sample_rate={rate}:duration={seconds}"]


def h264_aac_mp4(path: Path, seconds: float = 8, size: str = "320x240", rate: int = 25,
                 gop: int = 50, faststart: bool = True, bframes: bool = True,
                 sample_rate: int = 48000) -> Path:
    """H.264 (high, with B-frames unless `bframes` is False) + AAC in MP4, a keyframe
    every `gop` frames. ffmpeg's AAC starts with 1024 samples of priming before the
    picture (an edit list hides them)."""
    args = [*_video_input(seconds, size, rate), *_audio_input(seconds, rate=sample_rate),
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
            "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
            *([] if bframes else ["-bf", "0"]),
            "-c:a", "aac", "-b:a", "96k", "-shortest"]
    if faststart:
        args += ["-movflags", "+faststart"]
    _run([*args, str(path)])
    return path


def h264_mp3_mp4(path: Path, seconds: float = 6) -> Path:
    """H.264 + MP3 in MP4 (remuxable without transcoding)."""
    _run([*_video_input(seconds, "320x240", 25), *_audio_input(seconds),
          "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "50",
          "-c:a", "libmp3lame", "-b:a", "96k", "-shortest", str(path)])
    return path


def wav(path: Path, seconds: float = 8) -> Path:
    _run([*_audio_input(seconds), "-c:a", "pcm_s16le", str(path)])
    return path


def mp3(path: Path, seconds: float = 8) -> Path:
    _run([*_audio_input(seconds), "-c:a", "libmp3lame", "-b:a", "128k", str(path)])
    return path


def flac(path: Path, seconds: float = 8) -> Path:
    _run([*_audio_input(seconds), "-c:a", "flac", str(path)])
    return path


def ogg_opus(path: Path, seconds: float = 8) -> Path:
    _run([*_audio_input(seconds), "-c:a", "libopus", "-b:a", "64k", str(path)])
    return path


def vp9_opus_webm(path: Path, seconds: float = 6, size: str = "320x240", rate: int = 25) -> Path:
    """VP9 + Opus in WebM: video that must be transcoded to H.264, audio to AAC."""
    _run([*_video_input(seconds, size, rate), *_audio_input(seconds),
          "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k",
          "-g", "50", "-c:a", "libopus", "-b:a", "64k", "-shortest", str(path)])
    return path


def vtt(path: Path, seconds: float = 8, every: float = 1.5) -> Path:
    """A WebVTT file with one short cue every `every` seconds."""
    lines = ["WEBVTT", ""]
    t, n = 0.0, 1
    while t + 1.0 <= seconds:
        lines += [str(n), f"{_ts(t)} --> {_ts(t + 1.0)}", f"cue {n}", ""]
        t += every
        n += 1
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _ts(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def truncated(src: Path, path: Path, keep: float = 0.4) -> Path:
    """The first `keep` fraction of `src`: a file cut off mid-download."""
    data = src.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def decode_errors(target: str, timeout: float = 120, *, every_stream: bool = False,
                  seconds: float | None = None) -> str:
    """Decode `target` (a file path or URL) to null with `ffmpeg -v error`.

    With `every_stream`, every audio and video stream is decoded: all renditions of an HLS
    master, not only the one ffmpeg would pick (its parser reports on the renditions it
    drops, about fMP4 masters of separate audio and video, even ffmpeg's own).
    `seconds` stops after that much media: a live stream never ends by itself.
    Returns whatever ffmpeg printed; the empty string means a clean decode.
    A non-zero exit with no output still counts as an error.
    """
    # Subtitles are text ffmpeg's null output cannot take: every audio and video stream.
    mapping = ["-map", "0:v?", "-map", "0:a?"] if every_stream else []
    limit = ["-t", f"{seconds:g}"] if seconds is not None else []
    # ffmpeg's HLS reader reuses keep-alive connections and prints an error when the
    # server has closed one idle past its keep-alive timeout (HTTP allows that; players
    # retry quietly): one connection per request keeps that race out of the verdict.
    fresh = ["-http_persistent", "0"] if target.startswith(("http://", "https://")) \
        and target.split("?", 1)[0].endswith(".m3u8") else []
    proc = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-v", "error", *fresh, "-i", target, *mapping,
         *limit, "-f", "null", "-"],
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    out = proc.stderr.strip()
    if proc.returncode != 0 and not out:
        out = f"ffmpeg exited {proc.returncode}"
    return out


def hls_folder(out: Path, *inputs: str, fmp4: bool = False, video_filter: str = "",
               flags: str = "") -> Path:
    """ffmpeg's HLS muxer's output of `inputs` in `out`: one-second segments
    (``seg-N.ts``, or ``init.mp4`` and ``seg-N.m4s``) and ``index.m3u8`` naming them
    all; `flags`: ``-hls_flags``."""
    out.mkdir(parents=True, exist_ok=True)
    args = [FFMPEG, "-hide_banner", "-v", "error", "-y", *inputs]
    if video_filter:
        args += ["-vf", video_filter]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-sc_threshold", "0",
             "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "hls", "-hls_time", "1",
             "-hls_list_size", "0"]
    if flags:
        args += ["-hls_flags", flags]
    if fmp4:
        args += ["-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4",
                 "-hls_segment_filename", str(out / "seg-%d.m4s")]
    else:
        args += ["-hls_segment_filename", str(out / "seg-%d.ts")]
    subprocess.run([*args, str(out / "index.m3u8")], check=True)
    return out
