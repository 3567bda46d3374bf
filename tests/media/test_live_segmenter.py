"""The live CMAF segmenter on real FLV and MPEG-TS made by ffmpeg: parts and segments
cut by the LL-HLS rules, fragments read back box by box, and every segment decoded by
ffmpeg and PyAV."""

from __future__ import annotations

import asyncio
import io
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest

from hlsd.infra.byte_pipe import BytePipe
from hlsd.media.live_segmenter import (
    CmafInit,
    CmafPart,
    MediaRefused,
    cmaf_to_ts,
    segment_stream,
)
from tests._support import media as fx
from tests._support.fmp4 import Fragment, fragments

FPS = 25
PART = 0.5
SEGMENT = 2.0
_TESTSRC = "testsrc2=size=320x240:rate=25"
_SINE = "sine=frequency=440:sample_rate=44100"
_X264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "25"]
_AAC = ["-c:a", "aac", "-b:a", "64k"]


def _make(path: Path, *args: str) -> Path:
    subprocess.run([fx.FFMPEG, "-hide_banner", "-v", "error", "-y", *args, str(path)],
                   check=True)
    return path


def _av(seconds: float, video: list[str], audio: list[str], fmt: str,
        size: str = "320x240") -> list[str]:
    inputs = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={FPS}:duration={seconds}"]
    if audio:
        inputs += ["-f", "lavfi", "-i", f"{_SINE}:duration={seconds}"]
    return [*inputs, *video, *audio, "-f", fmt]


INPUTS: dict[str, Callable[[Path], Path]] = {
    "h264_aac.flv": lambda p: _make(p, *_av(3, _X264, _AAC, "flv")),
    "h264_aac.ts": lambda p: _make(p, *_av(3, _X264, _AAC, "mpegts")),
    "hevc_aac.ts": lambda p: _make(p, *_av(3, [
        "-c:v", "libx265", "-preset", "ultrafast", "-g", "25", "-x265-params",
        "log-level=error", "-pix_fmt", "yuv420p"], _AAC, "mpegts")),
    "h264.flv": lambda p: _make(p, *_av(3, _X264, [], "flv")),
    "aac.ts": lambda p: _make(p, "-f", "lavfi", "-i", f"{_SINE}:duration=3", *_AAC,
                              "-f", "mpegts"),
    "aac.flv": lambda p: _make(p, "-f", "lavfi", "-i", f"{_SINE}:duration=3", *_AAC,
                               "-f", "flv"),
    "h264_opus.ts": lambda p: _make(p, *_av(3, _X264, ["-c:a", "libopus", "-ar", "48000"],
                                            "mpegts")),
    "h264_mp3.flv": lambda p: _make(p, *_av(3, _X264, ["-c:a", "libmp3lame"], "flv")),
    "gop2s.flv": lambda p: _make(p, *_av(4, [*_X264[:-1], "50"], _AAC, "flv")),
    "gop3s.ts": lambda p: _make(p, *_av(4, [*_X264[:-1], "75"], _AAC, "mpegts")),
    "h264_big.ts": lambda p: _make(p, *_av(2, _X264, _AAC, "mpegts", size="640x360")),
    "mpeg2.ts": lambda p: _make(p, *_av(1, ["-c:v", "mpeg2video"], _AAC, "mpegts")),
    "mp2.ts": lambda p: _make(p, *_av(1, _X264, ["-c:a", "mp2"], "mpegts")),
    # Audio muxed ahead of the first keyframe, as live encoders do (48 kHz stereo).
    "h264_aac_audio_first.ts": lambda p: _make(
        p, "-itsoffset", "0.3", "-f", "lavfi", "-i", f"{_TESTSRC}:duration=3",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3.3",
        *_X264, *_AAC, "-ac", "2", "-f", "mpegts"),
    "av1.flv": lambda p: _make(p, *_av(2, ["-c:v", "libsvtav1", "-preset", "12", "-g", "25",
                                           "-svtav1-params", "lp=1"], [], "flv")),
    # Audio that starts after the probe (0.25 s): within the first GOP, then after it.
    "h264_aac_from_0.5s.ts": lambda p: _late_audio(p, 0.5),
    "h264_aac_from_1.5s.ts": lambda p: _late_audio(p, 1.5),
}


def _late_audio(path: Path, offset: float) -> Path:
    """5 s of video, 48 kHz AAC from `offset` s to the end."""
    sine = f"sine=frequency=440:sample_rate=48000:duration={5 - offset:g}"
    return _make(path, "-f", "lavfi", "-i", f"{_TESTSRC}:duration=5",
                 "-itsoffset", f"{offset:g}", "-f", "lavfi", "-i", sine,
                 *_X264, *_AAC, "-f", "mpegts")


class Inputs:
    def __init__(self, root: Path) -> None:
        self._root = root
        self._made: dict[str, Path] = {}

    def __call__(self, name: str) -> Path:
        if name not in self._made:
            self._made[name] = INPUTS[name](self._root / name)
        return self._made[name]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    return Inputs(tmp_path_factory.mktemp("live"))


@dataclass
class Segment:
    init: CmafInit
    parts: list[CmafPart] = field(default_factory=list)

    @property
    def data(self) -> bytes:
        return b"".join(p.data for p in self.parts)

    @property
    def duration(self) -> float:
        return sum(p.duration for p in self.parts)


@dataclass
class Collected:
    """What a `SegmenterOutput` was told, in order."""

    events: list[CmafInit | CmafPart] = field(default_factory=list)

    def init(self, init: CmafInit) -> None:
        self.events.append(init)

    def part(self, part: CmafPart) -> None:
        self.events.append(part)

    @property
    def inits(self) -> list[CmafInit]:
        return [e for e in self.events if isinstance(e, CmafInit)]

    @property
    def parts(self) -> list[CmafPart]:
        return [e for e in self.events if isinstance(e, CmafPart)]

    def segments(self) -> list[Segment]:
        found: list[Segment] = []
        init: CmafInit | None = None
        for event in self.events:
            if isinstance(event, CmafInit):
                init = event
                continue
            assert init is not None, "a part before any init"
            if event.starts_segment or not found:
                assert event.starts_segment, "the first part after an init starts a segment"
                found.append(Segment(init=init))
            found[-1].parts.append(event)
        return found


def segment(path: Path, container: str, **options: object) -> Collected:
    out = Collected()
    settings: dict[str, object] = {"segment_duration": SEGMENT, "part_duration": PART}
    settings.update(options)
    with path.open("rb") as source:
        segment_stream(source, container=container, output=out, **settings)  # type: ignore[arg-type]
    return out


def _container(name: str) -> str:
    return "flv" if name.endswith(".flv") else "mpegts"


def runs(collected: Collected) -> Iterator[tuple[CmafPart, Fragment]]:
    for part in collected.parts:
        (fragment,) = fragments(part.data)
        yield part, fragment


def check_rules(collected: Collected, *, target: int, video: bool) -> None:
    """The LL-HLS rules every output keeps, whatever the input."""
    assert isinstance(collected.events[0], CmafInit)
    segments = collected.segments()
    assert segments
    for seg in segments:
        assert seg.duration <= seg.init.target_duration + 1e-9
        assert seg.init.target_duration == target
        assert seg.parts[0].independent
        # PART-TARGET: the whole frames nearest the asked part duration, plus half a
        # frame (12 frames of 40 ms, 23 AAC frames, and half of one).
        part_target = seg.init.part_target
        assert PART <= part_target < PART * 1.2
        for i, part in enumerate(seg.parts):
            assert 0 < part.duration <= part_target + 1e-9
            if i < len(seg.parts) - 1:
                assert part.duration >= 0.85 * part_target
    for part, fragment in runs(collected):
        lead = fragment.runs[1]  # video first, else the audio
        assert abs(sum(lead.durations) / (90000 if video else _scale(collected, 1))
                   - part.duration) < 1e-6
        if video:
            assert part.independent == lead.sync(0)
            assert all(flags in (0x02000000, 0x01010000) for flags in lead.flags)


def _scale(collected: Collected, track_id: int) -> int:
    from hlsd.media._fmp4 import read_init

    return {t.track_id: t.timescale for t in read_init(collected.inits[0].data)}[track_id]


def check_timeline(collected: Collected, *, video: bool) -> None:
    """tfdt starts near 0 and runs on: exactly for the leading track, for the other
    never back and never more than a frame apart; sequence numbers go up by one."""
    ends: dict[int, int] = {}
    sequence = 0
    for _, fragment in runs(collected):
        assert fragment.sequence == sequence + 1
        sequence = fragment.sequence
        for track_id, run in fragment.runs.items():
            if track_id not in ends:
                assert run.tfdt < 0.2 * _scale(collected, track_id)
            elif track_id == 1:
                assert run.tfdt == ends[track_id]
            else:
                assert 0 <= run.tfdt - ends[track_id] < 1024
            ends[track_id] = run.end
    assert set(ends) == ({1, 2} if video and len(ends) > 1 else set(ends))


def check_decodes(collected: Collected, tmp_path: Path) -> int:
    """Each segment, with its init, decodes clean in ffmpeg (as fMP4, and as MPEG-TS
    through `cmaf_to_ts`) and in PyAV; the number of video frames decoded."""
    frames = 0
    for n, seg in enumerate(collected.segments()):
        mp4 = tmp_path / f"seg{n}.mp4"
        mp4.write_bytes(seg.init.data + seg.data)
        assert fx.decode_errors(str(mp4)) == ""
        ts = tmp_path / f"seg{n}.ts"
        ts.write_bytes(cmaf_to_ts(seg.init.data, seg.data))
        assert fx.decode_errors(str(ts)) == ""
        with av.open(io.BytesIO(seg.init.data + seg.data), "r") as container:
            for packet in container.demux():
                for frame in packet.decode():
                    frames += isinstance(frame, av.VideoFrame)
    return frames


@pytest.mark.parametrize("name", ["h264_aac.flv", "h264_aac.ts", "hevc_aac.ts"])
def test_audio_and_video_cut_by_the_rules_and_decode(name: str, inputs: Inputs,
                                                     tmp_path: Path) -> None:
    out = segment(inputs(name), _container(name))
    (init,) = out.inits
    assert init.info.resolution == (320, 240)
    assert init.info.frame_rate == 25
    assert init.info.bandwidth and 50_000 < init.info.bandwidth < 5_000_000
    video_codec = "hvc1." if "hevc" in name else "avc1."
    assert init.info.codecs.startswith(video_codec) and init.info.codecs.endswith(",mp4a.40.2")
    assert init.part_target == PART
    check_rules(out, target=2, video=True)
    check_timeline(out, video=True)
    # A keyframe a second: segments of 2 s starting on them, then what is left (less
    # MPEG-TS's last frame, which might have been cut short).
    last = 1.0 if name.endswith(".flv") else 0.96
    assert [round(s.duration, 3) for s in out.segments()] == [2.0, last]
    # 12 + 12 + 12 + 12 + 2 frames, then 12 + 12 (+ 1)
    assert [len(s.parts) for s in out.segments()] == [5, 3 if name.endswith(".flv") else 2]
    assert check_decodes(out, tmp_path) == round((2 + last) * FPS)


def _descriptor(data: bytes, at: int) -> tuple[int, int, int]:
    """(tag, payload start, end) of an MPEG-4 descriptor (ISO/IEC 14496-1 7.2.2): a tag
    byte, then a size in 7-bit groups."""
    tag, at, size = data[at], at + 1, 0
    while True:
        byte, at = data[at], at + 1
        size = size << 7 | byte & 0x7F
        if not byte & 0x80:
            return tag, at, at + size


def audio_specific_config(init: bytes) -> bytes:
    """The DecoderSpecificInfo of the init's esds: ES_Descriptor (tag 3) >
    DecoderConfigDescriptor (4) > DecoderSpecificInfo (5), ISO/IEC 14496-1 7.2.6."""
    box = init.index(b"esds") - 4
    end = box + int.from_bytes(init[box: box + 4], "big")
    tag, at, _ = _descriptor(init, box + 12)  # size, type, version and flags
    assert tag == 3
    flags = init[at + 2]
    at += 3 + (2 if flags & 0x80 else 0) + (2 if flags & 0x20 else 0)
    if flags & 0x40:
        at += 1 + init[at]
    tag, at, config_end = _descriptor(init, at)
    assert tag == 4 and init[at] == 0x40  # MPEG-4 audio
    at += 13
    if at >= config_end:
        return b""  # no DecoderSpecificInfo
    tag, at, info_end = _descriptor(init, at)
    assert tag == 5 and info_end <= end
    return init[at:info_end]


@pytest.mark.parametrize("joined", [False, True], ids=["from-the-start", "joined-mid-gop"])
def test_aac_from_mpegts_has_its_config_in_the_init_and_raw_frames(
        joined: bool, inputs: Inputs, tmp_path: Path) -> None:
    """MPEG-TS carries AAC as ADTS, its configuration in each frame's header: the init
    holds it as the esds's AudioSpecificConfig, which Chromium's MSE needs (hls.js says
    the codec as ``mp4a.40.<object type>`` from it), even when the first ADTS frames
    come before the first keyframe and are left out; the samples are raw AAC frames."""
    source = inputs("h264_aac_audio_first.ts")
    if joined:  # a publisher joined mid-GOP: audio and video frames before a keyframe
        data = source.read_bytes()
        source = tmp_path / "joined.ts"
        source.write_bytes(data[len(data) // 3 // 188 * 188:])
    out = segment(source, "mpegts")
    (init,) = out.inits
    config = audio_specific_config(init.data)
    assert len(config) == 2, config.hex()
    assert config[0] >> 3 == 2  # AAC-LC
    assert (config[0] & 0x07) << 1 | config[1] >> 7 == 3  # 48 kHz
    assert (config[1] >> 3) & 0x0F == 2  # stereo
    assert init.info.codecs.startswith("avc1.") and init.info.codecs.endswith(",mp4a.40.2")
    first = out.parts[0]
    with av.open(io.BytesIO(init.data + first.data), "r") as container:
        audio = container.streams.audio[0]
        assert bytes(audio.codec_context.extradata or b"") == config
        sample = next(bytes(p) for p in container.demux(audio) if p.size)
    assert not (sample[0] == 0xFF and sample[1] & 0xF0 == 0xF0), "an ADTS header"
    assert check_decodes(out, tmp_path) > 0


def test_hevc_is_hvc1_with_its_parameter_sets_in_the_init(inputs: Inputs) -> None:
    from hlsd.media._fmp4 import read_init

    out = segment(inputs("hevc_aac.ts"), "mpegts")
    video = read_init(out.inits[0].data)[0]
    assert video.entry == b"hvc1" and video.config[0] == 1  # hvcC with its arrays


@pytest.mark.parametrize("name", ["aac.ts", "aac.flv"])
def test_audio_alone_is_cut_every_segment_duration(name: str, inputs: Inputs,
                                                   tmp_path: Path) -> None:
    out = segment(inputs(name), _container(name))
    (init,) = out.inits
    assert init.info.codecs == "mp4a.40.2" and init.info.resolution is None
    check_rules(out, target=2, video=False)
    check_timeline(out, video=False)
    assert all(p.independent for p in out.parts)
    durations = [s.duration for s in out.segments()]
    # Whole parts, as many as the target duration holds.
    assert 2.0 - init.part_target < durations[0] <= 2.0 and abs(sum(durations) - 3.0) < 0.05
    check_decodes(out, tmp_path)


def test_video_alone(inputs: Inputs, tmp_path: Path) -> None:
    out = segment(inputs("h264.flv"), "flv")
    assert out.inits[0].info.codecs.startswith("avc1.") and "," not in out.inits[0].info.codecs
    check_rules(out, target=2, video=True)
    check_timeline(out, video=True)
    assert check_decodes(out, tmp_path) == 3 * FPS


@pytest.mark.parametrize(("name", "codec"), [("h264_opus.ts", ",opus"),
                                              ("h264_mp3.flv", ",mp4a.40.34")])
def test_opus_and_mp3_are_carried(name: str, codec: str, inputs: Inputs,
                                  tmp_path: Path) -> None:
    out = segment(inputs(name), _container(name))
    assert out.inits[0].info.codecs.endswith(codec)
    check_rules(out, target=2, video=True)
    check_timeline(out, video=True)
    assert check_decodes(out, tmp_path) == 3 * FPS - name.endswith(".ts")  # as above


def test_av1_from_enhanced_flv(inputs: Inputs, tmp_path: Path) -> None:
    out = segment(inputs("av1.flv"), "flv")
    assert out.inits[0].info.codecs.startswith("av01.0.")
    check_rules(out, target=2, video=True)
    mp4 = tmp_path / "av1.mp4"
    mp4.write_bytes(out.inits[0].data + b"".join(p.data for p in out.parts))
    assert fx.decode_errors(str(mp4)) == ""
    with pytest.raises(MediaRefused, match="AV1"):
        cmaf_to_ts(out.inits[0].data, out.parts[0].data)


def test_the_target_duration_spans_whole_gops(inputs: Inputs, tmp_path: Path) -> None:
    """Keyframes every 2 s and segments asked of 1 s: the first GOP is held back to learn
    that segments will last 2 s, and the target says so before the first part."""
    out = segment(inputs("gop2s.flv"), "flv", segment_duration=1.0)
    assert isinstance(out.events[0], CmafInit) and out.events[0].target_duration == 2
    check_rules(out, target=2, video=True)
    assert [round(s.duration, 3) for s in out.segments()] == [2.0, 2.0]
    assert check_decodes(out, tmp_path) == 4 * FPS


def test_a_gop_longer_than_the_target_is_cut_where_it_must(inputs: Inputs,
                                                           tmp_path: Path) -> None:
    """Keyframes every 3 s, at most 1.5 s waited for the second: target 2, and segments
    that reach it end at a frame that is not a keyframe (a part not independent)."""
    out = segment(inputs("gop3s.ts"), "mpegts", segment_duration=1.0, max_gop_seconds=1.5)
    assert out.inits[0].target_duration == 2
    segments = out.segments()
    assert all(s.duration <= 2 + 1e-9 for s in segments)
    assert [s.parts[0].independent for s in segments] == [True, False, True]
    assert [round(s.duration, 2) for s in segments] == [2.0, 1.0, 0.96]
    check_timeline(out, video=True)
    for seg in segments[:1] + segments[2:]:  # those that start on a keyframe play alone
        (tmp_path / "s.mp4").write_bytes(seg.init.data + seg.data)
        assert fx.decode_errors(str(tmp_path / "s.mp4")) == ""


def test_timestamps_that_reset_keep_the_output_running_on(inputs: Inputs,
                                                          tmp_path: Path) -> None:
    """An encoder restarted without reconnecting: the same TS twice, its timestamps going
    back to the start. Decode times run on, a segment starts at the restart."""
    once = inputs("h264_aac.ts").read_bytes()
    twice = tmp_path / "twice.ts"
    twice.write_bytes(once + once)
    out = segment(twice, "mpegts")
    check_rules(out, target=2, video=True)
    check_timeline(out, video=True)
    starts = []
    at = 0.0
    for seg in out.segments():
        starts.append(round(at, 2))
        at += seg.duration
    assert 3.0 in starts or 3.04 in starts  # the restart (its audio may lead by a frame)
    assert abs(at - 6.0) < 0.1
    # The frame before the restart is marked damaged by the counters' jump, and the last
    # one might be cut short: both left out.
    assert check_decodes(out, tmp_path) == 6 * FPS - 2


def test_new_parameter_sets_make_a_new_init(inputs: Inputs, tmp_path: Path) -> None:
    """The picture size changes mid-stream (MPEG-TS: new SPS at a keyframe): a new init
    with the new resolution, the next part starting a segment; all of it decodes."""
    joined = tmp_path / "joined.ts"
    joined.write_bytes(inputs("h264_aac.ts").read_bytes() + inputs("h264_big.ts").read_bytes())
    out = segment(joined, "mpegts")
    assert [i.info.resolution for i in out.inits] == [(320, 240), (640, 360)]
    after = out.events[out.events.index(out.inits[1]) + 1]
    assert isinstance(after, CmafPart) and after.starts_segment
    check_timeline(out, video=True)
    assert check_decodes(out, tmp_path) == 5 * FPS - 2  # as above


@pytest.mark.parametrize("name", ["h264_aac.flv", "h264_aac.ts"])
@pytest.mark.parametrize("keep", [0.4, 0.63, 0.81])
def test_a_truncated_input_ends_with_what_was_whole(name: str, keep: float, inputs: Inputs,
                                                    tmp_path: Path) -> None:
    cut = fx.truncated(inputs(name), tmp_path / name, keep=keep)
    out = segment(cut, _container(name))
    check_rules(out, target=2, video=True)
    assert 0.5 < sum(p.duration for p in out.parts) < 3.0
    check_decodes(out, tmp_path)  # clean: no frame cut short


@pytest.mark.parametrize("container", ["flv", "mpegts"])
def test_garbage_is_refused(container: str, tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(bytes(range(256)) * 2000)
    with pytest.raises(MediaRefused):
        segment(junk, container)


@pytest.mark.parametrize(("name", "named"), [("mpeg2.ts", "mpeg2video"), ("mp2.ts", "mp2")])
def test_an_unsupported_codec_is_refused_by_name(name: str, named: str,
                                                 inputs: Inputs) -> None:
    with pytest.raises(MediaRefused, match=named) as refused:
        segment(inputs(name), "mpegts")
    assert "H.264" in refused.value.message or "AAC" in refused.value.message


async def test_fed_through_a_byte_pipe_as_bytes_arrive(inputs: Inputs) -> None:
    """The integrator's shape: an asyncio task writes the bytes into a small pipe, the
    segmenter reads them in a thread. Same parts as from the file; each part dated by
    the wall clock when its first frame came."""
    data = inputs("h264_aac.ts").read_bytes()
    ticks = iter(range(10**9))
    base = datetime(2030, 1, 1, tzinfo=UTC)

    def clock() -> datetime:
        return base + timedelta(seconds=next(ticks))

    pipe = BytePipe(16 * 1024)
    out = Collected()

    def read_all() -> None:
        try:
            segment_stream(pipe, container="mpegts", segment_duration=SEGMENT,
                           part_duration=PART, output=out, wall_clock=clock)
        finally:
            pipe.abort("segmenter ended")

    reader = asyncio.create_task(asyncio.to_thread(read_all))
    for at in range(0, len(data), 1316):  # SRT's payload: 7 TS packets
        await pipe.write(data[at: at + 1316])
        assert pipe.unread <= 16 * 1024
    pipe.close()
    await reader
    from_file = segment(inputs("h264_aac.ts"), "mpegts")
    assert [p.data for p in out.parts] == [p.data for p in from_file.parts]
    # Dated by the read that brought each part's first bytes (a tick of this clock).
    arrived = [p.arrived for p in out.parts]
    assert arrived == sorted(arrived) and base <= arrived[0] < arrived[-1]


@pytest.mark.parametrize("name", ["h264_aac.flv", "h264_aac.ts"])
def test_damaged_bytes_mid_stream_are_got_over(name: str, inputs: Inputs,
                                               tmp_path: Path) -> None:
    """5 kB of noise in the middle (a glitch on the wire): the demuxer finds its feet
    again, the segmenter carries on and keeps the rules."""
    data = inputs(name).read_bytes()
    noisy = tmp_path / name
    middle = len(data) // 2 // 188 * 188
    noisy.write_bytes(data[:middle] + bytes((n * 7919) % 251 for n in range(5000))
                      + data[middle:])
    out = segment(noisy, _container(name))
    check_rules(out, target=2, video=True)
    check_timeline(out, video=True)
    assert 2.5 < sum(p.duration for p in out.parts) <= 3.0


def _audio_seconds(collected: Collected) -> float:
    """Seconds of audio (track 2) the parts carry, at 48 kHz."""
    return sum(sum(f.runs[2].durations) for _, f in runs(collected) if 2 in f.runs) / 48000


def _check_tracks_run_on(collected: Collected) -> None:
    """Video's decode times run on exactly from 0; audio's, once it has started, never go
    back and leave no gap of more than a frame."""
    ends: dict[int, int] = {}
    for _, fragment in runs(collected):
        for track_id, run in fragment.runs.items():
            if track_id == 1:
                assert run.tfdt == ends.get(1, 0)
            elif track_id in ends:
                assert 0 <= run.tfdt - ends[track_id] < 1024
            ends[track_id] = run.end


def test_audio_starting_after_the_probe_is_described_by_its_first_frame(
        inputs: Inputs, tmp_path: Path) -> None:
    """The probe saw no audio frame (no sample rate, no configuration) but the first GOP
    has some: the first frame tells them, and the one init carries both tracks. Every
    ADTS frame of a PES is kept, though only the first has a timestamp."""
    out = segment(inputs("h264_aac_from_0.5s.ts"), "mpegts")
    (init,) = out.inits
    assert init.info.codecs.startswith("avc1.") and init.info.codecs.endswith(",mp4a.40.2")
    config = audio_specific_config(init.data)
    assert len(config) == 2 and (config[0] & 0x07) << 1 | config[1] >> 7 == 3  # 48 kHz
    check_rules(out, target=2, video=True)
    _check_tracks_run_on(out)
    first_audio = next(f.runs[2] for _, f in runs(out) if 2 in f.runs)
    # At 0.5 s of the picture, whose decode times start two B-frames earlier.
    assert abs(first_audio.tfdt / 48000 - (0.5 + 2 / FPS)) < 0.03
    assert 4.4 < _audio_seconds(out) <= 4.5  # 0.5 s to 5 s (less the last frame or so)
    assert check_decodes(out, tmp_path) == 5 * FPS - 1  # MPEG-TS's last frame left out


def test_audio_starting_after_the_first_gop_joins_at_a_keyframe_with_a_new_init(
        inputs: Inputs, tmp_path: Path) -> None:
    """What MediaMTX and SRS do with a track whose parameters are not known yet: the
    stream starts with the video alone; when the audio's first frame tells its
    parameters, a new init carries both tracks from the next keyframe, which starts a
    segment (after a discontinuity, for players)."""
    from hlsd.media._fmp4 import read_init

    out = segment(inputs("h264_aac_from_1.5s.ts"), "mpegts")
    video, both = out.inits
    assert [t.handler for t in read_init(video.data)] == [b"vide"]
    assert [t.handler for t in read_init(both.data)] == [b"vide", b"soun"]
    assert video.info.codecs.startswith("avc1.") and "," not in video.info.codecs
    assert both.info.codecs == video.info.codecs + ",mp4a.40.2"
    assert both.info.resolution == video.info.resolution == (320, 240)
    assert both.target_duration == video.target_duration == 2
    assert both.part_target == video.part_target
    config = audio_specific_config(both.data)
    assert len(config) == 2, config.hex()
    assert config[0] >> 3 == 2 and (config[0] & 0x07) << 1 | config[1] >> 7 == 3  # LC, 48k
    joined = out.events.index(both)
    before, after = out.events[:joined], out.events[joined + 1:]
    assert all(2 not in f.runs for p in before if isinstance(p, CmafPart)
               for f in fragments(p.data))
    first = after[0]
    assert isinstance(first, CmafPart) and first.starts_segment and first.independent
    (fragment,) = fragments(first.data)
    # The audio joins at the keyframe (the first at or after 1.5 s), within a frame of it.
    video_start = fragment.runs[1].tfdt / 90000
    assert video_start == 2.0
    assert 0 <= fragment.runs[2].tfdt / 48000 - video_start < 1024 / 48000
    check_rules(out, target=2, video=True)
    _check_tracks_run_on(out)
    assert 2.9 < _audio_seconds(out) <= 3.0  # from the keyframe at 2 s to the end
    assert check_decodes(out, tmp_path) == 5 * FPS - 1
    # The new init and what follows it, audio and video, decode clean in one go.
    stream = tmp_path / "joined.mp4"
    stream.write_bytes(both.data + b"".join(p.data for p in after if isinstance(p, CmafPart)))
    assert fx.decode_errors(str(stream), every_stream=True) == ""
    with av.open(str(stream)) as container:
        samples = sum(frame.samples for frame in container.decode(audio=0))
    assert samples / 48000 > 2.9


def _noise_for_audio(data: bytes, pid: int = 0x101) -> bytes:
    """The TS with each AAC frame of `pid` (ffmpeg's second stream) keeping its ADTS
    header and its PES timing but carrying bytes no decoder takes: coupling channel
    elements a mono stream never allocates."""
    out = bytearray(data)

    def spoil(payload: list[int]) -> None:  # one PES: its bytes' places in the file
        at = 9 + out[payload[8]]  # past the PES header
        while at + 7 <= len(payload):
            head = [out[payload[at + k]] for k in range(7)]
            size = (head[3] & 3) << 11 | head[4] << 3 | head[5] >> 5
            for k in range(at + (7 if head[1] & 1 else 9), min(at + size, len(payload))):
                out[payload[k]] = 0x5F  # element id 2 (CCE), tag 15
            at += max(size, 7)

    payload: list[int] = []
    for at in range(0, len(out) - 187, 188):
        if (out[at + 1] & 0x1F) << 8 | out[at + 2] != pid or not out[at + 3] & 0x10:
            continue
        if out[at + 1] & 0x40 and payload:  # a new PES starts
            spoil(payload)
            payload = []
        start = at + 4 + (1 + out[at + 4] if out[at + 3] & 0x20 else 0)
        payload.extend(range(start, at + 188))
    if payload:
        spoil(payload)
    return bytes(out)


def test_late_audio_that_never_decodes_is_left_out_with_one_warning(
        inputs: Inputs, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The fallback: a late track whose frames never tell its parameters stays out (one
    warning); the video goes on, never an error."""
    spoiled = tmp_path / "spoiled.ts"
    spoiled.write_bytes(_noise_for_audio(inputs("h264_aac_from_1.5s.ts").read_bytes()))
    with caplog.at_level("WARNING", logger="hlsd.media._live_run"):
        out = segment(spoiled, "mpegts")
    (init,) = out.inits
    assert "," not in init.info.codecs
    assert all(set(f.runs) == {1} for _, f in runs(out))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "audio track is left out" in warnings[0], warnings
    check_rules(out, target=2, video=True)
    assert check_decodes(out, tmp_path) == 5 * FPS - 1


def test_late_audio_after_the_input_jumped_keeps_in_step_with_the_video(
        inputs: Inputs, tmp_path: Path) -> None:
    """The encoder restarted (its timestamps back to the start) before its audio began:
    the audio's first times take the correction the video's took, so it joins in step
    with the picture rather than seconds behind it."""
    silent = _make(tmp_path / "silent.ts", "-f", "lavfi", "-i", f"{_TESTSRC}:duration=3",
                   "-itsoffset", "8", "-f", "lavfi", "-i", f"{_SINE}:duration=0.5",
                   *_X264, *_AAC, "-f", "mpegts").read_bytes()
    # Its audio stream is declared, but cut off before its first PES (PID 0x101).
    cut = next(at for at in range(0, len(silent), 188)
               if (silent[at + 1] & 0x1F) << 8 | silent[at + 2] == 0x101
               and silent[at + 1] & 0x40)
    restarted = tmp_path / "restarted.ts"
    restarted.write_bytes(silent[:cut] + inputs("h264_aac_from_1.5s.ts").read_bytes())
    out = segment(restarted, "mpegts")
    assert [i.info.codecs.endswith(",mp4a.40.2") for i in out.inits] == [False, True]
    _check_tracks_run_on(out)
    assert 2.9 < _audio_seconds(out) <= 3.0
    for _, fragment in runs(out):
        if 2 in fragment.runs:
            assert abs(fragment.runs[2].tfdt / 48000 - fragment.runs[1].tfdt / 90000) < 0.3
    assert check_decodes(out, tmp_path) == 8 * FPS - 2  # the frame before the restart too
