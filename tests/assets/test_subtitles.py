"""Subtitles given with an asset: SRT and WebVTT in, a WebVTT sidecar out, added to an
HLS master (checked by hlsd's rules) and to a DASH MPD (parsed by mpegdash)."""

from __future__ import annotations

import mpegdash.parser  # type: ignore[import-untyped]
import pytest

from hlsd.assets.subtitles import (
    SubtitleError,
    Track,
    add_to_master,
    add_to_mpd,
    media_playlist,
    to_webvtt,
    valid_language,
)
from hlsd.hls import parse_master
from hlsd.hls.check import assert_valid, check_webvtt_segment

MASTER = """#EXTM3U
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,URI="media_2.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS="avc1.4d401e,mp4a.40.2",RESOLUTION=640x360,AUDIO="a"
media_0.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=300000,CODECS="avc1.4d400c,mp4a.40.2",RESOLUTION=320x180,AUDIO="a"
media_1.m3u8
"""
MPD = """<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011"
\ttype="static" mediaPresentationDuration="PT6.0S" minBufferTime="PT4.0S">
\t<Period id="0" start="PT0.0S">
\t\t<AdaptationSet id="0" contentType="video">
\t\t\t<Representation id="0" mimeType="video/mp4" codecs="avc1.4d401e" bandwidth="700000"/>
\t\t</AdaptationSet>
\t\t<AdaptationSet id="1" contentType="audio">
\t\t\t<Representation id="1" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="64000"/>
\t\t</AdaptationSet>
\t</Period>
</MPD>
"""
TRACKS = [Track(language="en", name="English", uri="subs-en.vtt", playlist="subs-en.m3u8"),
          Track(language="pt-BR", name="Português", uri="subs-pt-BR.vtt",
                playlist="subs-pt-BR.m3u8")]


def test_srt_becomes_webvtt_and_webvtt_stays() -> None:
    srt = "\ufeff1\r\n00:00:01,000 --> 00:00:02,500\r\nHello\r\n\r\n2\r\n" \
          "00:00:03,000 --> 00:00:04,000\r\n<i>World</i>\r\n"
    vtt = to_webvtt(srt.encode())
    assert vtt == ("WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nHello\n\n"
                   "00:00:03.000 --> 00:00:04.000\n<i>World</i>\n")
    assert check_webvtt_segment(vtt) == []
    assert to_webvtt(b"WEBVTT\n\n00:01.000 --> 00:02.000\nHi") == \
        "WEBVTT\n\n00:01.000 --> 00:02.000\nHi\n"


@pytest.mark.parametrize(("data", "words"), [
    (b"just some text", "neither"), (b"\xff\xfe\x00bad", "UTF-8"),
    (b"x" * (4 * 1024 * 1024 + 1), "at most"),
])
def test_what_is_not_subtitles_is_refused(data: bytes, words: str) -> None:
    with pytest.raises(SubtitleError, match=words):
        to_webvtt(data)


def test_language_tags() -> None:
    assert valid_language("en") and valid_language("pt-BR") and valid_language("zh-Hant")
    assert not valid_language("../x") and not valid_language("e") and not valid_language("")


def test_the_master_gains_a_subtitles_group_named_by_every_variant() -> None:
    text = add_to_master(MASTER, TRACKS)
    assert_valid(text)
    master = parse_master(text)
    assert all(v.subtitles == "subs" for v in master.variants)
    subs = [r for r in master.renditions if r.type.value == "SUBTITLES"]
    assert [(r.language, r.uri, r.default) for r in subs] == \
        [("en", "subs-en.m3u8", True), ("pt-BR", "subs-pt-BR.m3u8", False)]
    assert add_to_master(MASTER, []) == MASTER
    assert_valid(media_playlist(TRACKS[0], 6.0), live=False)


def test_the_mpd_gains_a_text_adaptation_set_per_track() -> None:
    text = add_to_mpd(MPD, TRACKS)
    period = mpegdash.parser.MPEGDASHParser.parse(text).periods[0]
    texts = [a for a in period.adaptation_sets if a.content_type == "text"]
    assert [(a.id, a.lang, a.mime_type) for a in texts] == \
        [(2, "en", "text/vtt"), (3, "pt-BR", "text/vtt")]
    assert [a.representations[0].base_urls[0].base_url_value for a in texts] == \
        ["subs-en.vtt", "subs-pt-BR.vtt"]
    with pytest.raises(SubtitleError):
        add_to_mpd("<MPD/>", TRACKS)
