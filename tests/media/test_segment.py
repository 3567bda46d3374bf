from __future__ import annotations

import io
import itertools
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import pytest

from hlsd.media import TS_OFFSET, Action, MediaError, MediaIndex, build_index, build_segment
from hlsd.media.index import peak_rate
from hlsd.media.segment import TS_OFFSET as SEGMENT_TS_OFFSET
from tests._support import media as fx
from tests._support.ts import continuity_errors, counters
from tests.media.conftest import KINDS, FileSource, MediaFiles

# Allowed slack between one segment's end and the next one's start, per stream type:
# one video frame at 25 fps, one mp3 frame (the longest audio frame here).
SLACK = {"video": 1 / 25 + 1e-3, "audio": 1152 / 48000 + 1e-3}


@dataclass(frozen=True, kw_only=True)
class Built:
    path: Path
    index: MediaIndex
    segments: list[bytes]


@dataclass(frozen=True, kw_only=True)
class Track:
    codec: str
    start: float
    end: float
    first_is_key: bool
    count: int


VIDEO_KINDS = ["h264_aac_mp4", "h264_mp3_mp4", "vp9_opus_webm", "h264_opus_mkv", "h264_aac_ts"]


@pytest.fixture(scope="module")
def builds(media: MediaFiles) -> dict[str, Built]:
    """Every segment of each kind, built once per module on first use."""
    return _Builds(media)


class _Builds(dict[str, Built]):
    def __init__(self, media: MediaFiles) -> None:
        super().__init__()
        self._media = media

    def __missing__(self, kind: str) -> Built:
        path = self._media(kind)
        index = build_index(path)
        segments = [build_segment(path, index, n) for n in range(len(index.segments))]
        self[kind] = Built(path=path, index=index, segments=segments)
        return self[kind]


@pytest.fixture(params=sorted(KINDS))
def built(request: pytest.FixtureRequest, builds: dict[str, Built]) -> Built:
    return builds[request.param]


@pytest.fixture(params=VIDEO_KINDS)
def built_video(request: pytest.FixtureRequest, builds: dict[str, Built]) -> Built:
    return builds[request.param]


def read(data: bytes) -> Any:
    """An in-memory PyAV input container (typed loosely: PyAV's stubs are partial)."""
    return av.open(io.BytesIO(data))


def tracks(data: bytes) -> dict[str, Track]:
    """What an MPEG-TS segment holds, per stream type, read back with PyAV."""
    found: dict[str, list[Any]] = {}
    with read(data) as container:
        for packet in container.demux():
            if packet.size:
                found.setdefault(packet.stream.type, []).append(packet)
        out = {}
        for kind, packets in found.items():
            tb = packets[0].time_base
            nominal = SLACK[kind] - 1e-3
            ends = [float(p.pts * tb) + (float(p.duration * tb) if p.duration else nominal)
                    for p in packets]
            out[kind] = Track(
                codec=packets[0].stream.codec_context.codec.canonical_name,
                start=min(float(p.pts * tb) for p in packets), end=max(ends),
                first_is_key=packets[0].is_keyframe, count=len(packets),
            )
    return out


def test_ts_offset_is_exported_from_segment() -> None:
    assert SEGMENT_TS_OFFSET == TS_OFFSET == 1.4


def test_playlist_decodes_without_errors(built: Built, tmp_path: Path) -> None:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{built.index.target_duration}",
             "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD"]
    for span, data in zip(built.index.segments, built.segments, strict=True):
        (tmp_path / f"{span.index}.ts").write_bytes(data)
        lines += [f"#EXTINF:{span.end - span.start:.6f},", f"{span.index}.ts"]
    playlist = tmp_path / "index.m3u8"
    playlist.write_text("\n".join([*lines, "#EXT-X-ENDLIST", ""]))
    assert fx.decode_errors(str(playlist)) == ""


def test_segments_read_back(built: Built) -> None:
    index = built.index
    want_audio = "mp3" if index.audio is Action.COPY and index.info.audio and \
        index.info.audio.codec == "mp3" else "aac"
    per_segment = [tracks(data) for data in built.segments]
    for found in per_segment:
        assert set(found) == ({"video"} if index.video else set()) | {"audio"}
        assert found["audio"].codec == want_audio
        if index.video:
            assert found["video"].codec == "h264"
            assert found["video"].first_is_key
    for kind in per_segment[0]:
        first, last = per_segment[0][kind], per_segment[-1][kind]
        assert first.start == pytest.approx(TS_OFFSET, abs=0.03)  # AAC priming sits before
        assert last.end - TS_OFFSET == pytest.approx(index.info.duration, abs=0.05)
        for n, (a, b) in enumerate(itertools.pairwise(per_segment)):
            assert abs(b[kind].start - a[kind].end) <= SLACK[kind], (kind, n)
            start = index.segments[n + 1].start + TS_OFFSET
            assert b[kind].start == pytest.approx(start, abs=SLACK[kind] * 1.5), (kind, n)


def test_each_segment_opens_with_a_keyframe(built_video: Built) -> None:
    for data in built_video.segments:
        with read(data) as container:
            frame = next(container.decode(video=0))
            assert frame.key_frame


def test_announced_h264_codec_is_what_segments_carry(built_video: Built) -> None:
    announced = built_video.index.codecs.split(",")[0]
    for data in built_video.segments:
        sps = data.find(b"\x00\x00\x01\x67")  # annex-B SPS NAL unit
        assert sps >= 0
        assert "avc1." + data[sps + 4:sps + 7].hex() == announced


def test_bandwidth_bounds_real_segments(built: Built) -> None:
    index = built.index
    bits = [len(d) * 8.0 for d in built.segments]
    durations = [s.end - s.start for s in index.segments]
    average = sum(bits) / index.info.duration
    assert peak_rate(bits, durations, index.target_duration) <= index.peak_bandwidth
    assert average <= index.average_bandwidth
    if index.video is not Action.TRANSCODE:  # measured, so it should also be close
        assert average >= 0.9 * index.average_bandwidth


def test_segment_number_out_of_range(built: Built) -> None:
    with pytest.raises(IndexError):
        build_segment(built.path, built.index, len(built.index.segments))


def test_source_damaged_after_indexing(media: MediaFiles, tmp_path: Path) -> None:
    path = tmp_path / "gone.mp4"
    shutil.copy(media("h264_aac_mp4"), path)
    index = build_index(path)
    path.write_bytes(b"\x00" * 1000)
    with pytest.raises(MediaError):
        build_segment(path, index, 1)


def test_segments_are_reproducible(media: MediaFiles) -> None:
    path = media("wav")
    index = build_index(path)
    assert build_segment(path, index, 1) == build_segment(path, index, 1)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_media_source_gives_the_same_segments_as_its_file(builds: dict[str, Built],
                                                             kind: str) -> None:
    built = builds[kind]
    source = FileSource(built.path)
    for n in range(len(built.index.segments)):
        assert build_segment(source, built.index, n) == built.segments[n], n


def test_continuity_counters_run_on_from_segment_to_segment(built: Built,
                                                            tmp_path: Path) -> None:
    """Segments are built one by one, yet read as one transport stream: every PID's
    counter goes on from where the previous segment left it (VLC logs `TS
    discontinuity` otherwise), and the segments joined decode cleanly."""
    assert continuity_errors(built.segments) == []
    for data in built.segments:
        for pid, (first, last) in counters(data).items():
            assert (first, last) == (0, 15), (pid, first, last)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(built.segments))
    assert fx.decode_errors(str(joined)) == ""


def test_any_segment_continues_any_other(builds: dict[str, Built]) -> None:
    """Built in any order, by any node, a segment starts where any other ends."""
    built = builds["h264_aac_mp4"]
    later = build_segment(built.path, built.index, 1)
    assert continuity_errors([later, built.segments[0], later]) == []


def test_every_segment_starts_its_audio_with_its_first_picture(built_video: Built) -> None:
    """AAC priming (and edit-list slack) put a source's first audio frame before its
    first picture; audio that starts ahead of the video leaves hls.js a hole at the
    start. In every segment the audio starts within one audio frame after the first
    picture."""
    for n, data in enumerate(built_video.segments):
        firsts: dict[str, tuple[float, float]] = {}
        with read(data) as container:
            for packet in container.demux():
                if packet.size and packet.stream.type not in firsts:
                    tb = packet.time_base
                    firsts[packet.stream.type] = (float(packet.pts * tb),
                                                  float(packet.duration * tb))
        video, audio = firsts["video"][0], firsts["audio"][0]
        assert video <= audio < video + firsts["audio"][1], (n, firsts)
