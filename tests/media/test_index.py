from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import av
import pytest

from hlsd.media import Action, MediaIndex, build_index
from hlsd.media.index import peak_rate
from hlsd.media.mp4box import track_timing
from hlsd.media.scan import mp4_gops, scan_packets
from tests._support import media as fx
from tests.media.conftest import KINDS, FileSource, MediaFiles, ffmpeg

ACTIONS = {
    "h264_aac_mp4": (Action.COPY, Action.COPY),
    "h264_mp3_mp4": (Action.COPY, Action.COPY),
    "wav": (None, Action.TRANSCODE),
    "mp3": (None, Action.COPY),
    "flac": (None, Action.TRANSCODE),
    "ogg_opus": (None, Action.TRANSCODE),
    "vp9_opus_webm": (Action.TRANSCODE, Action.TRANSCODE),
    "h264_opus_mkv": (Action.COPY, Action.TRANSCODE),
    "h264_aac_ts": (Action.COPY, Action.COPY),
}
CODECS = {
    "h264_aac_mp4": r"avc1\.64[0-9a-f]{4},mp4a\.40\.2",  # x264 High profile
    "h264_mp3_mp4": r"avc1\.64[0-9a-f]{4},mp4a\.40\.34",
    "wav": r"mp4a\.40\.2",
    "mp3": r"mp4a\.40\.34",
    "flac": r"mp4a\.40\.2",
    "ogg_opus": r"mp4a\.40\.2",
    "vp9_opus_webm": r"avc1\.64001e,mp4a\.40\.2",  # 320x240 -> High, level 3.0
    "h264_opus_mkv": r"avc1\.64[0-9a-f]{4},mp4a\.40\.2",
    "h264_aac_ts": r"avc1\.64[0-9a-f]{4},mp4a\.40\.2",
}


@pytest.fixture(scope="module", params=sorted(KINDS))
def indexed(request: pytest.FixtureRequest, media: MediaFiles) -> tuple[Path, MediaIndex]:
    path = media(request.param)
    return path, build_index(path)


def test_spans_cover_the_timeline(indexed: tuple[Path, MediaIndex]) -> None:
    _, index = indexed
    spans = index.segments
    assert spans[0].start == 0.0
    assert spans[-1].end == index.info.duration
    for n, (a, b) in enumerate(itertools.pairwise(spans)):
        assert a.index == n and a.end == b.start and a.start < a.end
    assert index.target_duration == math.ceil(max(s.end - s.start for s in spans) - 1e-6)
    assert all(round(s.end - s.start) <= index.target_duration for s in spans)


def test_actions_and_codecs(indexed: tuple[Path, MediaIndex]) -> None:
    path, index = indexed
    kind = path.stem
    assert (index.video, index.audio) == ACTIONS[kind]
    assert re.fullmatch(CODECS[kind], index.codecs), index.codecs
    if index.video is None:
        assert index.resolution is None and index.frame_rate is None
    else:
        assert index.resolution == (320, 240)
        assert index.frame_rate == pytest.approx(25.0)
    assert 0 < index.average_bandwidth <= index.peak_bandwidth


@pytest.mark.parametrize("kind", [k for k, (v, _) in ACTIONS.items() if v is not Action.COPY])
def test_fixed_spans_for_audio_and_transcoded_video(media: MediaFiles, kind: str) -> None:
    index = build_index(media(kind))
    starts = [s.start for s in index.segments]
    assert starts == [6.0 * n for n in range(len(starts))]


def test_copy_spans_start_on_keyframes(media: MediaFiles) -> None:
    path = media("h264_aac_mp4")  # a keyframe every 2 s
    index = build_index(path, target=3.0)
    assert [s.start for s in index.segments] == [0.0, 4.0]
    assert index.segments[-1].end == pytest.approx(8.0)
    assert index.target_duration == 4
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        keys = {round(f.time, 3) for f in container.decode(stream)
                if f.key_frame and f.time is not None}
    assert {round(s.start + index.info.start_time, 3) for s in index.segments} <= keys


def test_target_shorter_than_the_gop_gives_one_segment_per_gop(media: MediaFiles) -> None:
    index = build_index(media("h264_aac_mp4"), target=1.0)
    assert [s.start for s in index.segments] == [0.0, 2.0, 4.0, 6.0]


def test_target_must_be_positive(media: MediaFiles) -> None:
    with pytest.raises(ValueError, match="positive"):
        build_index(media("wav"), target=0)


def test_mp4_sample_table_gives_what_a_full_demux_gives(media: MediaFiles) -> None:
    path = media("h264_aac_mp4")
    with av.open(str(path)) as container:
        fast = mp4_gops(container, 0, 0.0)
    with av.open(str(path)) as container:
        slow = scan_packets(container, 0, None, 0.0).gops
    assert fast is not None and len(fast) == 4
    assert fast == slow


def test_fragmented_mp4_indexed_by_fragments(media: MediaFiles, tmp_path: Path) -> None:
    # with a global sidx ffmpeg indexes fragments only as it reads them
    plain = media("h264_aac_mp4")
    frag = tmp_path / "frag.mp4"
    ffmpeg("-i", str(plain), "-c", "copy", "-movflags",
            "+frag_keyframe+empty_moov+default_base_moof+global_sidx", str(frag))
    a, b = build_index(plain), build_index(frag)
    assert len(b.segments) == len(a.segments) == 2
    assert b.peak_bandwidth == pytest.approx(a.peak_bandwidth, rel=0.05)


def test_peak_rate_uses_runs_of_half_to_one_and_a_half_target_durations() -> None:
    # a 0.04 s last segment with a 100 kbit keyframe: 2.5 Mbit/s alone, but too short
    # to count by itself; with the segment before it the run is 6.04 s long
    bits, durations = [600_000.0, 600_000.0, 100_000.0], [6.0, 6.0, 0.04]
    assert peak_rate(bits, durations, 6) == pytest.approx(700_000 / 6.04)
    assert peak_rate([10.0], [1.0], 6) == 10.0  # shorter than half a target in total


# MP4s whose presentation times differ from decode times in every way encoders do it
_LAVFI = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=12",
          "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=12"]
_X264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
MP4_VARIANTS: dict[str, list[str]] = {
    "b_pyramid": [*_X264, "-x264-params", "bframes=3:b-pyramid=normal:keyint=48"],
    "open_gop": [*_X264, "-x264-params", "open-gop=1:keyint=40"],
    "irregular_keyframes": [*_X264, "-g", "100", "-keyint_min", "10"],
    "no_edit_list": [*_X264, "-g", "50", "-use_editlist", "0"],
    "negative_cts": [*_X264, "-g", "50", "-movflags", "+negative_cts_offsets"],
    "no_b_frames": [*_X264, "-bf", "0", "-g", "50"],
    "offset_start": [*_X264, "-g", "50", "-output_ts_offset", "3.5"],
    "moov_at_end": [*_X264, "-g", "50"],
    "ntsc_rate": [*_X264, "-g", "60", "-r", "30000/1001"],
    "hevc": ["-c:v", "libx265", "-preset", "ultrafast",
             "-x265-params", "keyint=50:log-level=error"],
}


@pytest.fixture(scope="module", params=sorted(MP4_VARIANTS))
def mp4_variant(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                ) -> Path:
    path = tmp_path_factory.mktemp("mp4") / f"{request.param}.mp4"
    faststart = [] if request.param == "moov_at_end" else ["-movflags", "+faststart"]
    ffmpeg(*_LAVFI, *MP4_VARIANTS[request.param], "-c:a", "aac", "-shortest", *faststart,
           str(path))
    return path


def test_keyframe_times_from_the_moov_match_the_packets(mp4_variant: Path) -> None:
    with av.open(str(mp4_variant)) as container:
        stream = container.streams.video[0]
        origin = container.start_time / 1e6
        timing = track_timing(mp4_variant, stream.id)
        assert timing is not None and timing.count == len(stream.index_entries)
        from_moov = mp4_gops(container, stream.index, origin, timing)
    with av.open(str(mp4_variant)) as container:
        from_packets = mp4_gops(container, 0, origin)
    with av.open(str(mp4_variant)) as container:
        demuxed = scan_packets(container, 0, None, origin).gops
    assert from_moov is not None and len(from_moov) >= 3
    assert from_moov == from_packets == demuxed


def test_a_table_that_disagrees_with_the_samples_is_not_used(media: MediaFiles) -> None:
    path = media("h264_aac_mp4")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        timing = track_timing(path, stream.id)
        assert timing is not None
        timing.deltas[1] += 1  # no longer ffmpeg's samples one for one: read packets
        gops = mp4_gops(container, stream.index, 0.0, timing)
    with av.open(str(path)) as container:
        assert gops == scan_packets(container, 0, None, 0.0).gops
    assert track_timing(path, 9999) is None  # no such track
    assert track_timing(media("wav"), 1) is None  # no moov


def test_indexing_an_mp4_reads_its_moov_and_first_keyframes_only(tmp_path: Path) -> None:
    path = fx.h264_aac_mp4(tmp_path / "long.mp4", seconds=60, gop=50)
    source = FileSource(path)
    index = build_index(source)
    assert index == build_index(path)
    assert len(index.segments) == 10
    assert source.furthest() < source.size // 4, source.reads


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_media_source_indexes_as_its_file_does(media: MediaFiles, kind: str) -> None:
    path = media(kind)
    source = FileSource(path)
    assert build_index(source) == build_index(path)
    assert source.reads
