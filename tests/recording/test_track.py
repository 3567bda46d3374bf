from __future__ import annotations

from datetime import UTC, datetime

from hlsd.recording._track import Track
from hlsd.streams import InitSegment, Segment
from hlsd.streams.rendition import LiveRendition


def segment(sequence: int, *, discontinuity: bool = False) -> Segment:
    return Segment(sequence=sequence, name=f"s-{sequence}.ts", duration=1.0, size=1,
                   program_date_time=datetime(2026, 1, 1, tzinfo=UTC), data=b"x",
                   discontinuity=discontinuity)


def rendition() -> LiveRendition:
    return LiveRendition(name="", session="s", window=3)


def stored(track: Track, where: LiveRendition, seg: Segment) -> tuple[int, bool]:
    placed = track.place(where, seg)
    track.advance(where, seg)
    return placed


def test_contiguous_segments_follow_on() -> None:
    track, where = Track(position=0), rendition()
    assert [stored(track, where, segment(n)) for n in (5, 6, 7)] == [
        (0, False), (1, False), (2, False)]


def test_a_gap_another_rendition_or_a_flagged_segment_is_a_discontinuity() -> None:
    track, where = Track(position=0), rendition()
    stored(track, where, segment(1))
    assert stored(track, where, segment(3)) == (1, True)  # a segment went missing
    assert stored(track, rendition(), segment(4)) == (2, True)  # a new stream object
    assert track.place(where, segment(5, discontinuity=True)) == (3, True)


def test_a_lost_segment_breaks_the_run() -> None:
    track, where = Track(position=0), rendition()
    stored(track, where, segment(1))
    track.broken()
    assert stored(track, where, segment(2)) == (1, True)
    assert stored(track, where, segment(3)) == (2, False)


def test_a_track_carried_over_a_restart_starts_with_a_discontinuity() -> None:
    track = Track(position=1, next_sequence=40)
    assert track.place(rendition(), segment(0)) == (40, True)


def test_init_keys_are_named_by_content() -> None:
    track = Track(position=0)
    a = track.init_key("rec/0/", InitSegment(name="s-init.mp4", data=b"moov-a"))
    b = Track(position=0).init_key("rec/0/", InitSegment(name="t-init.mp4", data=b"moov-a"))
    c = track.init_key("rec/0/", InitSegment(name="u-init.mp4", data=b"moov-c"))
    assert a == b != c and a.startswith("rec/0/init-") and a.endswith(".mp4")


async def test_an_init_section_is_put_once_per_track() -> None:
    track = Track(position=0)
    puts: list[str] = []

    async def put(key: str, data: bytes, content_type: str) -> None:
        puts.append(key)

    init = InitSegment(name="s-init.mp4", data=b"moov-a")
    first = await track.store_init("rec/0/", init, put)
    assert await track.store_init("rec/0/", init, put) == first
    assert puts == [first]
