"""One ffmpeg run from an uploaded file to its whole ABR ladder.

The source is decoded once; each video rung is scaled from it and encoded with libx264,
keyframes forced at every segment boundary so renditions switch cleanly. ffmpeg's dash
muxer writes CMAF fMP4 segments, the DASH MPD and HLS media playlists at once, so both
manifests reference the same files. The HLS playlists are then rewritten (VOD with
ENDLIST, measured BANDWIDTH, CODECS, RESOLUTION, one audio group per audio bit rate):
ffmpeg writes them as if live and puts every audio rendition in one group.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import av
import imageio_ffmpeg

from hlsd.assets.ladder import LadderPlan
from hlsd.hls import (
    MasterPlaylist,
    MediaPlaylist,
    MediaType,
    PlaylistType,
    Rendition,
    VariantStream,
    parse_media,
    render_master,
    render_media,
)
from hlsd.hls.values import rounded_seconds
from hlsd.media.codecs import aac_string, avc_string
from hlsd.media.source import open_error

__all__ = [
    "MASTER", "MPD", "Outputs", "TranscodeError", "run_ffmpeg", "transcode", "transcode_command",
]

MASTER = "index.m3u8"
MPD = "manifest.mpd"
_STDERR_KEPT = 64 * 1024
_PROGRESS_EVERY = 0.25  # seconds between on_progress calls
_GRACE = 3.0  # seconds ffmpeg gets to exit on SIGTERM before SIGKILL
# Up to this much less media than the probe promised passes as rounding, not truncation.
_SHORT_BY = 0.05
# ffmpeg's messages mapped to what an uploader can act on, in hlsd.media's words.
_REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), reason) for pattern, reason in (
        (r"Invalid data found when processing input", "not a media file"),
        (r"moov atom not found|partial file", "file is truncated or corrupt"),
        (r"Decoder \(codec (\S+)\) not found|unsupported codec (\S+)",
         "unsupported codec: {0}"),
        (r"No space left on device", "the server ran out of disk space"),
        (r"No such file or directory", "file not found"),
    )
)
# Consequences ffmpeg prints after the error that matters.
_NOISE = re.compile(
    r"^$|Conversion failed|Exiting with exit code|Error opening (in|out)put files?:"
    r"|Task finished with error|Terminating thread|Nothing was written|Error sending frames"
    r"|Error while filtering|Could not write header")


@dataclass(frozen=True, kw_only=True, slots=True)
class Outputs:
    """What a transcode wrote into `folder`; `files` are relative to it, each written once."""

    folder: Path
    master: Path
    mpd: Path
    files: tuple[Path, ...]


class TranscodeError(Exception):
    """ffmpeg failed; ``str(e)`` is a reason a user can act on (last meaningful ffmpeg
    stderr lines, trimmed)."""


def _ignore(fraction: float) -> None:
    """The default progress callback."""


def transcode_command(ffmpeg: str, source: Path, folder: Path, plan: LadderPlan, *,
                      segment_seconds: float = 4.0, threads: int = 0) -> list[str]:
    """The one ffmpeg argument list that makes every rung of `plan` into `folder`."""
    seg = f"{segment_seconds:g}"
    video, audio = plan.video_rungs, plan.audio_bitrates
    if not video and not audio:
        raise ValueError("the plan has no rungs")
    # file: so that no name is read as a protocol ("concat:…", "http:…").
    args = [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-nostats",
            "-progress", "pipe:1", "-i", f"file:{source}"]
    if video:
        # Width from the displayed aspect ratio (after the decoder applied any rotation),
        # even. scale keeps the display aspect exact by adjusting the sample aspect
        # (854x480 from 16:9 gets 1280:1281): the dash muxer refuses an adaptation set
        # whose renditions' aspect ratios differ at all.
        chains = [f"scale=w=2*round(oh*dar/2):h={rung.height},format=yuv420p[v{i}]"
                  for i, rung in enumerate(video)]
        split = "".join(f"[s{i}]" for i in range(len(video)))
        graph = (f"[0:{plan.video_stream}]{chains[0]}" if len(video) == 1 else
                 f"[0:{plan.video_stream}]split={len(video)}{split};"
                 + ";".join(f"[s{i}]{chain}" for i, chain in enumerate(chains)))
        args += ["-filter_complex", graph]
        args += [arg for i in range(len(video)) for arg in ("-map", f"[v{i}]")]
    args += [arg for _ in audio for arg in ("-map", f"0:{plan.audio_stream}")]
    if video:
        gop = str(max(1, round(segment_seconds * (plan.frame_rate or 30))))
        args += ["-c:v", "libx264", "-preset", "veryfast", "-g", gop, "-keyint_min", gop,
                 "-sc_threshold", "0", "-force_key_frames", f"expr:gte(t,n_forced*{seg})"]
        for i, rung in enumerate(video):
            rate = rung.video_bitrate
            args += [f"-profile:v:{i}", "high" if (rung.height or 0) >= 480 else "main",
                     f"-b:v:{i}", str(rate), f"-maxrate:v:{i}", str(rate * 11 // 10),
                     f"-bufsize:v:{i}", str(rate * 2)]
    if audio:
        args += ["-c:a", "aac"]
        if (plan.audio_channels or 2) > 2:
            args += ["-ac", "2"]  # surround at these rates sounds worse than stereo
        args += [arg for k, rate in enumerate(audio) for arg in (f"-b:a:{k}", str(rate))]
    if threads > 0:
        args += ["-threads", str(threads)]
    sets = [f"streams={kind}" for kind, rungs in (("v", video), ("a", audio)) if rungs]
    # A SegmentTimeline lists each segment's exact length; with a bare duration template
    # ffmpeg's own dash demuxer asks for a segment past the end.
    args += ["-f", "dash", "-seg_duration", seg, "-use_template", "1", "-use_timeline", "1",
             "-hls_playlist", "1", "-hls_master_name", MASTER,
             "-init_seg_name", "init-$RepresentationID$.m4s",
             "-media_seg_name", "chunk-$RepresentationID$-$Number%05d$.m4s",
             "-adaptation_sets", " ".join(f"id={n},{s}" for n, s in enumerate(sets)),
             str(folder / MPD)]
    return args


async def transcode(source: Path, folder: Path, plan: LadderPlan, *,
                    on_progress: Callable[[float], None] = _ignore,
                    segment_seconds: float = 4.0, ffmpeg: str | None = None,
                    threads: int = 0) -> Outputs:
    """Make every rung of `plan` from `source` into `folder` (created if missing).

    `on_progress` gets fractions rising from 0 to 1 (at most ~4 a second, 1.0 once every
    file is written). Cancelling stops ffmpeg; the folder may then hold partial output.
    """
    folder.mkdir(parents=True, exist_ok=True)
    args = transcode_command(ffmpeg or imageio_ffmpeg.get_ffmpeg_exe(), source, folder, plan,
                             segment_seconds=segment_seconds, threads=threads)
    reached = await run_ffmpeg(args, source=source, folder=folder, duration=plan.duration,
                               on_progress=on_progress)
    if reached < plan.duration * (1 - _SHORT_BY) - 0.5:
        raise TranscodeError(f"the file is truncated or corrupt: only {reached:.1f} s of its "
                             f"{plan.duration:.1f} s could be read")
    outputs = await asyncio.to_thread(_write_playlists, folder, plan)
    on_progress(1.0)
    return outputs


async def run_ffmpeg(args: list[str], *, source: Path, folder: Path, duration: float,
                     on_progress: Callable[[float], None] = _ignore) -> float:
    """Run ffmpeg on `source`, writing into `folder`, to its end.

    Returns how far into the media it got, in seconds (0 unless `args` has
    `-progress pipe:1`). A non-zero exit raises TranscodeError; cancellation stops
    ffmpeg and propagates.
    """
    try:
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        raise TranscodeError(f"ffmpeg cannot be started: {exc.strerror or exc}") from exc
    assert proc.stdout is not None and proc.stderr is not None
    progress = asyncio.create_task(_progress(proc.stdout, duration, on_progress))
    stderr = asyncio.create_task(_tail(proc.stderr))
    try:
        done, _ = await asyncio.wait((progress, stderr), return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()  # an on_progress that raises ends the run, with its own error
        code = await proc.wait()
    finally:
        progress.cancel()
        stderr.cancel()
        if proc.returncode is None:
            await _stop(proc)
    if code == 0:
        return progress.result()
    text = stderr.result().decode(errors="replace")
    if "Error opening input" in text and "No such file" not in text:
        # ffmpeg says "moov atom not found" of any file named .mp4 it cannot read; the
        # first bytes tell a cut-off upload from one that never was media.
        raise TranscodeError(str(open_error(source)))
    raise TranscodeError(_reason(text, {str(folder): "", str(source): source.name}))


async def _progress(stream: asyncio.StreamReader, duration: float,
                    on_progress: Callable[[float], None]) -> float:
    reached, sent, last = 0.0, 0.0, -math.inf
    async for raw in stream:
        key, _, value = raw.decode(errors="replace").strip().partition("=")
        # out_time_ms is in microseconds too (an old ffmpeg misnomer kept for scripts).
        if key in ("out_time_us", "out_time_ms") and value.isdigit():
            reached = max(reached, int(value) / 1e6)
        elif key == "progress" and duration > 0:
            # Capped below 1: 1.0 is for when every file is written.
            fraction = min(0.99, reached / duration)
            now = time.monotonic()
            if fraction > sent and now - last >= _PROGRESS_EVERY:
                on_progress(fraction)
                sent, last = fraction, now
    return reached


async def _tail(stream: asyncio.StreamReader) -> bytes:
    """All of `stream`, keeping only its last bytes: ffmpeg may warn for hours."""
    kept = bytearray()
    while chunk := await stream.read(65536):
        kept += chunk
        del kept[:-_STDERR_KEPT]
    return bytes(kept)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL after a grace period (at once if cancelled meanwhile)."""
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), _GRACE)
    finally:
        if proc.returncode is None:  # the grace ran out, or the caller gave up on it
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    if proc.returncode is None:
        await proc.wait()


def _reason(stderr: str, hide: dict[str, str]) -> str:
    lines = []
    for line in stderr.splitlines():
        line = re.sub(r"^\[[^]]* @ 0x[0-9a-f]+\] ", "", line.strip())  # "[in#0 @ 0x…] "
        for text, replacement in hide.items():
            line = line.replace(text + "/", replacement).replace(text, replacement or ".")
        if not _NOISE.search(line) and line not in lines:
            lines.append(line)
    for line in lines:
        for pattern, reason in _REASONS:
            if found := pattern.search(line):
                return reason.format(*(g for g in found.groups() if g))
    # The first line is usually the cause, the last ones where it ended.
    detail = "; ".join(dict.fromkeys(lines[:1] + lines[-2:]))
    return "ffmpeg failed: " + (detail[:400] if detail else "no message")


@dataclass(frozen=True, kw_only=True, slots=True)
class _Written:
    """One representation as ffmpeg wrote it, its media playlist made VOD."""

    uri: str
    files: tuple[Path, ...]
    segments: int
    peak: int  # bits/s
    average: int
    codecs: str  # RFC 6381, read from the init segment
    resolution: tuple[int, int] | None
    channels: int | None


def _write_playlists(folder: Path, plan: LadderPlan) -> Outputs:
    """ffmpeg's HLS media playlists made VOD, and a master written anew.

    Representation ids are output stream indexes: video rungs first, then one audio
    stream per distinct audio bit rate (see `transcode_command`), each with its
    `media_<id>.m3u8`.
    """
    video, audio = plan.video_rungs, plan.audio_bitrates
    reps = [_rewrite_media(folder, f"media_{rid}.m3u8") for rid in range(len(video) + len(audio))]
    if len({rep.segments for rep in reps[:len(video)]}) > 1:
        raise TranscodeError("the renditions came out with different segment counts: "
                             "their keyframes are not aligned")
    sounds = dict(zip(audio, reps[len(video):], strict=True))
    (folder / MASTER).write_text(render_master(_master(plan, reps[:len(video)], sounds)))
    files = [Path(MASTER), Path(MPD)] + [path for rep in reps for path in rep.files]
    return Outputs(folder=folder, master=folder / MASTER, mpd=folder / MPD, files=tuple(files))


def _master(plan: LadderPlan, videos: list[_Written],
            sounds: dict[int, _Written]) -> MasterPlaylist:
    if not videos:
        return MasterPlaylist(variants=tuple(
            VariantStream(uri=rep.uri, bandwidth=rep.peak, average_bandwidth=rep.average,
                          codecs=rep.codecs) for rep in sounds.values()),
            independent_segments=True)
    groups = {rate: f"audio-{rate // 1000}k" for rate in sounds}
    # One group per audio bit rate, its rendition named alike in every group, so that a
    # player changing variant finds the same track in the next group.
    renditions = tuple(
        Rendition(type=MediaType.AUDIO, group_id=groups[rate], name="audio", uri=rep.uri,
                  default=True, autoselect=True,
                  channels=None if rep.channels is None else str(rep.channels))
        for rate, rep in sounds.items())
    variants = []
    for rung, rep in zip(plan.video_rungs, videos, strict=True):
        sound = sounds.get(rung.audio_bitrate)
        variants.append(VariantStream(
            uri=rep.uri,
            bandwidth=rep.peak + (sound.peak if sound else 0),
            average_bandwidth=rep.average + (sound.average if sound else 0),
            codecs=rep.codecs + (f",{sound.codecs}" if sound else ""),
            resolution=rep.resolution, frame_rate=plan.frame_rate,
            audio=groups[rung.audio_bitrate] if sound else None))
    return MasterPlaylist(variants=tuple(variants), renditions=renditions,
                          independent_segments=True)


def _rewrite_media(folder: Path, name: str) -> _Written:
    written = parse_media((folder / name).read_text())
    # ffmpeg stamps live wall-clock times and leaves the type open: neither suits a file.
    segments = tuple(replace(s, program_date_time=None) for s in written.segments)
    if not segments or written.init is None:
        raise TranscodeError("ffmpeg wrote no media: the file holds nothing it could decode")
    playlist = replace(
        written, segments=segments, playlist_type=PlaylistType.VOD, endlist=True,
        target_duration=max(rounded_seconds(s.duration) for s in segments) or 1,
        independent_segments=True, version=None)
    (folder / name).write_text(render_media(playlist))
    codecs, resolution, channels = _init_info(folder / written.init.uri)
    peak, average = _bit_rates(folder, playlist)
    return _Written(
        uri=name, files=(Path(name), Path(written.init.uri), *(Path(s.uri) for s in segments)),
        segments=len(segments), peak=peak, average=average, codecs=codecs,
        resolution=resolution, channels=channels)


def _init_info(init: Path) -> tuple[str, tuple[int, int] | None, int | None]:
    """CODECS, RESOLUTION and channel count, from what the init segment says."""
    with av.open(str(init)) as container:
        stream: Any = container.streams[0]
        ctx = stream.codec_context
        if stream.type == "video":
            return avc_string(ctx.extradata, ctx.profile, None), (ctx.width, ctx.height), None
        return aac_string(ctx.extradata, ctx.profile), None, ctx.channels


def _bit_rates(folder: Path, playlist: MediaPlaylist) -> tuple[int, int]:
    """(peak, average) bits per second over the segments.

    Short segments (the tail) are left out of the peak: a keyframe in a fraction of a
    second is a rate no player has to sustain. AVERAGE-BANDWIDTH must not exceed it.
    """
    sized = [((folder / s.uri).stat().st_size * 8, s.duration) for s in playlist.segments]
    longest = max(duration for _, duration in sized)
    full = [x for x in sized if x[1] >= longest / 2] or sized
    peak = max(bits / max(duration, 1e-3) for bits, duration in full)
    average = sum(bits for bits, _ in sized) / max(sum(d for _, d in sized), 1e-3)
    return math.ceil(max(peak, average)), math.ceil(average)
