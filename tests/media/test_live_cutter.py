"""Where the live segmenter cuts, on synthetic timed samples (no media): 25 fps video at
90 kHz, AAC at 48 kHz."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from hlsd.media._live_cutter import Cut, Cutter, Limits, Sample
from hlsd.media._live_model import MediaRefused

FRAME = 3600  # 40 ms at 90 kHz
AAC = 1024  # samples at 48 kHz
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def cutter(*, part: float = 0.5, segment: float = 2.0, target: int = 2,
           audio: bool = False) -> Cutter:
    scales = [90000, 48000] if audio else [90000]
    return Cutter(timescales=scales, nominal=[FRAME, AAC][: len(scales)], leader=0,
                  limits=Limits(part=round(part * 90000), segment=round(segment * 90000),
                                target=target * 90000, backlog=5.0))


def frame(dts: int, key: bool = False, size: int = 100) -> Sample:
    return Sample(dts=dts, cts=0, key=key, size=size, chunks=[b"v" * size], arrived=T0)


def video(count: int, gop: int = 25, durations: dict[int, int] | None = None
          ) -> list[Sample]:
    samples, dts = [], 0
    for n in range(count):
        samples.append(frame(dts, key=n % gop == 0))
        dts += (durations or {}).get(n, FRAME)
    return samples


def run(c: Cutter, samples: list[tuple[int, Sample]]) -> list[Cut]:
    cuts: list[Cut] = []
    for track, sample in samples:
        cuts += c.push(track, sample)
    return cuts + c.flush()


def segments(cuts: list[Cut]) -> list[list[Cut]]:
    found: list[list[Cut]] = []
    for cut in cuts:
        if cut.starts_segment:
            found.append([])
        found[-1].append(cut)
    return found


def test_parts_fill_the_part_target_and_segments_end_on_keyframes() -> None:
    cuts = run(cutter(), [(0, s) for s in video(125)])
    assert [[len(c.tracks[0]) for c in seg] for seg in segments(cuts)] == [
        [12, 12, 12, 12, 2], [12, 12, 12, 12, 2], [12, 12, 1]]
    assert all(c.duration <= 45000 for c in cuts)
    assert [c.independent for c in cuts if c.starts_segment] == [True, True, True]
    assert [c.tracks[0][0].dts for c in cuts if c.starts_segment] == [0, 180000, 360000]
    assert sum(c.duration for c in cuts) == 125 * FRAME


def test_a_frame_longer_than_the_last_one_closes_the_part_without_it() -> None:
    """Frame 10 lasts 5 frames: taking it would pass the part target, learnt only when
    frame 11 arrives; the part is closed before it."""
    cuts = run(cutter(), [(0, s) for s in video(40, durations={10: 5 * FRAME})])
    assert all(c.duration <= 45000 for c in cuts)
    assert [len(c.tracks[0]) for c in cuts][:2] == [10, 8]
    assert sum(c.duration for c in cuts) == 44 * FRAME


def test_a_segment_never_passes_the_target_even_between_keyframes() -> None:
    """Keyframes every 3 s, target 2: a segment ends at 2 s on a frame that is not a
    keyframe, and its part says it is not independent."""
    cuts = run(cutter(segment=1.0), [(0, s) for s in video(150, gop=75)])
    starts = [c for c in cuts if c.starts_segment]
    assert [c.tracks[0][0].dts / 90000 for c in starts] == [0, 2, 3, 5]
    assert [c.independent for c in starts] == [True, False, True, False]
    assert all(sum(c.duration for c in seg) <= 180000 for seg in segments(cuts))


def test_a_jump_starts_a_segment_at_the_next_keyframe() -> None:
    c = cutter()
    samples = video(75)
    cuts: list[Cut] = []
    for n, sample in enumerate(samples):
        if n == 30:
            c.segment_at_next_key()
        cuts += c.push(0, sample)
    cuts += c.flush()
    assert [c.tracks[0][0].dts // FRAME for c in cuts if c.starts_segment] == [0, 50]
    c = cutter()
    cuts = []
    for n, sample in enumerate(video(75)):
        if n == 20:
            c.segment_at_next_key()
        cuts += c.push(0, sample)
    assert [c.tracks[0][0].dts // FRAME for c in cuts if c.starts_segment] == [0, 25]


def test_audio_goes_with_the_part_it_starts_in_and_runs_on() -> None:
    c = cutter(audio=True)
    events: list[tuple[float, int, Sample]] = [
        (s.dts / 90000, 0, s) for s in video(100)]
    events += [(n * AAC / 48000 - 0.03, 1, Sample(dts=n * AAC, cts=0, key=True, size=10,
                                                  chunks=[b"a" * 10], arrived=T0))
               for n in range(188)]  # audio muxed 30 ms ahead of the picture
    events.sort(key=lambda e: e[0])
    cuts = run(c, [(track, sample) for _, track, sample in events])
    end = 0
    for cut in cuts[:-1]:
        limit = (cut.tracks[0][-1].dts + cut.tracks[0][-1].duration) * 48000 // 90000
        audio = cut.tracks[1]
        assert audio and audio[0].dts == end and all(s.dts < limit for s in audio)
        assert all(a.dts + a.duration == b.dts for a, b in itertools.pairwise(audio))
        end = audio[-1].dts + audio[-1].duration
    assert sum(len(cut.tracks[1]) for cut in cuts) == 188


def test_the_end_of_mpeg_ts_leaves_out_each_track_s_last_sample() -> None:
    c = cutter(audio=True)
    cuts: list[Cut] = []
    for sample in video(10):
        cuts += c.push(0, sample)
    for n in range(3):
        cuts += c.push(1, Sample(dts=n * AAC, cts=0, key=True, size=1, chunks=[b"a"],
                                 arrived=T0))
    (last,) = cuts + c.flush(drop_last=True)
    assert [len(t) for t in last.tracks] == [9, 2]


def test_audio_far_ahead_of_a_stalled_picture_is_refused() -> None:
    c = cutter(audio=True)
    c.push(0, frame(0, key=True))
    with pytest.raises(MediaRefused, match="video stopped"):
        for n in range(400):
            c.push(1, Sample(dts=n * AAC, cts=0, key=True, size=1, chunks=[b"a"], arrived=T0))


def test_whole_millisecond_timestamps_at_30_fps_still_cut_on_keyframes() -> None:
    """RTMP's timestamps are whole milliseconds: 30 fps frames come 33 or 34 ms apart,
    and the frame before a keyframe may seem to end a millisecond past the target. The
    segment must still end at the keyframe, not one frame before it."""
    step = 3000  # 1/30 s at 90 kHz, the usual frame
    c = Cutter(timescales=[90000], nominal=[step], leader=0,
               limits=Limits(part=6 * step + step // 2, segment=90000, target=90000,
                             backlog=5.0))
    samples = [frame(round(n * 1000 / 30) * 90, key=n % 30 == 0) for n in range(300)]
    cuts = run(c, [(0, s) for s in samples])
    found = segments(cuts)
    assert len(found) == 10
    for seg in found:
        assert seg[0].independent, [len(c.tracks[0]) for c in seg]
        assert sum(len(c.tracks[0]) for c in seg) == 30
