"""Segments that grow by parts (LL-HLS): numbered, timed and placed when their first
part comes, seen by the window and readers only whole; parts numbered across the
rendition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hlsd.hls.check import assert_valid
from hlsd.streams import OpenSegment, Segment
from hlsd.streams.rendition import LiveRendition, RenditionEnded, SegmentTooLong
from hlsd.streams.spill import SpillDir
from tests._support.clock import FakeClock

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _whole(r: LiveRendition, n: int, *, at: datetime = T0) -> Segment:
    return r.append(duration=2.0, data=bytes([n]) * 100, extension="m4s", target_hint=2,
                    program_date_time=at)


def test_an_open_segment_has_its_number_and_place_before_it_is_whole() -> None:
    committed: list[Segment] = []
    r = LiveRendition(name="", session="s1", window=3, clock=FakeClock(),
                      on_append=lambda rendition, segment: committed.append(segment))
    _whole(r, 0)
    r.mark_discontinuity()
    first = r.append_part(duration=0.5, data=b"a" * 10, independent=True, extension="m4s",
                          program_date_time=T0 + timedelta(seconds=2), part_target=0.5)
    second = r.append_part(duration=0.5, data=b"b" * 20, extension="m4s",
                           program_date_time=T0 + timedelta(seconds=9))  # ignored: not first
    opened = r.open_segment
    assert isinstance(opened, OpenSegment)
    assert (opened.sequence, opened.name, opened.discontinuity) == (1, "s1-1.m4s", True)
    assert opened.program_date_time == T0 + timedelta(seconds=2)
    assert [p.name for p in opened.parts] == ["s1-p0.m4s", "s1-p1.m4s"]
    assert [(p.number, p.index, p.offset, p.size) for p in opened.parts] == [
        (0, 0, 0, 10), (1, 1, 10, 20)]
    assert (first.independent, second.independent) == (True, False)
    assert opened.duration == 1.0 and opened.size == 30
    # Parts reach neither the window nor readers before their segment is whole.
    assert len(r.segments) == 1 and len(committed) == 1
    assert r.get_part("s1-p1.m4s") == (second, None) and second.data == b"b" * 20

    segment = r.close_segment()
    assert segment is not None and r.open_segment is None
    assert segment.data == b"a" * 10 + b"b" * 20 and segment.duration == 1.0
    assert segment.discontinuity and segment.sequence == 1
    assert [bytes(p.data or b"") for p in segment.parts] == [b"a" * 10, b"b" * 20]
    assert all(isinstance(p.data, memoryview) and p.data.obj is segment.data
               for p in segment.parts)  # views into the one shared bytes object
    assert committed[-1] is segment and r.segments[-1] is segment
    assert r.get("s1-1.m4s") is segment
    assert r.get_part("s1-p1.m4s") == (segment.parts[1], segment)
    text = r.playlist().body.decode()  # type: ignore[union-attr]
    assert "s1-1.m4s" in text and 'URI="s1-p0.m4s"' in text
    assert_valid(text, live=True)
    assert r.close_segment() is None  # nothing open


def test_the_first_part_fixes_the_target_and_no_segment_grows_past_it() -> None:
    r = LiveRendition(name="", session="s1", window=3)
    with pytest.raises(ValueError, match="target duration"):
        r.append_part(duration=0.2, data=b"x", extension="m4s", program_date_time=T0)
    with pytest.raises(ValueError, match="part target"):
        r.append_part(duration=0.2, data=b"x", extension="m4s", program_date_time=T0,
                      target_duration=2)
    assert r.open_segment is None
    for _ in range(12):  # 2.4 s: within 2 s as RFC 8216 rounds it
        r.append_part(duration=0.2, data=b"x", extension="m4s", program_date_time=T0,
                      target_duration=2, part_target=0.2)
    with pytest.raises(SegmentTooLong):
        r.append_part(duration=0.2, data=b"x", extension="m4s", program_date_time=T0,
                      target_duration=9, part_target=1.0)  # ignored: fixed already
    assert (r.target_duration, r.part_target) == (2, 0.2)
    # The full segment was closed where the refusal came.
    assert r.open_segment is None and [round(s.duration, 3) for s in r.segments] == [2.4]


def test_whole_segments_wait_for_the_open_one_and_the_end_closes_it() -> None:
    r = LiveRendition(name="", session="s1", window=3)
    r.append_part(duration=0.5, data=b"x", extension="m4s", program_date_time=T0,
                  target_duration=2, part_target=0.5)
    with pytest.raises(RuntimeError, match="open"):
        _whole(r, 1)
    r.end()  # what the publisher sent before it left is a (short) segment
    assert r.open_segment is None and [s.duration for s in r.segments] == [0.5]
    with pytest.raises(RenditionEnded):
        r.append_part(duration=0.5, data=b"x", extension="m4s", program_date_time=T0)


def test_a_takeover_mid_segment_commits_the_old_sessions_part_and_breaks() -> None:
    r = LiveRendition(name="", session="s1", window=3)
    r.append_part(duration=0.5, data=b"x", extension="m4s", program_date_time=T0,
                  target_duration=2, part_target=0.5)
    r.resume("s2")
    assert r.next_part_name == "s2-p1.m4s"  # numbering carries on, in the new session
    r.append_part(duration=0.5, data=b"y", extension="m4s",
                  program_date_time=T0 + timedelta(seconds=1))
    segment = r.close_segment()
    assert [s.name for s in r.segments] == ["s1-0.m4s", "s2-1.m4s"]
    assert segment is not None and segment.discontinuity
    assert [p.name for p in segment.parts] == ["s2-p1.m4s"]


def test_a_spilled_segment_lets_its_parts_go(tmp_path: Path) -> None:
    spill = SpillDir(tmp_path / "spill")
    r = LiveRendition(name="", session="s1", window=3, spill=spill, spill_folder="cam",
                      memory_limit=150)
    for n in range(3):
        for _ in range(2):
            r.append_part(duration=0.5, data=bytes([n]) * 50, extension="m4s",
                          program_date_time=T0 + timedelta(seconds=n), target_duration=2,
                          part_target=0.5)
        r.close_segment()
    old, newest = r.segments[0], r.segments[-1]
    assert old.data is None and old.read() == bytes([0]) * 100
    # Its parts keep their places in the file (still listed, still served from it).
    assert [(p.data, p.offset, p.size) for p in old.parts] == [(None, 0, 50), (None, 50, 50)]
    assert r.get_part(old.parts[1].name) == (old.parts[1], old)
    assert newest.data is not None and len(newest.parts) == 2
