"""Each media playlist rule: a playlist that breaks it, next to GOOD that keeps it."""

import pytest

from hlsd.hls.check import (
    InitRef,
    Violation,
    assert_valid,
    check_media_playlist,
    check_playlist,
    scan_media,
)

GOOD = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:6
#EXT-X-MEDIA-SEQUENCE:10
#EXT-X-DISCONTINUITY-SEQUENCE:1
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init.mp4",BYTERANGE="700@0"
#EXT-X-PROGRAM-DATE-TIME:2026-11-21T19:00:00.000Z
#EXTINF:6.006,
s10.m4s
# a comment
#EXT-X-DISCONTINUITY
#EXT-X-PROGRAM-DATE-TIME:2026-11-21T19:00:06.006Z
#EXTINF:5.5,title, with comma
#EXT-X-BYTERANGE:1000@0
s11.m4s
#EXTINF:6.49,
#EXT-X-BYTERANGE:1000
s11.m4s
"""


def rules(text: str, **kw: object) -> set[str]:
    return {v.rule for v in check_media_playlist(text, **kw)}  # type: ignore[arg-type]


def test_good_playlist_passes() -> None:
    assert check_media_playlist(GOOD) == []
    assert check_media_playlist(GOOD, live=True) == []
    assert check_playlist(GOOD) == []
    assert_valid(GOOD, live=True)


def test_lf_and_crlf_are_both_fine() -> None:
    assert check_media_playlist(GOOD.replace("\n", "\r\n")) == []


BROKEN: list[tuple[str, str]] = [
    ("extm3u", GOOD.replace("#EXTM3U\n", "")),
    ("extm3u", "\n" + GOOD),
    ("bom", "\ufeff" + GOOD),
    ("control-character", GOOD.replace("s10.m4s", "s10\x01.m4s")),
    ("whitespace", GOOD.replace("s10.m4s", "s10.m4s ")),
    ("duplicate-tag", GOOD.replace("#EXT-X-INDEPENDENT-SEGMENTS\n",
                                   "#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:6\n")),
    ("duplicate-tag", GOOD + "#EXT-X-ENDLIST\n#EXT-X-ENDLIST\n"),
    ("tag-value", GOOD.replace("#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-INDEPENDENT-SEGMENTS:YES")),
    ("tag-value", GOOD.replace("VERSION:6", "VERSION:six")),
    ("tag-value", GOOD.replace("MEDIA-SEQUENCE:10", "MEDIA-SEQUENCE:-1")),
    ("tag-value", GOOD.replace("BYTERANGE:1000@0", "BYTERANGE:1000@")),
    ("tag-value", GOOD.replace("#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-PLAYLIST-TYPE:LIVE")),
    ("attribute-syntax", GOOD.replace('URI="init.mp4",', 'URI="init.mp4" ,')),
    ("attribute-syntax", GOOD.replace('URI="init.mp4"', 'URI="init.mp4",URI="x.mp4"')),
    ("attribute-syntax", GOOD.replace('URI="init.mp4"', 'URI="init.mp4')),
    ("attribute-missing", GOOD.replace('URI="init.mp4",', "")),
    ("attribute-type", GOOD.replace('URI="init.mp4"', "URI=init.mp4")),
    ("attribute-type", GOOD.replace("#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-START:TIME-OFFSET=x")),
    ("attribute-value", GOOD.replace("#EXT-X-INDEPENDENT-SEGMENTS",
                                     "#EXT-X-START:TIME-OFFSET=-3,PRECISE=MAYBE")),
    ("version", GOOD.replace("VERSION:6", "VERSION:5")),  # EXT-X-MAP
    ("version", GOOD.replace('#EXT-X-MAP:URI="init.mp4",BYTERANGE="700@0"\n', "")
     .replace("VERSION:6", "VERSION:3")),  # EXT-X-BYTERANGE
    ("version", "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:5.5,\na.ts\n"),  # decimals, v1
    ("version", "#EXTM3U\n#EXT-X-VERSION:4\n#EXT-X-TARGETDURATION:6\n"
                '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="k",KEYFORMAT="identity"\n#EXTINF:5,\na.ts\n'),
    ("version", "#EXTM3U\n#EXT-X-TARGETDURATION:6\n"
                '#EXT-X-KEY:METHOD=AES-128,URI="k",IV=0x0123\n#EXTINF:5,\na.ts\n'),
    ("version", "#EXTM3U\n#EXT-X-VERSION:4\n#EXT-X-TARGETDURATION:6\n#EXT-X-I-FRAMES-ONLY\n"
                '#EXT-X-MAP:URI="i.mp4"\n#EXTINF:5,\n#EXT-X-BYTERANGE:10@0\na.mp4\n'),
    ("version", "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:6\n"
                '#EXT-X-DEFINE:NAME="x",VALUE="y"\n#EXTINF:5,\na.ts\n'),
    ("version-removed", GOOD.replace("VERSION:6", "VERSION:7")
     .replace("#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-ALLOW-CACHE:NO")),
    ("m3u8-parse", GOOD.replace("#EXTINF:5.5,", "#EXTINF:five,")),
    ("tag-wrong-playlist", GOOD.replace("#EXT-X-INDEPENDENT-SEGMENTS",
                                        '#EXT-X-SESSION-DATA:DATA-ID="x",VALUE="y"')),
    ("target-duration-missing", GOOD.replace("#EXT-X-TARGETDURATION:6\n", "")),
    ("target-duration", GOOD.replace("TARGETDURATION:6", "TARGETDURATION:6.5")),
    ("target-duration", GOOD.replace("#EXTINF:6.49,", "#EXTINF:6.5,")),
    ("target-duration", GOOD.replace("TARGETDURATION:6", "TARGETDURATION:5")),
    ("tag-after-segment",
     GOOD.replace("#EXT-X-MEDIA-SEQUENCE:10\n", "") + "#EXT-X-MEDIA-SEQUENCE:10\n"),
    ("tag-after-segment", GOOD.replace("#EXT-X-DISCONTINUITY-SEQUENCE:1\n", "")
     .replace("#EXT-X-DISCONTINUITY\n", "#EXT-X-DISCONTINUITY\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n")),
    ("extinf-missing", GOOD + "s12.m4s\n"),
    ("extinf-duplicate", GOOD.replace("#EXTINF:6.006,", "#EXTINF:6.006,\n#EXTINF:6.006,")),
    ("extinf-format", GOOD.replace("#EXTINF:6.006,", "#EXTINF:6.006")),
    ("extinf-format", GOOD.replace("#EXTINF:6.006,", "#EXTINF:-6,")),
    ("uri-missing", GOOD + "#EXTINF:6,\n"),
    ("byterange", GOOD.replace("#EXT-X-BYTERANGE:1000@0", "#EXT-X-BYTERANGE:1000")),
    ("byterange", GOOD.replace("#EXT-X-BYTERANGE:1000\ns11.m4s", "#EXT-X-BYTERANGE:1000\ns12.m4s")),
    ("map-byterange", GOOD.replace('BYTERANGE="700@0"', 'BYTERANGE="700"')),
    ("program-date-time", GOOD.replace("19:00:06.006Z", "19:00:00.000Z")),
    ("program-date-time", GOOD.replace("19:00:06.006Z", "18:59:00.000Z")),
    ("program-date-time-format", GOOD.replace("2026-11-21T19:00:06.006Z", "yesterday")),
    ("endlist-missing", GOOD.replace("#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-PLAYLIST-TYPE:VOD")),
    ("daterange-needs-pdt", "#EXTM3U\n#EXT-X-TARGETDURATION:6\n"
                            '#EXT-X-DATERANGE:ID="ad",START-DATE="2026-11-21T19:00:00Z"\n'
                            "#EXTINF:5,\na.ts\n"),
]


@pytest.mark.parametrize(("rule", "text"), BROKEN)
def test_broken_rule_is_reported(rule: str, text: str) -> None:
    assert rule in rules(text)


def test_violations_carry_line_numbers() -> None:
    found = check_media_playlist(GOOD.replace("#EXTINF:6.49,", "#EXTINF:6.5,"))
    assert found == [Violation("target-duration", found[0].message, 17)]
    assert "6.5" in found[0].message


def test_rounding_is_to_the_nearest_integer() -> None:
    assert "target-duration" not in rules(GOOD.replace("#EXTINF:6.49,", "#EXTINF:6.499,"))


def test_map_version_is_5_in_an_iframe_playlist() -> None:
    text = ("#EXTM3U\n#EXT-X-VERSION:5\n#EXT-X-TARGETDURATION:6\n#EXT-X-I-FRAMES-ONLY\n"
            '#EXT-X-MAP:URI="i.mp4"\n#EXTINF:5,\n#EXT-X-BYTERANGE:10@0\na.mp4\n')
    assert check_media_playlist(text) == []


def test_comments_and_unknown_tags_are_ignored() -> None:
    assert check_media_playlist(GOOD + "#EXT-X-SOMETHING-NEW:1\n# note\n") == []


def test_live_and_finished_expectations() -> None:
    vod = GOOD.replace("#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-PLAYLIST-TYPE:VOD")
    vod += "#EXT-X-ENDLIST\n"
    assert check_media_playlist(vod) == []
    assert check_media_playlist(vod, live=False) == []
    assert rules(vod, live=True) == {"live-playlist-type", "live-endlist"}
    assert rules(GOOD, live=False) == {"endlist-missing"}
    event = GOOD.replace("#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-PLAYLIST-TYPE:EVENT")
    assert rules(event, live=True) == {"live-playlist-type"}


def test_assert_valid_lists_every_violation() -> None:
    text = GOOD.replace("#EXT-X-TARGETDURATION:6\n", "").replace("#EXTINF:5.5,", "#EXTINF:5.5")
    with pytest.raises(AssertionError) as raised:
        assert_valid(text)
    message = str(raised.value)
    assert "[target-duration-missing]" in message
    assert "[extinf-format] line 13:" in message
    assert_valid(text, ignore={"target-duration-missing", "extinf-format", "m3u8-parse"})


def test_empty_text_is_not_a_playlist() -> None:
    assert {"extm3u", "target-duration-missing"} <= rules("")


def test_the_scan_gives_each_segment_its_init_section_and_encryption() -> None:
    text = GOOD.replace("s11.m4s\n#EXTINF:6.49,", "s11.m4s\n"
                        '#EXT-X-KEY:METHOD=AES-128,URI="k.bin"\n'
                        '#EXT-X-MAP:URI="init2.mp4"\n#EXTINF:6.49,')
    scan = scan_media(text)
    assert [(s.uri, s.line, s.init, s.encrypted) for s in scan.segments] == [
        ("s10.m4s", 10, InitRef("init.mp4", "700@0"), False),
        ("s11.m4s", 16, InitRef("init.mp4", "700@0"), False),
        ("s11.m4s", 21, InitRef("init2.mp4", None), True),
    ]
    assert (scan.target_duration, scan.media_sequence, scan.endlist) == (6, 10, False)
    assert not scan.violations
