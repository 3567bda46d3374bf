"""Each Low-Latency HLS rule of one playlist (rfc8216bis; Apple): a playlist that breaks
it, next to one that keeps it."""

from __future__ import annotations

import pytest

from hlsd.hls.check import (
    Position,
    PreloadHint,
    RenditionReport,
    ServerControl,
    Severity,
    SkipTag,
    assert_valid,
    check_media_playlist,
    scan_media,
)
from tests.hls.check.ll_playlists import (
    APPLE,
    APPLE_DELTA,
    BYTES_1,
    BYTES_2,
    DELTA_B,
    OLD_SEGMENTS,
    WITH_PARTS,
    A,
    B,
    C,
)

CONTROL = "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5,CAN-SKIP-UNTIL=12.0"
HINT = '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part110.2.mp4"\n'
REPORT = '#EXT-X-RENDITION-REPORT:URI="../audio/index.m3u8",LAST-MSN=110,LAST-PART=1\n'
ENDED = A.replace(HINT, "") + "#EXT-X-ENDLIST\n"
NO_PARTS = "".join(line + "\n" for line in A.splitlines()
                   if not line.startswith(("#EXT-X-PART:", "#EXT-X-PRELOAD-HINT")))


def rules(text: str) -> set[str]:
    return {v.rule for v in check_media_playlist(text)}


@pytest.mark.parametrize("text", [A, B, C, DELTA_B, APPLE, APPLE_DELTA, BYTES_1, BYTES_2,
                                  ENDED])
def test_realistic_low_latency_playlists_pass(text: str) -> None:
    assert check_media_playlist(text) == []
    assert_valid(text)


def test_scan_media_reads_the_low_latency_tags() -> None:
    scan = scan_media(A)
    assert scan.part_target == 0.5
    assert scan.server_control == ServerControl(
        line=4, can_block_reload=True, can_skip_until=12.0, part_hold_back=1.5)
    assert scan.can_block_reload
    assert [(p.uri, p.msn, p.index, p.independent) for p in scan.parts[-3:]] == [
        ("part109.3.mp4", 109, 3, False), ("part110.0.mp4", 110, 0, True),
        ("part110.1.mp4", 110, 1, False)]
    assert scan.preload_hints == [PreloadHint("PART", "part110.2.mp4", line=39)]
    assert scan.rendition_reports == [
        RenditionReport("../audio/index.m3u8", 40, last_msn=110, last_part=1)]
    assert (scan.next_msn, scan.last_position, scan.next_position) == (
        110, Position(110, 1), Position(110, 2))
    # Segment 110 whole: the next part asked for is the first of segment 111.
    assert (scan_media(C).last_position, scan_media(C).next_position) == (
        Position(110), Position(111, 0))
    delta = scan_media(DELTA_B)
    assert (delta.skip, delta.first_msn, delta.parts[0].msn) == (
        SkipTag(7, 3), 103, 108)
    assert scan_media(NO_PARTS.replace("#EXT-X-PART-INF:PART-TARGET=0.5\n", "")
                      ).next_position == Position(110)
    assert [p.byterange for p in scan_media(BYTES_2).parts] == [
        "20000@0", "23000@20000", "18000@43000", "19000@61000"]


def test_positions_order_parts_before_their_whole_segment() -> None:
    order = [Position(5, 0), Position(5, 3), Position(5), Position(6, 0), Position(6)]
    assert sorted(reversed(order), key=lambda p: p.key) == order
    assert (str(Position(5, 3)), str(Position(5))) == ("MSN 5 part 3", "MSN 5")


BROKEN: list[tuple[set[str], str]] = [
    # EXT-X-PART-INF, PART-TARGET (§4.4.3.7).
    ({"part-inf-missing"}, A.replace("#EXT-X-PART-INF:PART-TARGET=0.5\n", "")),
    ({"part-inf-unused"}, NO_PARTS),
    ({"part-target"}, A.replace("PART-TARGET=0.5", "PART-TARGET=0")),
    # The m3u8 library cannot read these either.
    ({"attribute-type", "m3u8-parse"}, A.replace("PART-TARGET=0.5", 'PART-TARGET="0.5"')),
    # EXT-X-PART (§4.4.4.9).
    ({"attribute-missing", "m3u8-parse"}, A.replace('DURATION=0.5,URI="part110.1.mp4"',
                                                    'URI="part110.1.mp4"')),
    ({"attribute-missing"}, A.replace('DURATION=0.5,URI="part110.1.mp4"', "DURATION=0.5")),
    ({"attribute-value"}, A.replace('URI="part110.1.mp4"', 'URI="part110.1.mp4",INDEPENDENT=NO')),
    ({"part-over-target"}, A.replace('DURATION=0.5,URI="part110.1.mp4"',
                                     'DURATION=0.51,URI="part110.1.mp4"')),
    ({"part-too-short"}, A.replace('DURATION=0.5,URI="part110.0.mp4",INDEPENDENT=YES',
                                   'DURATION=0.4,URI="part110.0.mp4"')),
    # Segment 109 lasts 1.9 s, but its parts 2.
    ({"part-sum"}, A.replace("#EXTINF:2.0,\nseg109.mp4", "#EXTINF:1.9,\nseg109.mp4")),
    ({"part-byterange"}, BYTES_1.replace('BYTERANGE="23000@20000"', 'BYTERANGE="23000-20000"')),
    ({"part-byterange"}, BYTES_1.replace('BYTERANGE="20000@0"', 'BYTERANGE="20000"')),
    ({"part-byterange"}, BYTES_1.replace('URI="fs271.mp4",BYTERANGE="23000@20000"',
                                         'URI="other.mp4",BYTERANGE="23000"')),
    ({"part-tag-order"}, A.replace('URI="part109.1.mp4"\n',
                                   'URI="part109.1.mp4"\n#EXT-X-DISCONTINUITY\n')),
    ({"part-i-frames"}, A.replace("#EXT-X-MEDIA-SEQUENCE", "#EXT-X-I-FRAMES-ONLY\n"
                                  "#EXT-X-MEDIA-SEQUENCE")),
    # Parts more than three target durations (6 s) from the end, or removed out of order
    # (§6.2.2).
    ({"part-not-removed"}, A.replace(
        "#EXTINF:2.0,\nseg107.mp4", '#EXT-X-PART:DURATION=0.5,URI="part107.0.mp4"\n'
        '#EXT-X-PART:DURATION=0.5,URI="part107.1.mp4"\n'
        '#EXT-X-PART:DURATION=0.5,URI="part107.2.mp4"\n'
        '#EXT-X-PART:DURATION=0.5,URI="part107.3.mp4"\n#EXTINF:2.0,\nseg107.mp4')),
    ({"part-removal-order"}, A.replace(
        "#EXTINF:2.0,\nseg107.mp4", '#EXT-X-PART:DURATION=0.5,URI="part107.3.mp4"\n'
        "#EXTINF:2.0,\nseg107.mp4").replace(WITH_PARTS.split("#EXTINF")[0], "")),
    # EXT-X-SERVER-CONTROL (§4.4.3.8; Apple).
    ({"part-hold-back-missing"}, A.replace(",PART-HOLD-BACK=1.5", "")),
    ({"part-hold-back"}, A.replace("PART-HOLD-BACK=1.5", "PART-HOLD-BACK=0.9")),
    ({"part-hold-back-short"}, A.replace("PART-HOLD-BACK=1.5", "PART-HOLD-BACK=1.2")),
    ({"hold-back"}, A.replace("PART-HOLD-BACK=1.5", "PART-HOLD-BACK=1.5,HOLD-BACK=5.9")),
    ({"can-skip-until"}, A.replace("CAN-SKIP-UNTIL=12.0", "CAN-SKIP-UNTIL=11.9")),
    ({"can-skip-dateranges"}, A.replace(",CAN-SKIP-UNTIL=12.0", ",CAN-SKIP-DATERANGES=YES")),
    ({"can-block-reload-missing"}, A.replace("CAN-BLOCK-RELOAD=YES,", "")),
    ({"attribute-value", "can-block-reload-missing"},
     A.replace("CAN-BLOCK-RELOAD=YES", "CAN-BLOCK-RELOAD=NO")),
    # EXT-X-PRELOAD-HINT (§4.4.5.3, §6.2.6, B.1).
    ({"preload-hint-endlist"}, A + "#EXT-X-ENDLIST\n"),
    ({"preload-hint-duplicate"}, A.replace(HINT, HINT + HINT)),
    ({"preload-hint-missing"}, A.replace(HINT, "")),
    ({"preload-hint-order"}, A.replace(HINT, "").replace(
        '#EXT-X-PART:DURATION=0.5,URI="part110.1.mp4"\n',
        HINT + '#EXT-X-PART:DURATION=0.5,URI="part110.1.mp4"\n')),
    # Clients ignore a hint of a TYPE they do not know (§6.3.8): no PART hint then.
    ({"attribute-missing", "preload-hint-missing"}, A.replace("TYPE=PART,", "")),
    ({"attribute-value", "preload-hint-missing"}, A.replace("TYPE=PART,", "TYPE=SEGMENT,")),
    ({"attribute-type", "m3u8-parse"}, A.replace('URI="part110.2.mp4"', 'URI="part110.2.mp4",'
                                                 'BYTERANGE-START="12"')),
    ({"attribute-type"}, A.replace('URI="part110.2.mp4"', 'URI="part110.2.mp4",'
                                   "BYTERANGE-LENGTH=-5")),
    # EXT-X-RENDITION-REPORT (§4.4.5.4).
    ({"attribute-missing"}, A.replace('URI="../audio/index.m3u8",', "")),
    ({"rendition-report-uri"}, A.replace("../audio/index.m3u8", "https://cdn.example/a.m3u8")),
    ({"rendition-report-uri"}, A.replace("../audio/index.m3u8", "//cdn.example/a.m3u8")),
    ({"rendition-report-order"}, A.replace(REPORT, "").replace(HINT, REPORT + HINT).replace(
        '#EXT-X-PART:DURATION=0.5,URI="part110.1.mp4"\n',
        REPORT + '#EXT-X-PART:DURATION=0.5,URI="part110.1.mp4"\n').replace(REPORT + HINT, HINT)),
    # B.1: the Low-Latency Server Configuration Profile.
    ({"ll-program-date-time"}, A.replace("#EXT-X-PROGRAM-DATE-TIME:2026-11-21T19:00:00.000Z\n",
                                         "")),
    # EXT-X-SKIP (§4.4.5.2, §6.2.5.1, §8).
    ({"skip-without-can-skip-until"}, DELTA_B.replace(",CAN-SKIP-UNTIL=12.0", "")),
    ({"skip-endlist"}, DELTA_B.replace('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part110.3.mp4"\n',
                                       "") + "#EXT-X-ENDLIST\n"),
    ({"skip-position"}, DELTA_B.replace("#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n", "").replace(
        "seg103.mp4\n", "seg103.mp4\n#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n")),
    ({"skip-segments"}, A.replace("#EXT-X-VERSION:6", "#EXT-X-VERSION:9").replace(
        '#EXT-X-MAP', "#EXT-X-SKIP:SKIPPED-SEGMENTS=0\n#EXT-X-MAP")),
    # Segments 100-105 skipped: only 8 s listed, the last skipped one within 12 s.
    ({"skip-too-far"}, DELTA_B.replace("SKIPPED-SEGMENTS=3", "SKIPPED-SEGMENTS=6").replace(
        "#EXTINF:2.0,\nseg103.mp4\n#EXTINF:2.0,\nseg104.mp4\n#EXTINF:2.0,\nseg105.mp4\n", "")),
    ({"version"}, DELTA_B.replace("#EXT-X-VERSION:9", "#EXT-X-VERSION:6")),
    ({"version"}, DELTA_B.replace("SKIPPED-SEGMENTS=3",
                                  'SKIPPED-SEGMENTS=3,RECENTLY-REMOVED-DATERANGES=""')),
    ({"duplicate-tag"}, A.replace("#EXT-X-PART-INF:PART-TARGET=0.5\n",
                                  "#EXT-X-PART-INF:PART-TARGET=0.5\n" * 2)),
]


@pytest.mark.parametrize(("expected", "text"), BROKEN)
def test_each_broken_rule_is_found(expected: set[str], text: str) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize("text", [
    # The exceptions to the 85% floor (§4.4.4.9): INDEPENDENT=YES, GAP=YES, just before
    # a gap, the final part of a segment, and the newest part (it may be the final one).
    A.replace('DURATION=0.5,URI="part110.0.mp4",INDEPENDENT=YES',
              'DURATION=0.2,URI="part110.0.mp4",INDEPENDENT=YES'),
    A.replace('DURATION=0.5,URI="part110.0.mp4",INDEPENDENT=YES',
              'DURATION=0.2,URI="part110.0.mp4",GAP=YES'),
    A.replace('DURATION=0.5,URI="part110.0.mp4",INDEPENDENT=YES',
              'DURATION=0.2,URI="part110.0.mp4"').replace(
        'URI="part110.1.mp4"', 'URI="part110.1.mp4",GAP=YES'),
    A.replace('DURATION=0.5,URI="part109.3.mp4"', 'DURATION=0.2,URI="part109.3.mp4"').replace(
        "#EXTINF:2.0,\nseg109.mp4", "#EXTINF:1.7,\nseg109.mp4"),
    A.replace('DURATION=0.5,URI="part110.1.mp4"', 'DURATION=0.2,URI="part110.1.mp4"'),
    # The oldest segment with parts may have lost its first ones already (§6.2.2).
    A.replace('#EXT-X-PART:DURATION=0.5,URI="part108.0.mp4",INDEPENDENT=YES\n'
              '#EXT-X-PART:DURATION=0.5,URI="part108.1.mp4"\n', ""),
    # An integer EXTINF is a rounded one (RFC 8216 §4.3.2.1).
    A.replace("#EXTINF:2.0,\nseg109.mp4", "#EXTINF:2,\nseg109.mp4").replace(
        'DURATION=0.5,URI="part109.3.mp4"', 'DURATION=0.45,URI="part109.3.mp4"'),
    # HOLD-BACK and CAN-SKIP-UNTIL at their least; PART-HOLD-BACK at three parts.
    A.replace("PART-HOLD-BACK=1.5", "PART-HOLD-BACK=1.5,HOLD-BACK=6.0").replace(
        "CAN-SKIP-UNTIL=12.0", "CAN-SKIP-UNTIL=12"),
    # A live playlist without parts needs neither blocking reload nor hints; a finished
    # one keeps its parts but no hint.
    NO_PARTS.replace("#EXT-X-PART-INF:PART-TARGET=0.5\n", "").replace(
        "CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5,", ""),
    ENDED.replace("CAN-BLOCK-RELOAD=YES,", ""),
    # A rendition report may leave out what it shares with this playlist (§4.4.5.4).
    A.replace(",LAST-MSN=110,LAST-PART=1", ""),
    A.replace("../audio/index.m3u8", "/live/cam/audio/index.m3u8"),
    # Skipping one segment fewer than the boundary allows is no fault.
    DELTA_B.replace("SKIPPED-SEGMENTS=3", "SKIPPED-SEGMENTS=2").replace(
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-21T19:00:06.000Z\n",
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-21T19:00:04.000Z\n#EXTINF:2.0,\nseg102.mp4\n"),
])
def test_what_the_rules_allow(text: str) -> None:
    assert check_media_playlist(text) == []


def test_segments_of_an_old_playlist_keep_their_rules() -> None:
    # A non-LL live playlist is untouched by the Low-Latency rules.
    plain = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n" + OLD_SEGMENTS
    assert check_media_playlist(plain, live=True) == []


@pytest.mark.parametrize(("rule", "severity", "reference"), [
    ("part-too-short", Severity.ERROR, "rfc8216bis §4.4.4.9"),
    ("part-hold-back-short", Severity.WARNING, "rfc8216bis §4.4.3.8"),
    ("part-sum", Severity.ERROR, "rfc8216bis §3.2"),
    ("preload-hint-missing", Severity.WARNING, "rfc8216bis §B.1"),
    ("can-block-reload-missing", Severity.ERROR, "Apple LL-HLS"),
    ("preload-hint-order", Severity.WARNING, None),
])
def test_low_latency_rules_cite_rfc8216bis(rule: str, severity: Severity,
                                           reference: str | None) -> None:
    (violation,) = [v for text in (text for _, text in BROKEN)
                    for v in check_media_playlist(text) if v.rule == rule][:1]
    assert (violation.severity, violation.reference) == (severity, reference)


def test_findings_name_their_lines_and_values() -> None:
    text = A.replace('DURATION=0.5,URI="part110.1.mp4"', 'DURATION=0.75,URI="part110.1.mp4"')
    (violation,) = check_media_playlist(text)
    assert (violation.line, violation.message) == (
        38, "part part110.1.mp4 lasts 0.75 s, more than the PART-TARGET of 0.5 s")
    (violation,) = check_media_playlist(A.replace("#EXTINF:2.0,\nseg109.mp4",
                                                  "#EXTINF:1.9,\nseg109.mp4"))
    assert (violation.line, violation.message) == (
        36, "the 4 parts of MSN 109 (seg109.mp4) last 2 s, but its EXTINF says 1.9 s")
    assert CONTROL in A
