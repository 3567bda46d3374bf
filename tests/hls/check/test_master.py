"""Each master playlist rule: a playlist that breaks it, next to GOOD that keeps it."""

import pytest

from hlsd.hls import is_master_playlist
from hlsd.hls.check import (
    Reference,
    ReferenceKind,
    assert_valid,
    check_master_playlist,
    check_playlist,
    master_references,
)

GOOD = """#EXTM3U
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="English",LANGUAGE="en",DEFAULT=YES,AUTOSELECT=YES,URI="en.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="Deutsch",LANGUAGE="de",DEFAULT=NO,URI="de.m3u8"
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",FORCED=NO,URI="subs/en.m3u8"
#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="English",INSTREAM-ID="CC1"
#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID="cams",NAME="Wide",DEFAULT=YES,AUTOSELECT=YES
#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=3000000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=30.000,AUDIO="aud",SUBTITLES="subs",CLOSED-CAPTIONS="cc",VIDEO="cams"
720/index.m3u8
# comment between variants
#EXT-X-STREAM-INF:BANDWIDTH=128000,CODECS="mp4a.40.2",AUDIO="aud"
audio/index.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=300000,CODECS="avc1.64001f",RESOLUTION=1280x720,URI="720/iframes.m3u8"
"""


def rules(text: str) -> set[str]:
    return {v.rule for v in check_master_playlist(text)}


def test_good_master_passes() -> None:
    assert is_master_playlist(GOOD)
    assert check_master_playlist(GOOD) == []
    assert check_playlist(GOOD) == []
    assert check_playlist(GOOD, live=True) == []  # live only concerns media playlists
    assert_valid(GOOD)


def test_closed_captions_none_everywhere_passes() -> None:
    text = GOOD.replace('CLOSED-CAPTIONS="cc"', "CLOSED-CAPTIONS=NONE").replace(
        'AUDIO="aud"\naudio', 'AUDIO="aud",CLOSED-CAPTIONS=NONE\naudio'
    )
    assert check_master_playlist(text) == []


VARIANT = "#EXT-X-STREAM-INF:BANDWIDTH=3000000,"

BROKEN: list[tuple[str, str]] = [
    ("bandwidth-missing", GOOD.replace("BANDWIDTH=128000,", "")),
    ("bandwidth-missing", GOOD.replace("BANDWIDTH=300000,", "")),
    ("codecs-missing", GOOD.replace('CODECS="mp4a.40.2",', "")),
    ("resolution-missing", GOOD.replace("RESOLUTION=1280x720,FRAME", "FRAME")),
    ("resolution-missing",
     GOOD.replace('CODECS="mp4a.40.2"', 'CODECS="hvc1.1.6.L93.B0,mp4a.40.2"')),
    ("average-bandwidth", GOOD.replace("AVERAGE-BANDWIDTH=3000000", "AVERAGE-BANDWIDTH=3000001")),
    ("group-missing", GOOD.replace('AUDIO="aud"\naudio', 'AUDIO="other"\naudio')),
    ("group-missing", GOOD.replace('SUBTITLES="subs"', 'SUBTITLES="aud"')),  # wrong TYPE
    ("group-missing", GOOD.replace('CLOSED-CAPTIONS="cc"', 'CLOSED-CAPTIONS="c2"')),
    ("group-missing", GOOD.replace('VIDEO="cams"', 'VIDEO="aud"')),
    ("subtitles-uri", GOOD.replace('FORCED=NO,URI="subs/en.m3u8"', "FORCED=NO")),
    ("closed-captions-uri", GOOD.replace('INSTREAM-ID="CC1"', 'INSTREAM-ID="CC1",URI="cc.m3u8"')),
    ("instream-id-missing", GOOD.replace(',INSTREAM-ID="CC1"', "")),
    ("attribute-value", GOOD.replace('INSTREAM-ID="CC1"', 'INSTREAM-ID="CC9"')),
    ("default-multiple", GOOD.replace('LANGUAGE="de",DEFAULT=NO', 'LANGUAGE="de",DEFAULT=YES')),
    ("default-autoselect",
     GOOD.replace("DEFAULT=YES,AUTOSELECT=YES,URI", "DEFAULT=YES,AUTOSELECT=NO,URI")),
    ("name-duplicate", GOOD.replace('NAME="Deutsch"', 'NAME="English"')),
    ("forced-type", GOOD.replace('LANGUAGE="de",DEFAULT=NO', 'LANGUAGE="de",DEFAULT=NO,FORCED=NO')),
    ("closed-captions-none", GOOD.replace('CLOSED-CAPTIONS="cc"', "CLOSED-CAPTIONS=NONE")),
    ("stream-inf-uri", GOOD.replace("720/index.m3u8\n", "")),
    ("stream-inf-uri", GOOD + VARIANT + 'CODECS="mp4a.40.2"\n'),
    ("uri-unexpected", GOOD + "stray.m3u8\n"),
    ("stream-inf-missing", "#EXTM3U\n" + GOOD.split("\n", 1)[1].split("#EXT-X-STREAM-INF")[0]),
    ("tag-wrong-playlist", GOOD.replace("#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-TARGETDURATION:6")),
    ("tag-wrong-playlist", GOOD + "#EXTINF:4,\nseg.ts\n"),
    ("attribute-missing", GOOD.replace('GROUP-ID="subs",', "")),
    ("attribute-missing", GOOD.replace(',URI="720/iframes.m3u8"', "")),
    ("attribute-type", GOOD.replace("RESOLUTION=1280x720,FRAME", "RESOLUTION=1280*720,FRAME")),
    ("attribute-type", GOOD.replace('CODECS="mp4a.40.2"', "CODECS=mp4a.40.2")),
    ("attribute-type", GOOD.replace("BANDWIDTH=128000", "BANDWIDTH=lots")),
    ("attribute-value", GOOD.replace("TYPE=VIDEO", "TYPE=MOVIE")),
    ("version", GOOD.replace('INSTREAM-ID="CC1"', 'INSTREAM-ID="SERVICE3"')),
    ("version-removed", GOOD.replace("#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-VERSION:6")
     .replace("BANDWIDTH=128000,", "BANDWIDTH=128000,PROGRAM-ID=1,")),
    ("duplicate-tag", GOOD.replace("#EXTM3U\n", "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n")),
    ("m3u8-parse", GOOD.replace(',URI="720/iframes.m3u8"', "")),
    ("extm3u", GOOD.replace("#EXTM3U\n", "#EXTM3U8\n")),
]


@pytest.mark.parametrize(("rule", "text"), BROKEN)
def test_broken_rule_is_reported(rule: str, text: str) -> None:
    assert rule in rules(text)
    assert rule in {v.rule for v in check_playlist(text)}


def test_group_id_none_is_a_name_when_quoted() -> None:
    text = GOOD.replace('GROUP-ID="cc"', 'GROUP-ID="NONE"').replace(
        'CLOSED-CAPTIONS="cc"', 'CLOSED-CAPTIONS="NONE"'
    )
    assert check_master_playlist(text) == []


def test_codecs_missing_can_be_ignored_for_foreign_playlists() -> None:
    text = GOOD.replace('CODECS="mp4a.40.2",', "")
    with pytest.raises(AssertionError, match="codecs-missing"):
        assert_valid(text)
    assert_valid(text, ignore={"codecs-missing"})


def test_references_name_every_media_playlist_in_order() -> None:
    variant, rendition = ReferenceKind.VARIANT, ReferenceKind.RENDITION
    assert master_references(GOOD) == [
        Reference("en.m3u8", 3, rendition, "AUDIO"),
        Reference("de.m3u8", 4, rendition, "AUDIO"),
        Reference("subs/en.m3u8", 5, rendition, "SUBTITLES"),
        # CLOSED-CAPTIONS and the VIDEO rendition have no URI: nothing to fetch.
        Reference("720/index.m3u8", 9, variant),
        Reference("audio/index.m3u8", 12, variant),
        Reference("720/iframes.m3u8", 13, ReferenceKind.I_FRAMES),
    ]


def test_references_skip_what_cannot_be_read() -> None:
    text = ("#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,URI=unquoted.m3u8\n"
            "#EXT-X-STREAM-INF:BANDWIDTH=1\n#EXT-X-STREAM-INF:BANDWIDTH=2\nb.m3u8\n")
    # An unquoted URI is no URI; a STREAM-INF without its URI line names nothing.
    assert master_references(text) == [Reference("b.m3u8", 5, ReferenceKind.VARIANT)]
