from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hlsd.hls import (
    ByteRange,
    ClosedCaptions,
    InitSection,
    MasterPlaylist,
    MediaPlaylist,
    MediaSegment,
    MediaType,
    PlaylistError,
    PlaylistType,
    Rendition,
    VariantStream,
    is_master_playlist,
    parse_master,
    parse_media,
    render_master,
    render_media,
)

START = datetime(2026, 11, 21, 19, 0, tzinfo=UTC)

FFMPEG_LIVE = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:7
#EXT-X-PROGRAM-DATE-TIME:2026-11-21T19:00:00.000+0000
#EXTINF:4.000000,
stream7.ts
#EXTINF:3.966667,
stream8.ts
"""


def test_parse_ffmpeg_live_playlist() -> None:
    playlist = parse_media(FFMPEG_LIVE)
    assert playlist == MediaPlaylist(
        target_duration=4,
        media_sequence=7,
        segments=(
            MediaSegment(uri="stream7.ts", duration=4.0, program_date_time=START),
            MediaSegment(uri="stream8.ts", duration=3.966667),
        ),
    )


def test_round_trip_media_with_every_field() -> None:
    playlist = MediaPlaylist(
        target_duration=6,
        media_sequence=42,
        discontinuity_sequence=2,
        playlist_type=PlaylistType.EVENT,
        independent_segments=True,
        init=InitSection(uri="init.mp4", byterange=ByteRange(length=800, offset=0)),
        segments=(
            MediaSegment(uri="a.mp4", duration=5.005, title="one, two",
                         program_date_time=START, byterange=ByteRange(length=10, offset=800)),
            MediaSegment(uri="a.mp4", duration=6, byterange=ByteRange(length=10)),
            MediaSegment(uri="b.m4s", duration=2.5, discontinuity=True, gap=True,
                         program_date_time=START + timedelta(seconds=30),
                         init=InitSection(uri="init2.mp4")),
            MediaSegment(uri="c.m4s", duration=2.5, init=InitSection(uri="init2.mp4")),
        ),
        version=7,
    )
    assert parse_media(render_media(playlist)) == playlist


def test_parse_reads_first_map_into_the_playlist() -> None:
    text = render_media(MediaPlaylist(
        target_duration=4,
        segments=(MediaSegment(uri="a.m4s", duration=4, init=InitSection(uri="i.mp4")),),
    ))
    assert parse_media(text).init == InitSection(uri="i.mp4")
    assert parse_media(text).segments[0].init is None


def test_parse_map_without_segments() -> None:
    text = '#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:URI="i.mp4"\n'
    assert parse_media(text) == MediaPlaylist(
        target_duration=4, segments=(), init=InitSection(uri="i.mp4")
    )


def test_version_reads_as_none_when_it_is_the_minimum() -> None:
    assert parse_media(FFMPEG_LIVE).version is None  # 3 is what the decimals need
    bumped = FFMPEG_LIVE.replace("VERSION:3", "VERSION:7")
    assert parse_media(bumped).version == 7
    low = FFMPEG_LIVE.replace("VERSION:3", "VERSION:1")
    assert parse_media(low).version is None  # too low: read as "what is needed"


def test_program_date_time_zones() -> None:
    naive = FFMPEG_LIVE.replace("+0000", "")
    assert parse_media(naive).segments[0].program_date_time == START
    assert parse_media(naive).segments[0].program_date_time.tzinfo is not None  # type: ignore[union-attr]
    offset = FFMPEG_LIVE.replace("19:00:00.000+0000", "21:00:00.000+02:00")
    parsed = parse_media(offset).segments[0].program_date_time
    assert parsed == START
    assert parsed is not None and parsed.utcoffset() == timedelta(hours=2)
    assert parsed.tzinfo == timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "<html>#EXTM3U</html>",
        "#EXTM3U\n#EXTINF:4,\na.ts\n",  # no target duration
        "#EXTM3U\n#EXT-X-TARGETDURATION:x\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:abc,\na.ts\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:LIVE\n",
        '#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-KEY:METHOD=AES-128,URI="k"\n#EXTINF:4,\na.ts\n',
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n#EXT-X-BYTERANGE:x@y\na.ts\n",
    ],
)
def test_parse_media_rejects(text: str) -> None:
    with pytest.raises(PlaylistError):
        parse_media(text)


def test_playlist_error_is_a_value_error() -> None:
    assert issubclass(PlaylistError, ValueError)


def test_round_trip_master() -> None:
    playlist = MasterPlaylist(
        independent_segments=True,
        renditions=(
            Rendition(type=MediaType.AUDIO, group_id="aud", name="English", language="en",
                      default=True, autoselect=True, channels="2", uri="en.m3u8"),
            Rendition(type=MediaType.AUDIO, group_id="aud", name="Deutsch", language="de",
                      uri="de.m3u8"),
            Rendition(type=MediaType.SUBTITLES, group_id="subs", name="English",
                      forced=True, autoselect=True, uri="subs.m3u8"),
            Rendition(type=MediaType.VIDEO, group_id="cam", name="Angle 2", uri="cam2.m3u8"),
            Rendition(type=MediaType.CLOSED_CAPTIONS, group_id="NONE", name="CC",
                      instream_id="SERVICE2"),
        ),
        variants=(
            VariantStream(uri="720.m3u8", bandwidth=3_000_000, average_bandwidth=2_000_000,
                          codecs="avc1.64001f,mp4a.40.2", resolution=(1280, 720),
                          frame_rate=59.94, audio="aud", video="cam", subtitles="subs",
                          closed_captions="NONE"),
        ),
        version=9,
    )
    assert parse_master(render_master(playlist)) == playlist


def test_closed_captions_none_keyword() -> None:
    playlist = MasterPlaylist(variants=(
        VariantStream(uri="a.m3u8", bandwidth=1, closed_captions=ClosedCaptions.NONE),
    ))
    assert parse_master(render_master(playlist)) == playlist


@pytest.mark.parametrize(
    "text",
    [
        "",
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\na.ts\n",
        "#EXTM3U\n#EXT-X-STREAM-INF:CODECS=\"mp4a.40.2\"\na.m3u8\n",
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=big\na.m3u8\n",
        '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,NAME="x"\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n',
        '#EXTM3U\n#EXT-X-MEDIA:TYPE=TEXT,GROUP-ID="g",NAME="x"\n'
        "#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n",
    ],
)
def test_parse_master_rejects(text: str) -> None:
    with pytest.raises(PlaylistError):
        parse_master(text)


def test_parse_master_drops_what_the_model_does_not_hold() -> None:
    text = (
        "#EXTM3U\n"
        '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100,URI="iframes.m3u8"\n'
        '#EXT-X-SESSION-DATA:DATA-ID="com.example.title",VALUE="x"\n'
        "#EXT-X-STREAM-INF:BANDWIDTH=1000,HDCP-LEVEL=NONE\n"
        "v.m3u8\n"
    )
    assert parse_master(text) == MasterPlaylist(
        variants=(VariantStream(uri="v.m3u8", bandwidth=1000),)
    )


def test_replace_keeps_models_frozen() -> None:
    segment = MediaSegment(uri="a.ts", duration=1)
    with pytest.raises(AttributeError):
        segment.uri = "b.ts"  # type: ignore[misc]
    assert replace(segment, uri="b.ts").uri == "b.ts"


def test_default_without_autoselect_reads_as_autoselect() -> None:
    # ffmpeg's master playlists leave AUTOSELECT out next to DEFAULT=YES, which is legal.
    text = (
        "#EXTM3U\n#EXT-X-VERSION:7\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="group_aud",NAME="audio_1",DEFAULT=YES,'
        'LANGUAGE="en",CHANNELS="1",URI="w1.m3u8"\n'
        "#EXT-X-STREAM-INF:BANDWIDTH=305632,AVERAGE-BANDWIDTH=285894,RESOLUTION=320x240,"
        'CODECS="avc1.64000d,mp4a.40.2",AUDIO="group_aud"\n'
        "w0.m3u8\n"
    )
    rendition = parse_master(text).renditions[0]
    assert rendition.default and rendition.autoselect
    assert "AUTOSELECT=YES" in render_master(parse_master(text))


@pytest.mark.parametrize(
    "text",
    [
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-BYTERANGE:10@0\na.ts\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:BYTERANGE=\"1@0\"\n#EXTINF:4,\na.ts\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:URI=\"i.mp4\",BYTERANGE=\"x\"\n"
        "#EXTINF:4,\na.ts\n",
    ],
)
def test_parse_media_rejects_broken_segments(text: str) -> None:
    with pytest.raises(PlaylistError):
        parse_media(text)


@pytest.mark.parametrize(("text", "master"), [
    ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n", True),
    ("\ufeff#EXTM3U\r\n#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"i.m3u8\"\r\n", True),
    ('#EXTM3U\n  #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="x",URI="a.m3u8"\n', True),
    # EXT-X-MEDIA-SEQUENCE starts like EXT-X-MEDIA; a tag's name ends at its ':'.
    ("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:4\n#EXTINF:4,\na.ts\n", False),
    ("#EXTM3U\n# #EXT-X-STREAM-INF in a comment\n#EXTINF:4,\na.ts\n", False),
    ("", False),
])
def test_is_master_playlist_goes_by_the_master_only_tags(text: str, master: bool) -> None:
    assert is_master_playlist(text) is master
