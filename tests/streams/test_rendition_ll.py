"""A rendition fed parts: its Low-Latency playlist (rfc8216bis), rendered once per change,
its delta updates, what blocking reloads ask of it, and the parts the playlist could
not list. The stream's clock is a fake one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import m3u8
import pytest

from hlsd.hls.check import assert_valid
from hlsd.streams import ChangeSignal, PartRefused, Skipping
from hlsd.streams.rendition import LiveRendition, SegmentTooLong
from hlsd.streams.stream import PublisherKind, Stream
from tests._support.clock import FakeClock

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
PART = 0.25


class Feeder:
    """Parts of `PART` seconds, `per_segment` to a segment, the first independent."""

    def __init__(self, r: LiveRendition, clock: FakeClock, per_segment: int = 4) -> None:
        self.r, self.clock, self.per_segment = r, clock, per_segment
        self.at = T0
        self.count = 0

    def part(self, *, independent: bool | None = None, duration: float = PART) -> None:
        first = self.r.open_segment is None
        self.clock.advance(duration)
        self.r.append_part(duration=duration, data=bytes([self.count % 256]) * 100,
                           program_date_time=self.at, extension="m4s",
                           independent=first if independent is None else independent,
                           target_duration=1, part_target=PART)
        self.at += timedelta(seconds=duration)
        self.count += 1

    def segments(self, n: int) -> None:
        for _ in range(n):
            for _ in range(self.per_segment):
                self.part()
            self.r.close_segment()


def text_of(r: LiveRendition, skip: Skipping = Skipping.NONE) -> str:
    rendered = r.playlist(skip)
    assert rendered is not None
    return rendered.body.decode()


def test_the_low_latency_playlist() -> None:
    clock = FakeClock()
    r = LiveRendition(name="", session="s1", window=6, clock=clock)
    r.set_init("init.mp4", b"init")
    feed = Feeder(r, clock)
    feed.segments(5)  # 0..4, 1 s each
    feed.part()
    feed.part()  # segment 5 open with two parts
    text = text_of(r)
    assert_valid(text, live=True)
    lines = text.splitlines()
    assert "#EXT-X-PART-INF:PART-TARGET=0.25" in lines
    assert ("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=6,"
            "CAN-SKIP-DATERANGES=YES,HOLD-BACK=3,PART-HOLD-BACK=0.75") in lines
    parsed = m3u8.loads(text)
    # Classic players see whole segments only (m3u8 reads the open one's parts as a
    # segment without a URI).
    assert [s.uri for s in parsed.segments if s.uri] == [f"s1-{n}.m4s" for n in range(5)]
    assert "#EXTINF:1," in lines and lines.count("#EXTINF:1,") == 5
    # Parts are listed while they end within three target durations of the end (5.5 s,
    # the open segment's parts included): from the second part of segment 2 on.
    parts = [line for line in lines if line.startswith("#EXT-X-PART:")]
    assert parts[0] == '#EXT-X-PART:DURATION=0.25,URI="s1-p9.m4s"'
    assert len(parts) == 11 + 2
    assert lines.index(parts[0]) > lines.index("s1-1.m4s")
    # The open segment: its time, then its parts, then the hint for the next part.
    pdt = lines.index("#EXT-X-PROGRAM-DATE-TIME:2026-12-06T12:00:05.000Z")
    assert lines[pdt + 1:] == [
        '#EXT-X-PART:DURATION=0.25,INDEPENDENT=YES,URI="s1-p20.m4s"',
        '#EXT-X-PART:DURATION=0.25,URI="s1-p21.m4s"',
        '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="s1-p22.m4s"']


def test_rendered_once_per_change_and_the_hint_is_right_either_way() -> None:
    clock = FakeClock()
    r = LiveRendition(name="", session="s1", window=6, clock=clock)
    feed = Feeder(r, clock)
    feed.segments(1)
    first = r.playlist()
    assert r.playlist() is first  # no change, no render
    version = r.changes.version
    hinted = r.next_part_name
    feed.part()
    assert r.changes.version == version + 1 and r.playlist() is not first
    assert r.open_segment is not None and r.open_segment.parts[-1].name == hinted
    # Whether the segment closes before the next part or not, the hint holds.
    hinted = r.next_part_name
    r.close_segment()
    assert r.next_part_name == hinted and f'URI="{hinted}"' in text_of(r)
    feed.part()
    assert r.get_part(hinted) is not None


def test_whole_segments_keep_the_classic_playlist_byte_for_byte() -> None:
    clock = FakeClock()
    r = LiveRendition(name="", session="s1", window=3, clock=clock)
    r.append(duration=1.5, data=b"x", extension="ts", target_hint=2, program_date_time=T0)
    r.append(duration=2.0, data=b"x", extension="ts",
             program_date_time=T0 + timedelta(seconds=1.5))
    assert text_of(r) == (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-PROGRAM-DATE-TIME:2026-12-06T12:00:00.000Z\n"
        "#EXTINF:1.5,\ns1-0.ts\n#EXT-X-PROGRAM-DATE-TIME:2026-12-06T12:00:01.500Z\n"
        "#EXTINF:2,\ns1-1.ts\n")
    # Directives mean nothing to it.
    assert r.playlist(Skipping.YES) is r.playlist()


def test_a_delta_update_skips_what_ends_past_the_skip_boundary() -> None:
    clock = FakeClock()
    r = LiveRendition(name="", session="s1", window=12, clock=clock)
    feed = Feeder(r, clock)
    feed.segments(10)
    feed.part()
    full = text_of(r)
    delta = text_of(r, Skipping.YES)
    assert r.playlist(Skipping.YES) is r.playlist(Skipping.YES)  # cached per version
    # Segments 0-2 end more than 6 s (the Skip Boundary) before the last whole one
    # (10 s): skipped; segment 3 ends exactly 6 s before it: kept.
    assert "#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n" in delta and "#EXT-X-VERSION:9\n" in delta
    assert "s1-2.m4s" not in delta and "s1-3.m4s" in delta
    assert_valid(delta, live=True, previous=full)
    assert m3u8.loads(delta).media_sequence == m3u8.loads(full).media_sequence
    v2 = text_of(r, Skipping.V2)
    assert '#EXT-X-SKIP:SKIPPED-SEGMENTS=3,RECENTLY-REMOVED-DATERANGES=""\n' in v2
    assert "#EXT-X-VERSION:10\n" in v2
    # Nothing past the boundary yet: the whole playlist answers a delta request.
    young = LiveRendition(name="", session="s2", window=12, clock=clock)
    Feeder(young, clock).segments(6)
    assert young.playlist(Skipping.YES).body == young.playlist().body  # type: ignore[union-attr]
    r.end()  # a playlist with ENDLIST is never a delta update
    ended = text_of(r, Skipping.YES)
    assert "#EXT-X-SKIP" not in ended and "#EXT-X-ENDLIST" in ended
    assert "#EXT-X-PRELOAD-HINT" not in ended
    assert_valid(ended, live=False)


def test_what_blocking_reloads_ask_of_it() -> None:
    clock = FakeClock()
    r = LiveRendition(name="", session="s1", window=6, clock=clock)
    feed = Feeder(r, clock, per_segment=3)
    assert not r.has(0) and not r.has(0, 0) and r.last_part() is None
    feed.segments(2)
    feed.part()
    assert r.last_part() == (2, 0)
    assert r.has(1) and not r.has(2)  # segment 2 is not whole yet
    assert r.has(2, 0) and not r.has(2, 1)
    assert r.has(1, 7)  # past segment 1's last part: segment 2's first
    r.close_segment()
    assert r.has(2) and not r.has(2, 1) and r.last_part() == (2, 0)


def test_parts_the_playlist_could_not_list_are_refused() -> None:
    clock = FakeClock()
    r = LiveRendition(name="", session="s1", window=6, clock=clock)
    feed = Feeder(r, clock)
    feed.part()
    with pytest.raises(PartRefused, match="part target"):
        feed.part(duration=0.3)
    # The refusal ended the segment there; the next one waits for a keyframe.
    assert r.open_segment is None and len(r.segments) == 1
    with pytest.raises(PartRefused, match="keyframe"):
        feed.part(independent=False)
    feed.part(independent=True)
    assert r.open_segment is not None and r.open_segment.discontinuity
    feed.part(duration=0.1)  # short: only the last of its segment may be
    with pytest.raises(PartRefused, match="short"):
        feed.part(independent=False)
    assert len(r.segments) == 2 and r.segments[-1].duration == pytest.approx(0.35)
    feed.part(independent=True)
    feed.part(duration=0.1)
    feed.part(independent=True)  # a keyframe after a short part begins the next segment
    assert len(r.segments) == 3 and r.open_segment is not None
    for _ in range(4):  # 1.25 s: within 1 s as RFC 8216 rounds it
        feed.part(independent=False)
    with pytest.raises(SegmentTooLong):  # 1.5 s would round past the 1 s target
        feed.part(independent=False)
    assert_valid(text_of(r), live=True)


async def test_one_change_releases_every_waiter_together() -> None:
    signal = ChangeSignal()
    waiters = [asyncio.ensure_future(signal.wait(10)) for _ in range(50)]
    while signal.waiting < 50:
        await asyncio.sleep(0)
    signal.changed()
    assert await asyncio.gather(*waiters) == [True] * 50
    assert (signal.releases, signal.waiting, signal.version) == (1, 0, 1)
    assert await signal.wait(0.01) is False  # nothing changed: it times out


def test_a_multivariant_stream_reports_the_other_renditions() -> None:
    clock = FakeClock()
    stream = Stream("cam", publisher="p", kind=PublisherKind.RTMP, session="s1", window=6,
                    clock=clock)
    high, low = stream.rendition("high"), stream.rendition("low")
    Feeder(high, clock).segments(2)
    feed_low = Feeder(low, clock)
    feed_low.segments(2)
    feed_low.part()
    text = stream.media_playlist("high")
    assert text is not None
    assert ('#EXT-X-RENDITION-REPORT:URI="../low/index.m3u8",LAST-MSN=2,LAST-PART=0\n'
            in text.body.decode())
    assert_valid(text.body.decode(), live=True)
    assert stream.media_playlist("high") is text  # nothing changed
    feed_low.part()  # another rendition's part: this playlist's report changes
    again = stream.media_playlist("high")
    assert again is not text and "LAST-MSN=2,LAST-PART=1" in again.body.decode()  # type: ignore[union-attr]
    assert "low/index" not in stream.media_playlist("low").body.decode()  # type: ignore[union-attr]
