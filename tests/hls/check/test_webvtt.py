import pytest

from hlsd.hls.check import check_webvtt_segment

GOOD = """WEBVTT
X-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000

1
00:00:01.000 --> 00:00:02.500 align:start
Hello

00:03.000 --> 00:04.000
World
"""


@pytest.mark.parametrize(
    "text",
    [
        GOOD,
        GOOD.replace("\n", "\r\n"),
        "\ufeff" + GOOD,
        GOOD.replace("MPEGTS:900000,LOCAL:00:00:00.000", "LOCAL:00:00:00.000,MPEGTS:900000"),
        GOOD.replace("WEBVTT\n", "WEBVTT - subtitles\n"),
        "WEBVTT\n",
        "WEBVTT",
        "WEBVTT\n\n100:00:00.000 --> 100:00:01.000\nlong\n",
    ],
)
def test_good_webvtt(text: str) -> None:
    assert check_webvtt_segment(text) == []


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        ("webvtt-header", ""),
        ("webvtt-header", "WEBVTTX\n"),
        ("webvtt-header", "\n" + GOOD),
        ("webvtt-header", "<html>"),
        ("webvtt-timestamp-map", GOOD.replace("MPEGTS:900000,", "")),
        ("webvtt-timestamp-map", GOOD.replace("MPEGTS:900000", "MPEGTS:-1")),
        ("webvtt-timestamp-map", GOOD.replace("MPEGTS:900000", "MPEGTS:9000000000000")),
        ("webvtt-timestamp-map", GOOD.replace("LOCAL:00:00:00.000", "LOCAL:0:00:00")),
        ("webvtt-timestamp-map", GOOD.replace("LOCAL:00:00:00.000", "LOCAL:00:00:00.000,X:1")),
        ("webvtt-timestamp-map", GOOD.replace("MPEGTS:900000,LOCAL", "MPEGTS:900000;LOCAL")),
        ("webvtt-timestamp-map",
         GOOD.replace("\n\n1", "\nX-TIMESTAMP-MAP=MPEGTS:1,LOCAL:00:00:00.000\n\n1")),
        ("webvtt-cue-timing", GOOD.replace("00:00:01.000 -->", "00:00:01 -->")),
        ("webvtt-cue-timing", GOOD.replace("00:00:02.500", "00:00:00.500")),
    ],
)
def test_broken_webvtt(rule: str, text: str) -> None:
    assert rule in {v.rule for v in check_webvtt_segment(text)}
