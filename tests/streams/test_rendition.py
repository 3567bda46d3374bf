from datetime import UTC, datetime, timedelta

import m3u8
import pytest

from hlsd.hls.check import assert_valid
from hlsd.streams.rendition import LiveRendition, RenditionEnded, SegmentTooLong
from tests._support.clock import FakeClock

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _feed(r: LiveRendition, clock: FakeClock, n: int, *, start: int = 0, duration: float = 2.0,
          discontinuity_at: tuple[int, ...] = ()) -> None:
    for i in range(start, start + n):
        clock.now += duration
        r.append(duration=duration, data=b"x" * 1000, extension="ts", target_hint=2,
                 program_date_time=T0 + timedelta(seconds=i * duration),
                 discontinuity=i in discontinuity_at)


def test_the_window_slides_by_one_sequence_per_segment_and_keeps_the_rules() -> None:
    clock = FakeClock(100.0)
    r = LiveRendition(name="", session="s1", window=4, clock=clock)
    assert r.playlist() is None
    previous = None
    for i in range(12):
        _feed(r, clock, 1, start=i)
        text = r.playlist().body.decode()  # type: ignore[union-attr]
        assert_valid(text, live=True, previous=previous)
        previous = text
        parsed = m3u8.loads(text)
        assert parsed.media_sequence == max(0, i + 1 - 4)
        assert len(parsed.segments) == min(i + 1, 4)
        assert parsed.target_duration == 2 and not parsed.is_endlist
        assert all(s.program_date_time is not None for s in parsed.segments)


def test_discontinuity_sequence_counts_the_tags_that_left() -> None:
    clock = FakeClock(100.0)
    r = LiveRendition(name="", session="s1", window=3, clock=clock)
    _feed(r, clock, 10, discontinuity_at=(2, 5))
    assert r.media_sequence == 7 and r.discontinuity_sequence == 2
    r.mark_discontinuity()
    _feed(r, clock, 1, start=10)
    assert r.segments[-1].discontinuity
    assert_valid(r.playlist().body.decode(), live=True)  # type: ignore[union-attr]


def test_left_segments_stay_available_for_their_duration_plus_the_playlists() -> None:
    clock = FakeClock(100.0)
    r = LiveRendition(name="", session="s1", window=3, clock=clock)
    _feed(r, clock, 4)
    gone = "s1-0.ts"
    assert gone not in r.playlist().body.decode()  # type: ignore[union-attr]
    assert r.get(gone) is not None
    clock.now += 2 + 6 + 0.1
    assert r.get(gone) is None


def test_the_target_duration_never_changes_and_is_never_exceeded() -> None:
    clock = FakeClock(100.0)
    r = LiveRendition(name="", session="s1", window=3, clock=clock)
    _feed(r, clock, 3, duration=2.0)
    # RFC 8216 rounds halves up: 2.5 s needs a target of 3, which this one is not.
    assert r.fits(2.49) and not r.fits(2.5) and not r.fits(4.0)
    with pytest.raises(SegmentTooLong):
        _feed(r, clock, 1, start=3, duration=4.0)
    assert r.target_duration == 2
    assert_valid(r.playlist().body.decode(), live=True)  # type: ignore[union-attr]


def test_program_date_time_always_advances() -> None:
    clock = FakeClock(100.0)
    r = LiveRendition(name="", session="s1", window=3, clock=clock)
    for _ in range(3):
        r.append(duration=2.0, data=b"x", extension="ts", program_date_time=T0)
    times = [s.program_date_time for s in r.segments]
    assert times == sorted(set(times))
    assert_valid(r.playlist().body.decode(), live=True)  # type: ignore[union-attr]


def test_end_adds_endlist_and_refuses_more() -> None:
    clock = FakeClock(100.0)
    r = LiveRendition(name="", session="s1", window=3, clock=clock)
    _feed(r, clock, 3)
    r.end()
    text = r.playlist().body.decode()  # type: ignore[union-attr]
    assert "#EXT-X-ENDLIST" in text and "PLAYLIST-TYPE" not in text
    with pytest.raises(RenditionEnded):
        _feed(r, clock, 1, start=3)
    r.resume("s2")
    _feed(r, clock, 1, start=4)
    # The refused segment took no number.
    assert r.segments[-1].discontinuity and r.segments[-1].name == "s2-3.ts"


def test_init_sections_are_referenced_and_a_change_is_a_discontinuity() -> None:
    clock = FakeClock(100.0)
    r = LiveRendition(name="", session="s1", window=3, clock=clock)
    r.set_init("init.mp4", b"moov-1")
    _feed(r, clock, 2)
    r.set_init("init.mp4", b"moov-1")  # unchanged: nothing happens
    _feed(r, clock, 1, start=2)
    r.set_init("init.mp4", b"moov-2")
    _feed(r, clock, 1, start=3)
    text = r.playlist().body.decode()  # type: ignore[union-attr]
    assert text.count("#EXT-X-MAP") == 2 and r.segments[-1].discontinuity
    assert r.get("s1-init.mp4") is not None
    assert_valid(text, live=True)


def test_a_window_shorter_than_three_is_refused() -> None:
    with pytest.raises(ValueError):
        LiveRendition(name="", session="s", window=2)


def test_past_the_memory_bound_older_segments_spill_and_stay_fetchable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from hlsd.streams.spill import SpillDir

    clock = FakeClock(100.0)
    spill = SpillDir(tmp_path / "spill")
    r = LiveRendition(name="", session="s1", window=4, clock=clock, spill=spill,
                      spill_folder="cam/_", memory_limit=2500)
    for i in range(6):
        clock.now += 2
        r.append(duration=2.0, data=bytes([i]) * 1000, extension="ts",
                 program_date_time=T0 + timedelta(seconds=2 * i))
    assert r.memory <= 2500 and spill.bytes == 6000 - r.memory
    assert r.segments[-1].data is not None  # the newest stays in memory
    for i in range(6):
        seg = r.get(f"s1-{i}.ts")
        assert seg is not None and seg.read() == bytes([i]) * 1000  # type: ignore[union-attr]
    assert any(s.path is not None for s in r.segments)
    # Retired segments expire: their spill files go with them.
    clock.now += 100
    r.append(duration=2.0, data=b"x" * 10, extension="ts",
             program_date_time=T0 + timedelta(seconds=200))
    assert r.get("s1-0.ts") is None
    r.close()
    assert spill.bytes == 0 and r.memory == 0
    assert not [p for p in (tmp_path / "spill").rglob("*.ts")]


@pytest.mark.parametrize("duration", [0.0, 1e-300, 0.0004])
def test_segments_of_next_to_no_duration_keep_the_playlist_renderable(duration: float) -> None:
    start = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    r = LiveRendition(name="", session="s1", window=4)
    for _ in range(3):
        r.append(duration=duration, data=b"x", extension="ts", program_date_time=start)
    rendered = r.playlist()
    assert rendered is not None
    assert_valid(rendered.body.decode(), live=True)
