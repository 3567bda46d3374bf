"""Input timestamps to output decode times: rebased, never back, jumps closed up the
same way on every track."""

from __future__ import annotations

from fractions import Fraction

from hlsd.media._live_clock import Jumps, TrackClock

MS = Fraction(1, 1000)


def clock(jumps: Jumps, *, timescale: int = 90000, origin: float = 5.0,
          step: int = 3600) -> TrackClock:
    return TrackClock(time_base=MS, timescale=timescale, origin=Fraction(origin),
                      jumps=jumps, step=step)


def test_times_start_at_the_origin_in_the_track_s_timescale() -> None:
    video = clock(Jumps())
    assert video.place(5000, 5080) == (0, 7200, False)
    assert video.place(5040, 5240) == (3600, 18000, False)
    audio = clock(Jumps(), timescale=44100, step=1024)
    assert [audio.place(5000 + ms, 5000 + ms)[0] for ms in (0, 23, 46, 70)] == [
        0, 1014, 2029, 3087]


def test_a_small_step_back_is_absorbed_and_never_goes_back() -> None:
    video = clock(Jumps())
    video.place(5000, 5000)
    video.place(5040, 5040)
    assert video.place(5030, 5030) == (3601, 0, False)  # 10 ms back: just after the last


def test_a_reset_carries_on_where_the_track_was_and_the_other_track_follows() -> None:
    jumps = Jumps()
    video = clock(jumps)
    audio = clock(jumps, timescale=48000, step=1920)
    for n in range(50):
        video.place(5000 + 40 * n, 5000 + 40 * n)
        audio.place(5000 + 40 * n, 5000 + 40 * n)
    # The encoder restarts: both tracks at 0 ms, a moment apart.
    assert video.place(0, 0) == (50 * 3600, 0, True)
    after_video = video.place(40, 40)[0]
    assert audio.place(0, 0) == (50 * 1920, 0, True)
    assert jumps.count == 1  # one jump of the input, seen by both tracks
    assert after_video == 51 * 3600


def test_a_gap_below_a_second_stays_one_above_is_closed() -> None:
    video = clock(Jumps())
    video.place(5000, 5000)
    video.place(5040, 5040)
    assert video.place(5600, 5600) == (54000, 0, False)  # 560 ms of nothing: kept
    assert video.place(9000, 9000) == (54000 + 3600, 0, True)  # 3.4 s: a frame later
