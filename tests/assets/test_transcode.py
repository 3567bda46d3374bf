"""The ABR ladder from an uploaded file: planning, one real ffmpeg transcode into CMAF
segments shared by HLS and DASH, progress, cancellation, failures, thumbnails."""

from __future__ import annotations

import asyncio
import io
import itertools
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import av
import psutil
import pytest

from hlsd.assets.ladder import (
    AUDIO_LADDER,
    DEFAULT_LADDER,
    LadderError,
    LadderPlan,
    Rung,
    plan_ladder,
)
from hlsd.assets.thumbnails import make_thumbnails
from hlsd.assets.transcode import Outputs, TranscodeError, transcode, transcode_command
from hlsd.hls import PlaylistType, parse_master, parse_media
from hlsd.hls.check import assert_valid
from hlsd.media.errors import MediaError
from hlsd.media.probe import AudioTrack, MediaInfo, VideoTrack, probe
from tests._support import media as fx
from tests._support.browser import browser_test, describe, play_hls_async
from tests._support.servers import Upstream

# Small rungs keep the real transcode fast; two audio rates make two audio groups.
SMALL_LADDER = (
    Rung(name="360p", height=360, video_bitrate=600_000, audio_bitrate=96_000),
    Rung(name="240p", height=240, video_bitrate=300_000, audio_bitrate=64_000),
)
SECONDS = 6.0


def _info(width: int | None, height: int | None, *, audio: bool = True,
          duration: float = 10.0) -> MediaInfo:
    video = None if width is None or height is None else VideoTrack(
        index=0, codec="h264", width=width, height=height, frame_rate=25.0, bit_rate=None)
    sound = AudioTrack(index=1, codec="aac", sample_rate=48000, channels=2,
                       bit_rate=None) if audio else None
    return MediaInfo(duration=duration, start_time=0.0, format_name="mov,mp4", bit_rate=None,
                     video=video, audio=sound)


# -- planning -------------------------------------------------------------------------


def test_plan_caps_a_720p_source() -> None:
    plan = plan_ladder(_info(1280, 720))
    assert [r.name for r in plan.rungs] == ["720p", "480p", "360p"]
    assert [(r.width, r.height) for r in plan.rungs] == [(1280, 720), (854, 480), (640, 360)]
    assert [r.audio_bitrate for r in plan.rungs] == [128_000, 128_000, 96_000]
    assert plan.audio_bitrates == (128_000, 96_000)
    assert plan.has_video and plan.has_audio and plan.frame_rate == 25.0


def test_plan_keeps_every_rung_of_a_4k_source_and_the_aspect_ratio() -> None:
    plan = plan_ladder(_info(3840, 1600))  # 2.4:1
    assert [r.name for r in plan.rungs] == [r.name for r in DEFAULT_LADDER]
    assert [r.width for r in plan.rungs] == [2592, 1728, 1152, 864]


def test_plan_of_a_source_below_the_smallest_rung_is_one_rung_at_its_size() -> None:
    plan = plan_ladder(_info(320, 240))
    assert len(plan.rungs) == 1
    rung = plan.rungs[0]
    assert (rung.name, rung.width, rung.height) == ("240p", 320, 240)
    assert 100_000 <= rung.video_bitrate < DEFAULT_LADDER[-1].video_bitrate
    assert plan_ladder(_info(321, 241)).rungs[0].height == 240  # even, never above


def test_plan_of_audio_only_is_the_audio_ladder() -> None:
    plan = plan_ladder(_info(None, None))
    assert plan.rungs == AUDIO_LADDER
    assert not plan.has_video and plan.video_rungs == () and plan.width is None
    assert plan.audio_bitrates == (128_000, 64_000)


def test_plan_of_silent_video_has_no_audio() -> None:
    plan = plan_ladder(_info(1280, 720, audio=False))
    assert all(r.audio_bitrate == 0 for r in plan.rungs) and plan.audio_bitrates == ()
    args = transcode_command("ffmpeg", Path("in.mp4"), Path("out"), plan)
    assert "-c:a" not in args and args[args.index("-adaptation_sets") + 1] == "id=0,streams=v"


@pytest.mark.parametrize(("info", "reason"), [
    (_info(None, None, audio=False), "no video or audio track"),
    (_info(1, 1), "too small"),
    (_info(1280, 720, duration=0.0), "no playable duration"),
])
def test_nothing_to_transcode_says_why(info: MediaInfo, reason: str) -> None:
    with pytest.raises(LadderError, match=reason):
        plan_ladder(info)
    with pytest.raises(ValueError, match=reason):  # LadderError is a ValueError
        plan_ladder(info)


def test_one_command_makes_every_rung() -> None:
    plan = plan_ladder(_info(1280, 720))
    args = transcode_command("ffmpeg", Path("/up/in.mp4"), Path("/out"), plan,
                             segment_seconds=4.0, threads=2)
    assert args.count("-i") == 1 and args[args.index("-i") + 1] == "file:/up/in.mp4"
    graph = args[args.index("-filter_complex") + 1]
    assert graph.startswith("[0:0]split=3") and graph.count("scale=") == 3
    assert args[args.index("-force_key_frames") + 1] == "expr:gte(t,n_forced*4)"
    assert args[args.index("-g") + 1] == args[args.index("-keyint_min") + 1] == "100"
    assert args[args.index("-sc_threshold") + 1] == "0"
    assert args.count("-map") == 5  # three video rungs, two audio rates
    assert args[args.index("-f") + 1] == "dash" and args[-1] == "/out/manifest.mpd"
    assert args[args.index("-adaptation_sets") + 1] == "id=0,streams=v id=1,streams=a"
    assert args[args.index("-threads") + 1] == "2"


# -- one real transcode ---------------------------------------------------------------


@dataclass
class Transcoded:
    source: Path
    plan: LadderPlan
    outputs: Outputs
    progress: list[float]
    seconds: float


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    return fx.h264_aac_mp4(folder / "720p.mp4", seconds=SECONDS, size="1280x720", gop=50)


@pytest.fixture(scope="module")
async def transcoded(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Transcoded:
    plan = plan_ladder(probe(clip), SMALL_LADDER)
    progress: list[float] = []
    started = time.perf_counter()
    outputs = await transcode(clip, tmp_path_factory.mktemp("abr") / "out", plan,
                              on_progress=progress.append)
    return Transcoded(source=clip, plan=plan, outputs=outputs, progress=progress,
                      seconds=time.perf_counter() - started)


def test_master_is_valid_with_bandwidth_codecs_resolution(transcoded: Transcoded) -> None:
    text = transcoded.outputs.master.read_text()
    assert_valid(text)
    master = parse_master(text)
    assert [v.resolution for v in master.variants] == [(640, 360), (426, 240)]
    for variant in master.variants:
        assert variant.bandwidth > 0 and variant.average_bandwidth
        assert variant.codecs is not None
        assert re.fullmatch(r"avc1\.[0-9a-f]{6},mp4a\.40\.2", variant.codecs)
    # Each variant hears its own audio rate; the bit rates are measured, near the asked.
    assert [v.audio for v in master.variants] == ["audio-96k", "audio-64k"]
    assert {(r.group_id, r.default) for r in master.renditions} == {
        ("audio-96k", True), ("audio-64k", True)}
    top = master.variants[0]
    assert 500_000 < top.bandwidth < 1_200_000, text


def test_media_playlists_are_vod(transcoded: Transcoded) -> None:
    folder = transcoded.outputs.folder
    for path in sorted(folder.glob("media_*.m3u8")):
        text = path.read_text()
        assert_valid(text)
        playlist = parse_media(text)
        assert playlist.playlist_type is PlaylistType.VOD and playlist.endlist
        assert playlist.init is not None
        assert sum(s.duration for s in playlist.segments) == pytest.approx(SECONDS, abs=0.1)


def test_hls_and_dash_decode_cleanly(transcoded: Transcoded) -> None:
    folder = transcoded.outputs.folder
    for path in sorted(folder.glob("media_*.m3u8")):
        assert fx.decode_errors(str(path)) == "", path.name
    # Every rendition through the master. (Decoding only the default pick, ffmpeg's HLS
    # demuxer logs parser noise about the fMP4 variants it drops, with its own hls
    # muxer's output too.)
    assert fx.decode_errors(str(transcoded.outputs.master), every_stream=True) == ""
    assert fx.decode_errors(str(transcoded.outputs.mpd)) == ""


def _frames(target: Path, *maps: str) -> list[str]:
    """The decoded frames' checksums (ffmpeg's framemd5, stream index column dropped)."""
    out = subprocess.run(
        [fx.FFMPEG, "-hide_banner", "-nostdin", "-v", "quiet", "-i", str(target), *maps,
         "-f", "framemd5", "-"], capture_output=True, text=True, check=True, timeout=120)
    return [line.split(",", 1)[1] for line in out.stdout.splitlines()
            if line and not line.startswith("#")]


def _kinds(errors: str) -> set[str]:
    """ffmpeg's messages without their context, addresses and numbers."""
    return {re.sub(r"\d+", "N", re.sub(r"^\[[^]]*\] ", "", line))
            for line in errors.splitlines()}


def test_a_variant_picked_through_the_master_is_the_variant_alone(
        transcoded: Transcoded) -> None:
    """What a player picking one variant of the master gets is that variant's own
    pictures and its group's sound, frame for frame."""
    folder = transcoded.outputs.folder
    master = parse_master(transcoded.outputs.master.read_text())
    audio = {r.group_id: r.uri for r in master.renditions}
    for n, variant in enumerate(master.variants):
        through = transcoded.outputs.master
        assert _frames(through, "-map", f"0:p:{n}:v") == _frames(folder / variant.uri), n
        assert variant.audio is not None
        sound = audio[variant.audio]
        assert sound is not None
        assert _frames(through, "-map", f"0:p:{n}:a") == _frames(folder / sound), n


def test_ffmpeg_says_no_more_of_this_master_than_of_its_own(transcoded: Transcoded,
                                                            tmp_path: Path) -> None:
    """Decoding only its default pick of the master, ffmpeg may print `Invalid NAL unit
    size` and `missing picture in access unit`. They are its HLS demuxer's: when it stops
    reading a variant it does not need, the mov demuxer of that playlist is cut mid-
    sample and hands the h264 parser a truncated packet marked corrupt. Its own HLS
    muxer's two-variant CMAF output in the same layout (video variants, audio in a
    group of its own per variant) makes it print the same; with everything mapped, or
    each variant alone, the decode is clean (`test_hls_and_dash_decode_cleanly`)."""
    rungs = transcoded.plan.video_rungs
    own = tmp_path / "own"
    own.mkdir()
    scaled = ";".join(f"[s{i}]scale=-2:{r.height}[v{i}]" for i, r in enumerate(rungs))
    groups = " ".join([*(f"v:{i},agroup:a{i}" for i in range(len(rungs))),
                       *(f"a:{i},agroup:a{i}" for i in range(len(rungs)))])
    subprocess.run(
        [fx.FFMPEG, "-hide_banner", "-v", "error", "-y", "-i", str(transcoded.source),
         "-filter_complex", f"[0:v]split={len(rungs)}"
         + "".join(f"[s{i}]" for i in range(len(rungs))) + ";" + scaled,
         *(a for i in range(len(rungs)) for a in ("-map", f"[v{i}]")),
         *(a for _ in rungs for a in ("-map", "0:a")),
         "-c:v", "libx264", "-preset", "veryfast", "-g", "100", "-keyint_min", "100",
         "-sc_threshold", "0",
         *(a for i, r in enumerate(rungs) for a in (f"-b:v:{i}", str(r.video_bitrate))),
         "-c:a", "aac", "-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", "4",
         "-hls_playlist_type", "vod", "-var_stream_map", groups,
         "-master_pl_name", "index.m3u8", "-hls_segment_filename", str(own / "s%v_%03d.m4s"),
         str(own / "m%v.m3u8")], check=True, timeout=120)
    ours = _kinds(fx.decode_errors(str(transcoded.outputs.master)))
    theirs = _kinds(fx.decode_errors(str(own / "index.m3u8")))
    assert ours <= theirs, (ours, theirs)


def test_mpd_parses_and_shares_the_segments_with_hls(transcoded: Transcoded) -> None:
    from mpegdash.parser import MPEGDASHParser  # in the test extras

    outputs = transcoded.outputs
    mpd = MPEGDASHParser.parse(str(outputs.mpd))
    assert mpd.type == "static"
    sets = mpd.periods[0].adaptation_sets
    assert [s.content_type for s in sets] == ["video", "audio"]
    assert [(r.width, r.height) for r in sets[0].representations] == [(640, 360), (426, 240)]
    assert [r.bandwidth for r in sets[1].representations] == [96_000, 64_000]
    from_dash: set[str] = set()
    for adaptation in sets:
        for rep in adaptation.representations:
            template = rep.segment_templates[0]
            count = sum(1 + (s.r or 0) for s in template.segment_timelines[0].Ss)
            from_dash.add(template.initialization.replace("$RepresentationID$", rep.id))
            media = template.media.replace("$RepresentationID$", rep.id)
            from_dash |= {media.replace("$Number%05d$", f"{n:05d}")
                          for n in range(template.start_number, template.start_number + count)}
    from_hls: set[str] = set()
    for path in outputs.folder.glob("media_*.m3u8"):
        playlist = parse_media(path.read_text())
        assert playlist.init is not None
        from_hls |= {playlist.init.uri, *(s.uri for s in playlist.segments)}
    assert from_dash == from_hls
    on_disk = {p.name for p in outputs.folder.iterdir()}
    assert from_hls <= on_disk
    # Outputs lists every file written, and nothing else is there.
    assert {str(p) for p in outputs.files} == on_disk
    assert len(outputs.files) == len(set(outputs.files))


def test_renditions_cut_at_the_same_keyframes(transcoded: Transcoded) -> None:
    folder = transcoded.outputs.folder
    master = parse_master(transcoded.outputs.master.read_text())
    starts = []
    for variant in master.variants:
        playlist = parse_media((folder / variant.uri).read_text())
        assert playlist.init is not None
        init = (folder / playlist.init.uri).read_bytes()
        times = []
        for segment in playlist.segments:
            with av.open(io.BytesIO(init + (folder / segment.uri).read_bytes())) as container:
                packet = next(container.demux(video=0))
                assert packet.is_keyframe, segment.uri
                times.append(round(float(packet.pts * packet.time_base), 3))
        starts.append(times)
    assert len(starts[0]) == 2  # 6 s in 4 s segments
    assert all(times == starts[0] for times in starts), starts
    assert starts[0] == [0.0, 4.0]


def test_progress_rises_to_one(transcoded: Transcoded) -> None:
    progress = transcoded.progress
    assert len(progress) >= 2, progress
    assert progress == sorted(progress) and len(set(progress)) == len(progress)
    assert 0 < progress[0] < 1 and progress[-1] == 1.0
    assert len(progress) <= transcoded.seconds * 4 + 2  # at most ~4 a second


@browser_test[0]
@browser_test[1]
async def test_hls_js_plays_every_level(transcoded: Transcoded) -> None:
    with Upstream(cors=True) as server:
        server.add_dir("/abr", transcoded.outputs.folder)
        result = await play_hls_async(server.url + "/abr/index.m3u8", seconds=5.0)
    assert not result.fatal_errors and not result.errors, describe(result)
    assert result.levels == 2 and result.played >= 5.0, describe(result)


async def test_audio_only_and_silent_video(tmp_path: Path) -> None:
    wav = fx.wav(tmp_path / "tone.wav", seconds=5)
    outputs = await transcode(wav, tmp_path / "audio", plan_ladder(probe(wav)))
    master = parse_master(outputs.master.read_text())
    assert_valid(outputs.master.read_text())
    assert [v.codecs for v in master.variants] == ["mp4a.40.2", "mp4a.40.2"]
    assert [v.resolution for v in master.variants] == [None, None]
    assert master.renditions == ()
    assert fx.decode_errors(str(outputs.master), every_stream=True) == ""
    assert fx.decode_errors(str(outputs.mpd)) == ""

    silent = tmp_path / "silent.mp4"
    subprocess.run([fx.FFMPEG, "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=320x240:rate=25:duration=3", "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(silent)], check=True)
    outputs = await transcode(silent, tmp_path / "silent", plan_ladder(probe(silent)))
    master = parse_master(outputs.master.read_text())
    assert_valid(outputs.master.read_text())
    assert [(v.resolution, v.audio) for v in master.variants] == [((320, 240), None)]
    assert master.variants[0].codecs is not None
    assert master.variants[0].codecs.startswith("avc1.")
    assert fx.decode_errors(str(outputs.mpd)) == ""


# -- cancellation and failures --------------------------------------------------------


async def test_cancelling_stops_ffmpeg(clip: Path, tmp_path: Path) -> None:
    plan = plan_ladder(probe(clip))  # the whole default ladder on one thread: seconds
    children: list[psutil.Process] = []
    started = asyncio.Event()

    def on_progress(fraction: float) -> None:
        children.extend(p for p in psutil.Process().children(recursive=True)
                        if "ffmpeg" in p.name())
        started.set()

    task = asyncio.create_task(transcode(clip, tmp_path / "out", plan, threads=1,
                                         on_progress=on_progress))
    await asyncio.wait_for(started.wait(), 30)
    assert children and task.done() is False
    began = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.perf_counter() - began < 5
    assert not [p for p in children if p.is_running()], children


async def test_a_failing_progress_callback_stops_ffmpeg(clip: Path, tmp_path: Path) -> None:
    children: list[psutil.Process] = []

    def on_progress(fraction: float) -> None:
        children.extend(p for p in psutil.Process().children(recursive=True)
                        if "ffmpeg" in p.name())
        raise RuntimeError("the database is gone")

    with pytest.raises(RuntimeError, match="the database is gone"):
        await transcode(clip, tmp_path / "out", plan_ladder(probe(clip)), threads=1,
                        on_progress=on_progress)
    assert children and not [p for p in children if p.is_running()]


async def test_not_media_is_refused_with_a_reason(clip: Path, tmp_path: Path) -> None:
    junk = tmp_path / "holiday.mp4"
    junk.write_bytes(b"these are not the frames you are looking for\n" * 200)
    with pytest.raises(MediaError, match="not a media file"):
        probe(junk)
    plan = plan_ladder(probe(clip), SMALL_LADDER)  # as if the probe had been fooled
    with pytest.raises(TranscodeError) as caught:
        await transcode(junk, tmp_path / "out", plan)
    assert str(caught.value) == "not a media file"  # the probe's words
    assert str(tmp_path) not in str(caught.value)


@pytest.mark.parametrize("faststart", [True, False])
async def test_truncated_file_is_refused_with_a_reason(clip: Path, tmp_path: Path,
                                                       faststart: bool) -> None:
    # With its index first, ffmpeg reads what there is; without, it cannot open the file.
    whole = clip if faststart else fx.h264_aac_mp4(tmp_path / "late-moov.mp4", seconds=SECONDS,
                                                  faststart=False)
    cut = fx.truncated(whole, tmp_path / "cut.mp4", keep=0.4)
    with pytest.raises(MediaError, match="truncated"):
        probe(cut)
    plan = plan_ladder(probe(whole), SMALL_LADDER)
    with pytest.raises(TranscodeError, match="truncated") as caught:
        await transcode(cut, tmp_path / "out", plan)
    assert str(tmp_path) not in str(caught.value)


# -- thumbnails -----------------------------------------------------------------------


async def test_thumbnails(clip: Path, tmp_path: Path) -> None:
    thumbs = await make_thumbnails(clip, tmp_path, duration=SECONDS, interval=2.0)
    assert {str(p) for p in thumbs.files} == {"poster.jpg", "thumbs.jpg", "thumbs.vtt"}
    assert thumbs.poster is not None and thumbs.sprite is not None and thumbs.vtt is not None
    assert thumbs.poster.read_bytes()[:3] == b"\xff\xd8\xff"
    assert _size(thumbs.poster) == (1280, 720)
    assert _size(thumbs.sprite) == (3 * 160, 90)  # three tiles, one row
    cues = re.findall(r"(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\n"
                      r"thumbs\.jpg#xywh=(\d+),(\d+),(\d+),(\d+)", thumbs.vtt.read_text())
    assert thumbs.vtt.read_text().startswith("WEBVTT\n")
    spans = [(_seconds(a), _seconds(b)) for a, b, *_ in cues]
    assert spans[0][0] == 0 and spans[-1][1] == pytest.approx(SECONDS)
    assert all(prev[1] == nxt[0] for prev, nxt in itertools.pairwise(spans))
    assert [tuple(map(int, c[2:])) for c in cues] == [
        (0, 0, 160, 90), (160, 0, 160, 90), (320, 0, 160, 90)]


async def test_no_thumbnails_for_audio(tmp_path: Path) -> None:
    wav = fx.wav(tmp_path / "tone.wav", seconds=2)
    thumbs = await make_thumbnails(wav, tmp_path / "out", duration=2.0)
    assert thumbs.files == () and thumbs.poster is None
    assert not (tmp_path / "out").exists()


# -- helpers --------------------------------------------------------------------------


def _size(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as container:
        ctx = container.streams.video[0].codec_context
        return ctx.width, ctx.height


def _seconds(stamp: str) -> float:
    hours, minutes, seconds = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
