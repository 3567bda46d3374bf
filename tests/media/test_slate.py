from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest

from hlsd.media.codecs import aac_string, avc_string
from hlsd.media.probe import probe
from hlsd.media.slate import (
    SLATE_BASE,
    SLATE_CODECS,
    SLATE_FPS,
    SLATE_SAMPLE_RATE,
    SlateSpec,
    slate_segment,
)
from tests._support import media as fx

TICKS = 90_000  # the MPEG-TS clock
FRAME_TICKS = TICKS // SLATE_FPS  # 3600
AAC_TICKS = 1024 * TICKS // SLATE_SAMPLE_RATE  # 1920
BASE_TICKS = round(SLATE_BASE * TICKS)
SMALL = SlateSpec(width=320, height=180)


@dataclass(frozen=True, kw_only=True)
class Packet:
    pts: int  # on the 90 kHz clock
    dts: int
    key: bool
    data: bytes


@dataclass(frozen=True, kw_only=True)
class Demuxed:
    types: list[str]  # the segment's streams, in order
    video: list[Packet]
    audio: list[Packet]


def read(data: bytes) -> Any:
    """An in-memory PyAV input container (typed loosely: PyAV's stubs are partial)."""
    return av.open(io.BytesIO(data))


def demux(data: bytes) -> Demuxed:
    """Every packet of a segment, per type, read back with PyAV (copied out: PyAV's
    objects must not outlive their container)."""
    found: dict[str, list[Packet]] = {"video": [], "audio": []}
    with read(data) as container:
        types = [s.type for s in container.streams]
        for packet in container.demux():
            if packet.size:
                assert packet.time_base == Fraction(1, TICKS)
                found[packet.stream.type].append(Packet(
                    pts=packet.pts, dts=packet.dts, key=packet.is_keyframe, data=bytes(packet),
                ))
    return Demuxed(types=types, video=found["video"], audio=found["audio"])


def decoded_frames(data: bytes, kind: str) -> list[Any]:
    """Decoded frames, each reformatted into a copy that outlives the container."""
    with read(data) as container:
        return [_copy(f) for f in container.decode(**{kind: 0})]


def _copy(frame: Any) -> Any:
    if isinstance(frame, av.VideoFrame):
        return frame.reformat(format="yuv420p")
    return frame


@pytest.fixture(scope="module")
def run() -> list[tuple[int, int, bytes]]:
    """A slate run of segments of uneven lengths: (offset_frames, frames, bytes) each."""
    out, offset = [], 0
    for frames in (50, 7, 13, 1, 48):
        out.append((offset, frames, slate_segment(SMALL, frames=frames, offset_frames=offset)))
        offset += frames
    return out


def test_consecutive_segments_decode_cleanly(run: list[tuple[int, int, bytes]],
                                             tmp_path: Path) -> None:
    joined = tmp_path / "run.ts"
    joined.write_bytes(b"".join(data for _, _, data in run))
    assert fx.decode_errors(str(joined)) == ""


def test_hls_playlist_of_a_run_decodes_cleanly(run: list[tuple[int, int, bytes]],
                                               tmp_path: Path) -> None:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2",
             "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD"]
    for n, (_, frames, data) in enumerate(run):
        (tmp_path / f"{n}.ts").write_bytes(data)
        lines += [f"#EXTINF:{frames / SLATE_FPS:.3f},", f"{n}.ts"]
    playlist = tmp_path / "slate.m3u8"
    playlist.write_text("\n".join([*lines, "#EXT-X-ENDLIST", ""]))
    assert fx.decode_errors(str(playlist)) == ""


def test_video_timestamps_follow_the_offset(run: list[tuple[int, int, bytes]]) -> None:
    previous_last: int | None = None
    for offset, frames, data in run:
        video = demux(data).video
        pts = [p.pts for p in video]
        start = BASE_TICKS + offset * FRAME_TICKS
        assert pts == [start + i * FRAME_TICKS for i in range(frames)]
        assert [p.dts for p in video] == pts  # no reordering: DTS never precedes the base
        if previous_last is not None:
            assert pts[0] == previous_last + FRAME_TICKS  # contiguous, no discontinuity
        previous_last = pts[-1]


def test_each_segment_is_one_gop_opening_with_an_idr(run: list[tuple[int, int, bytes]]) -> None:
    for _, frames, data in run:
        video = demux(data).video
        assert video[0].key
        assert not any(p.key for p in video[1:])
        decoded = decoded_frames(data, "video")
        assert len(decoded) == frames
        assert decoded[0].key_frame


def test_audio_is_one_unbroken_aac_grid_across_a_run(run: list[tuple[int, int, bytes]]) -> None:
    """Each AAC frame sits in the segment its first sample falls in, and consecutive
    segments' audio abuts exactly (1024 samples = 1920 ticks apart)."""
    all_pts: list[int] = []
    for offset, frames, data in run:
        pts = [p.pts for p in demux(data).audio]
        assert pts, "every segment of at least one frame holds audio"
        lo = BASE_TICKS + offset * FRAME_TICKS
        hi = BASE_TICKS + (offset + frames) * FRAME_TICKS
        assert all(lo <= t < hi for t in pts)
        assert pts[0] - lo < AAC_TICKS  # no AAC frame belonging here went elsewhere
        if all_pts:
            assert pts[0] == all_pts[-1] + AAC_TICKS
        all_pts += pts
    assert all_pts == [BASE_TICKS + k * AAC_TICKS for k in range(len(all_pts))]
    total_frames = sum(frames for _, frames, _ in run)
    samples = total_frames * SLATE_SAMPLE_RATE // SLATE_FPS
    assert len(all_pts) == -(-samples // 1024)


def test_streams_are_what_slate_codecs_announces() -> None:
    data = slate_segment(SlateSpec(width=1280, height=720), frames=3, offset_frames=0)
    with read(data) as container:
        video = container.streams.video[0].codec_context
        audio = container.streams.audio[0].codec_context
        assert video.name == "h264"
        assert video.profile == "Main"
        assert (video.width, video.height, video.pix_fmt) == (1280, 720, "yuv420p")
        assert (audio.name, audio.profile) == ("aac", "LC")
        assert (audio.sample_rate, audio.channels) == (48_000, 2)
        aac = aac_string(audio.extradata, audio.profile)
    avc = avc_string(demux(data).video[0].data, None, None)  # from the in-band SPS
    assert SLATE_CODECS == f"{avc},{aac}" == SlateSpec(width=2, height=2).codecs


def test_probed_duration_and_size(tmp_path: Path) -> None:
    path = tmp_path / "slate.ts"
    path.write_bytes(slate_segment(SMALL, frames=25, offset_frames=100))
    info = probe(path)
    assert info.start_time == pytest.approx(SLATE_BASE + 100 / SLATE_FPS, abs=1e-6)
    assert info.duration == pytest.approx(1.0, abs=0.03)
    assert info.video is not None and info.audio is not None
    assert (info.video.width, info.video.height) == (320, 180)
    assert info.video.frame_rate == pytest.approx(SLATE_FPS)


def test_audio_is_silent() -> None:
    data = slate_segment(SlateSpec(), frames=10, offset_frames=5)
    frames = decoded_frames(data, "audio")
    assert frames
    assert all(not any(bytes(plane)) for frame in frames for plane in frame.planes)


def test_same_arguments_give_the_same_bytes() -> None:
    first = slate_segment(SMALL, frames=12, offset_frames=30)
    assert slate_segment(SMALL, frames=12, offset_frames=30) == first
    assert slate_segment(SMALL, frames=12, offset_frames=31) != first


def test_same_bytes_in_another_process() -> None:
    """Nothing random, time-based or address-dependent ends up in a segment."""
    code = ("import hashlib, sys; from hlsd.media.slate import SlateSpec, slate_segment; "
            "d = slate_segment(SlateSpec(width=320, height=180), frames=12, offset_frames=30); "
            "sys.stdout.write(hashlib.sha256(d).hexdigest())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, timeout=60).stdout
    here = slate_segment(SMALL, frames=12, offset_frames=30)
    assert other == hashlib.sha256(here).hexdigest()


def test_audio_only_slate(tmp_path: Path) -> None:
    spec = SlateSpec()
    data = slate_segment(spec, frames=50, offset_frames=50)
    found = demux(data)
    assert found.types == ["audio"]
    # 50 frames are 96000 samples, 93.75 AAC frames: this segment's audio starts at the 94th
    assert found.audio[0].pts == BASE_TICKS + 94 * AAC_TICKS
    assert spec.codecs == "mp4a.40.2"
    path = tmp_path / "audio.ts"
    path.write_bytes(data)
    assert fx.decode_errors(str(path)) == ""


def test_video_only_slate(tmp_path: Path) -> None:
    spec = SlateSpec(width=64, height=36, audio=False)
    data = slate_segment(spec, frames=10, offset_frames=0)
    found = demux(data)
    assert found.types == ["video"]
    assert len(decoded_frames(data, "video")) == 10
    assert spec.codecs == SLATE_CODECS.split(",")[0]
    path = tmp_path / "video.ts"
    path.write_bytes(data)
    assert fx.decode_errors(str(path)) == ""


@pytest.mark.parametrize(("spec", "frames"), [
    (SlateSpec(), 1), (SlateSpec(), 10), (SlateSpec(width=2, height=2, audio=False), 1),
])
def test_tiny_segments_are_still_recognised_as_mpeg_ts(spec: SlateSpec, frames: int,
                                                       tmp_path: Path) -> None:
    """A few frames of silence once made a TS that libavformat took for MPEG-PS."""
    data = slate_segment(spec, frames=frames, offset_frames=0)
    assert len(data) % 188 == 0
    with read(data) as container:  # probed from the bytes, no name to go by
        assert container.format.name == "mpegts"
        assert any(True for _ in container.decode())
    path = tmp_path / "tiny.ts"
    path.write_bytes(data)
    assert fx.decode_errors(str(path)) == ""


def test_the_picture_is_dark_with_coloured_bars() -> None:
    frame = decoded_frames(slate_segment(SMALL, frames=1, offset_frames=0), "video")[0]
    luma = frame.planes[0]
    row = bytes(luma)[luma.line_size * 90: luma.line_size * 90 + 320]  # through the bars
    top = bytes(luma)[luma.line_size * 10: luma.line_size * 10 + 320]
    assert max(top) < 48  # a dark background
    assert max(row) > 80  # brighter bars
    chroma_row = bytes(frame.planes[1])[frame.planes[1].line_size * 45:][:160]
    assert max(chroma_row) - min(chroma_row) > 40  # and coloured ones


def test_fast_enough_for_live() -> None:
    spec = SlateSpec(width=1280, height=720)
    times = []
    for n in range(3):
        start = time.perf_counter()
        slate_segment(spec, frames=50, offset_frames=n * 50)
        times.append(time.perf_counter() - start)
    assert min(times) < 0.5


@pytest.mark.parametrize("spec", [
    {"width": 641, "height": 360}, {"width": 640, "height": 361}, {"width": 0, "height": 0},
    {"width": -2, "height": 2}, {"width": 640}, {"height": 360},
    {"audio": False}, {"width": 3840, "height": 2160},
])
def test_invalid_specs(spec: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SlateSpec(**spec)


@pytest.mark.parametrize(("frames", "offset"), [(0, 0), (-1, 0), (25, -1)])
def test_invalid_lengths_and_offsets(frames: int, offset: int) -> None:
    with pytest.raises(ValueError):
        slate_segment(SMALL, frames=frames, offset_frames=offset)
