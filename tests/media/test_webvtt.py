from __future__ import annotations

from pathlib import Path

import pytest

from hlsd.media import TS_OFFSET, Cue, MediaError, parse_webvtt, render_vtt_segment
from tests._support import media as fx

MAP = f"X-TIMESTAMP-MAP=MPEGTS:{round(TS_OFFSET * 90000)},LOCAL:00:00:00.000"


def test_parse_fixture(tmp_path: Path) -> None:
    cues = parse_webvtt(fx.vtt(tmp_path / "s.vtt", seconds=8, every=1.5).read_bytes())
    assert [c.start for c in cues] == [0.0, 1.5, 3.0, 4.5, 6.0]
    assert cues[1] == Cue(start=1.5, end=2.5, text="cue 2", identifier="2")


def test_tolerates_bom_crlf_notes_styles_and_short_timestamps() -> None:
    data = (
        "\ufeffWEBVTT - a title\r\nKind: captions\r\n\r\n"
        "STYLE\r\n::cue { color: yellow }\r\n\r\n"
        "REGION\r\nid:left width:40%\r\n\r\n"
        "NOTE this is a comment\r\nspanning lines\r\n\r\n"
        "intro\r\n00:01.000 --> 00:02.500 align:start line:0\r\n<i>Hello</i>\r\nworld\r\n\r\n"
        "01:00:00.000 --> 01:00:01.000\r\nlate\r\n"
    ).encode()
    cues = parse_webvtt(data)
    assert cues == (
        Cue(start=1.0, end=2.5, text="<i>Hello</i>\nworld", identifier="intro",
            settings="align:start line:0"),
        Cue(start=3600.0, end=3601.0, text="late"),
    )


@pytest.mark.parametrize(
    "data", [b"", b"hello", b"WEBVTTX\n\n", b"\x00\x01\x02", b"1\n00:00:01,000 --> 00:00:02,000"],
)
def test_not_webvtt(data: bytes) -> None:
    with pytest.raises(MediaError):
        parse_webvtt(data)


def test_render_header_and_round_trip() -> None:
    cues = (
        Cue(start=0.5, end=1.25, text="one", identifier="a"),
        Cue(start=2.0, end=3.0, text="two\nlines", settings="position:10%"),
    )
    out = render_vtt_segment(cues, 0.0, 6.0)
    text = out.decode()
    assert text.startswith(f"WEBVTT\n{MAP}\n\n")
    assert "a\n00:00:00.500 --> 00:00:01.250\none\n" in text
    assert parse_webvtt(out) == cues


def test_cue_crossing_a_boundary_is_in_both_segments() -> None:
    cues = (Cue(start=1.0, end=2.0, text="early"), Cue(start=5.5, end=6.5, text="across"),
            Cue(start=6.0, end=7.0, text="at six"), Cue(start=12.0, end=13.0, text="later"))
    first = parse_webvtt(render_vtt_segment(cues, 0.0, 6.0))
    second = parse_webvtt(render_vtt_segment(cues, 6.0, 12.0))
    assert [c.text for c in first] == ["early", "across"]
    assert [c.text for c in second] == ["across", "at six"]
    assert first[1].start == 5.5 and first[1].end == 6.5  # original times, not clipped


def test_empty_segment_is_still_valid() -> None:
    out = render_vtt_segment([], 0.0, 6.0)
    assert out.decode() == f"WEBVTT\n{MAP}\n"
    assert parse_webvtt(out) == ()
