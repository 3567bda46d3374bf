"""Rendering the Low-Latency HLS tags (rfc8216bis §4.4.3.7-8, §4.4.4.9, §4.4.5.2-4):
their text, where they go, the versions they need and the MUSTs the renderer keeps."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hlsd.hls import (
    ByteRange,
    InitSection,
    MediaPlaylist,
    MediaSegment,
    PartialSegment,
    PartInf,
    PendingSegment,
    PreloadHint,
    PreloadHintType,
    RenditionReport,
    ServerControl,
    Skip,
    render_media,
)
from hlsd.hls.check import assert_valid

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
CONTROL = ServerControl(can_block_reload=True, can_skip_until=24.0,
                        can_skip_dateranges=True, hold_back=12.0, part_hold_back=1.5)


def part(uri: str, duration: float = 0.5, **kw: object) -> PartialSegment:
    return PartialSegment(uri=uri, duration=duration, **kw)  # type: ignore[arg-type]


def ll_playlist(**kw: object) -> MediaPlaylist:
    base = MediaPlaylist(
        target_duration=4, media_sequence=10, independent_segments=True,
        init=InitSection(uri="init.mp4"), part_inf=PartInf(part_target=0.5),
        server_control=CONTROL,
        segments=(
            MediaSegment(uri="s10.m4s", duration=4, program_date_time=T0),
            MediaSegment(uri="s11.m4s", duration=1.0,
                         program_date_time=T0 + timedelta(seconds=4),
                         parts=(part("p1.m4s", independent=True), part("p2.m4s"))),
        ),
        pending=PendingSegment(
            parts=(part("p3.m4s", independent=True), part("p4.m4s", 0.2)),
            discontinuity=True, init=InitSection(uri="init2.mp4"),
            program_date_time=T0 + timedelta(seconds=5)),
        preload_hints=(PreloadHint(uri="p5.m4s"),),
        rendition_reports=(RenditionReport(uri="../low/index.m3u8", last_msn=12,
                                           last_part=1),))
    return replace(base, **kw)  # type: ignore[arg-type]


def test_a_low_latency_playlist_text() -> None:
    text = render_media(ll_playlist())
    assert text == (
        "#EXTM3U\n"
        "#EXT-X-VERSION:6\n"
        "#EXT-X-TARGETDURATION:4\n"
        "#EXT-X-MEDIA-SEQUENCE:10\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\n"
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=24,"
        "CAN-SKIP-DATERANGES=YES,HOLD-BACK=12,PART-HOLD-BACK=1.5\n"
        "#EXT-X-PART-INF:PART-TARGET=0.5\n"
        '#EXT-X-MAP:URI="init.mp4"\n'
        "#EXT-X-PROGRAM-DATE-TIME:2026-12-06T12:00:00.000Z\n"
        "#EXTINF:4,\n"
        "s10.m4s\n"
        "#EXT-X-PROGRAM-DATE-TIME:2026-12-06T12:00:04.000Z\n"
        '#EXT-X-PART:DURATION=0.5,INDEPENDENT=YES,URI="p1.m4s"\n'
        '#EXT-X-PART:DURATION=0.5,URI="p2.m4s"\n'
        "#EXTINF:1,\n"
        "s11.m4s\n"
        "#EXT-X-DISCONTINUITY\n"
        '#EXT-X-MAP:URI="init2.mp4"\n'
        "#EXT-X-PROGRAM-DATE-TIME:2026-12-06T12:00:05.000Z\n"
        '#EXT-X-PART:DURATION=0.5,INDEPENDENT=YES,URI="p3.m4s"\n'
        '#EXT-X-PART:DURATION=0.2,URI="p4.m4s"\n'
        '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p5.m4s"\n'
        '#EXT-X-RENDITION-REPORT:URI="../low/index.m3u8",LAST-MSN=12,LAST-PART=1\n'
    )
    assert_valid(text, live=True)


def test_part_attributes_gap_byterange_and_hint_ranges() -> None:
    pending = PendingSegment(parts=(
        part("all.m4s", byterange=ByteRange(length=100, offset=0), independent=True),
        part("all.m4s", byterange=ByteRange(length=50)),
        part("gone.m4s", 0.1, gap=True)))
    text = render_media(ll_playlist(
        pending=pending, rendition_reports=(RenditionReport(uri="a.m3u8", last_msn=3),),
        preload_hints=(PreloadHint(uri="all.m4s", byterange_start=150),
                       PreloadHint(uri="init3.mp4", type=PreloadHintType.MAP,
                                   byterange_start=0, byterange_length=700))))
    assert '#EXT-X-PART:DURATION=0.5,INDEPENDENT=YES,BYTERANGE="100@0",URI="all.m4s"\n' \
        in text
    assert '#EXT-X-PART:DURATION=0.5,BYTERANGE="50",URI="all.m4s"\n' in text
    assert '#EXT-X-PART:DURATION=0.1,GAP=YES,URI="gone.m4s"\n' in text
    assert '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="all.m4s",BYTERANGE-START=150\n' in text
    assert ('#EXT-X-PRELOAD-HINT:TYPE=MAP,URI="init3.mp4",BYTERANGE-START=0,'
            'BYTERANGE-LENGTH=700\n') in text
    assert '#EXT-X-RENDITION-REPORT:URI="a.m3u8",LAST-MSN=3\n' in text


def test_a_delta_update_skips_and_needs_version_9_or_10() -> None:
    kept = tuple(MediaSegment(uri=f"s{n}.m4s", duration=4, program_date_time=T0
                              - timedelta(seconds=4 * (24 - n))) for n in range(17, 24))
    delta = ll_playlist(skip=Skip(skipped_segments=7), media_sequence=10,
                        segments=(*kept, *ll_playlist().segments[1:]))
    text = render_media(delta)
    assert "#EXT-X-VERSION:9\n" in text
    lines = text.splitlines()
    assert lines.index("#EXT-X-SKIP:SKIPPED-SEGMENTS=7") \
        < lines.index('#EXT-X-MAP:URI="init.mp4"') < lines.index("s17.m4s")
    v2 = render_media(replace(delta, skip=Skip(skipped_segments=7,
                                               recently_removed_dateranges=())))
    assert_valid(text, live=True)
    assert "#EXT-X-VERSION:10\n" in v2
    assert_valid(v2, live=True)
    assert '#EXT-X-SKIP:SKIPPED-SEGMENTS=7,RECENTLY-REMOVED-DATERANGES=""\n' in v2
    ids = render_media(replace(delta, skip=Skip(skipped_segments=1,
                                                recently_removed_dateranges=("a", "b"))))
    assert 'RECENTLY-REMOVED-DATERANGES="a\tb"' in ids
    with pytest.raises(ValueError, match="below"):
        render_media(replace(delta, version=8))


def test_a_classic_playlist_is_unchanged_and_needs_no_new_version() -> None:
    classic = MediaPlaylist(target_duration=4, segments=(
        MediaSegment(uri="a.ts", duration=4),))
    assert render_media(classic) == (
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:4,\na.ts\n")
    # Parts need no EXT-X-VERSION of their own (rfc8216bis §8 names none).
    pending = ll_playlist().pending
    assert pending is not None
    only_parts = replace(ll_playlist(), init=None, pending=replace(pending, init=None))
    assert "#EXT-X-VERSION" not in render_media(only_parts)


@pytest.mark.parametrize(("change", "message"), [
    ({"part_inf": None}, "needs EXT-X-PART-INF"),
    ({"server_control": ServerControl(can_block_reload=True)}, "PART-HOLD-BACK"),
    ({"server_control": replace(CONTROL, part_hold_back=0.9)}, "twice the part target"),
    ({"server_control": replace(CONTROL, hold_back=11.9)}, "three target durations"),
    ({"server_control": replace(CONTROL, can_skip_until=23.9)}, "six target durations"),
    ({"server_control": replace(CONTROL, can_skip_until=None)}, "needs CAN-SKIP-UNTIL"),
    ({"part_inf": PartInf(part_target=0.4)}, "more than the part target"),
    ({"part_inf": PartInf(part_target=0.0)}, "more than 0"),
    ({"endlist": True}, "cannot hold EXT-X-PRELOAD-HINT"),
    ({"preload_hints": (PreloadHint(uri="a"), PreloadHint(uri="b"))}, "one EXT-X-PRELOAD"),
    ({"rendition_reports": (RenditionReport(uri="https://x/y.m3u8", last_msn=1),)},
     "must be relative"),
    ({"skip": Skip(skipped_segments=1), "preload_hints": (), "endlist": True},
     "never a delta update"),
    ({"skip": Skip(skipped_segments=-1)}, "SKIPPED-SEGMENTS"),
    ({"skip": Skip(skipped_segments=1, recently_removed_dateranges=("a\tb",))}, "tab"),
    ({"pending": PendingSegment(parts=())}, "has none"),
    ({"pending": PendingSegment(parts=(part("p.m4s"),), program_date_time=T0)},
     "does not follow"),
])
def test_the_musts_are_kept(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_media(ll_playlist(**change))


def test_a_short_part_only_ends_its_segment_or_starts_on_a_keyframe() -> None:
    short = part("short.m4s", 0.3)
    pending = PendingSegment(parts=(part("a.m4s", independent=True), short, part("b.m4s")))
    with pytest.raises(ValueError, match="85 %"):
        render_media(ll_playlist(pending=pending))
    allowed = [
        (part("a.m4s"), short),  # the last part (so far) of its segment
        (replace(short, independent=True), part("b.m4s")),
        (short, part("g.m4s", gap=True)),  # followed by a gap
        (part("a.m4s"), replace(short, gap=True), part("b.m4s")),
        (part("a.m4s", 0.425), part("b.m4s")),  # exactly 85 %
    ]
    for parts in allowed:
        render_media(ll_playlist(pending=PendingSegment(parts=parts)))
    with pytest.raises(ValueError, match="same resource"):
        render_media(ll_playlist(pending=PendingSegment(parts=(
            part("a.m4s", byterange=ByteRange(length=5)),))))
