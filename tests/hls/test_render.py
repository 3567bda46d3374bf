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
    PlaylistType,
    Rendition,
    VariantStream,
    render_master,
    render_media,
)
from hlsd.hls.check import assert_valid

START = datetime(2026, 11, 21, 19, 0, tzinfo=UTC)


def seg(uri: str, duration: float = 6, **kw: object) -> MediaSegment:
    return MediaSegment(uri=uri, duration=duration, **kw)  # type: ignore[arg-type]


def test_minimal_vod_playlist_text() -> None:
    playlist = MediaPlaylist(
        target_duration=6,
        segments=(seg("a.ts"), seg("b.ts", 4)),
        playlist_type=PlaylistType.VOD,
        endlist=True,
    )
    assert render_media(playlist) == (
        "#EXTM3U\n"
        "#EXT-X-TARGETDURATION:6\n"
        "#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-PLAYLIST-TYPE:VOD\n"
        "#EXTINF:6,\n"
        "a.ts\n"
        "#EXTINF:4,\n"
        "b.ts\n"
        "#EXT-X-ENDLIST\n"
    )


def test_live_playlist_with_decimals_dates_and_discontinuity() -> None:
    playlist = MediaPlaylist(
        target_duration=6,
        media_sequence=120,
        discontinuity_sequence=3,
        independent_segments=True,
        segments=(
            seg("s120.ts", 6.006, program_date_time=START, title="first"),
            seg("s121.ts", 5.5, discontinuity=True,
                program_date_time=START + timedelta(seconds=6.006)),
        ),
    )
    assert render_media(playlist) == (
        "#EXTM3U\n"
        "#EXT-X-VERSION:3\n"
        "#EXT-X-TARGETDURATION:6\n"
        "#EXT-X-MEDIA-SEQUENCE:120\n"
        "#EXT-X-DISCONTINUITY-SEQUENCE:3\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\n"
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-21T19:00:00.000Z\n"
        "#EXTINF:6.006,first\n"
        "s120.ts\n"
        "#EXT-X-DISCONTINUITY\n"
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-21T19:00:06.006Z\n"
        "#EXTINF:5.5,\n"
        "s121.ts\n"
    )


def test_fmp4_playlist_with_maps_and_byteranges() -> None:
    playlist = MediaPlaylist(
        target_duration=4,
        init=InitSection(uri="init.mp4"),
        segments=(
            seg("all.mp4", 4, byterange=ByteRange(length=1000, offset=700)),
            seg("all.mp4", 4, byterange=ByteRange(length=900)),
            seg("b.m4s", 2, discontinuity=True,
                init=InitSection(uri="b.mp4", byterange=ByteRange(length=600, offset=0))),
        ),
        endlist=True,
    )
    assert render_media(playlist) == (
        "#EXTM3U\n"
        "#EXT-X-VERSION:6\n"
        "#EXT-X-TARGETDURATION:4\n"
        "#EXT-X-MEDIA-SEQUENCE:0\n"
        '#EXT-X-MAP:URI="init.mp4"\n'
        "#EXTINF:4,\n"
        "#EXT-X-BYTERANGE:1000@700\n"
        "all.mp4\n"
        "#EXTINF:4,\n"
        "#EXT-X-BYTERANGE:900\n"
        "all.mp4\n"
        "#EXT-X-DISCONTINUITY\n"
        '#EXT-X-MAP:URI="b.mp4",BYTERANGE="600@0"\n'
        "#EXTINF:2,\n"
        "b.m4s\n"
        "#EXT-X-ENDLIST\n"
    )


def test_first_segment_map_overrides_playlist_map() -> None:
    playlist = MediaPlaylist(
        target_duration=4,
        init=InitSection(uri="old.mp4"),
        segments=(seg("a.m4s", 4, init=InitSection(uri="new.mp4")),),
    )
    text = render_media(playlist)
    assert '#EXT-X-MAP:URI="new.mp4"' in text
    assert "old.mp4" not in text


@pytest.mark.parametrize(
    ("duration", "text"),
    [(10, "10"), (10.0, "10"), (6.006, "6.006"), (2.5, "2.5"), (1.23456, "1.235"),
     (0.0004, "0"), (3.9996, "4")],
)
def test_extinf_duration_format(duration: float, text: str) -> None:
    rendered = render_media(MediaPlaylist(target_duration=10, segments=(seg("a.ts", duration),)))
    assert f"#EXTINF:{text},\n" in rendered


def test_version_follows_features_and_explicit_version() -> None:
    base = MediaPlaylist(target_duration=6, segments=(seg("a.ts", 6),))
    assert "#EXT-X-VERSION" not in render_media(base)
    assert "#EXT-X-VERSION:7\n" in render_media(replace(base, version=7))
    byterange = replace(base, segments=(seg("a.ts", 6, byterange=ByteRange(length=1, offset=0)),))
    assert "#EXT-X-VERSION:4\n" in render_media(byterange)
    iframes = replace(base, i_frames_only=True, init=InitSection(uri="i.mp4"))
    assert "#EXT-X-VERSION:5\n" in render_media(iframes)
    with pytest.raises(ValueError, match="below"):
        render_media(replace(base, version=2, init=InitSection(uri="i.mp4")))


def test_program_date_time_is_utc_with_millis() -> None:
    local = datetime(2026, 11, 21, 20, 0, 0, 123999, tzinfo=timezone(timedelta(hours=1)))
    text = render_media(
        MediaPlaylist(target_duration=6, segments=(seg("a.ts", program_date_time=local),))
    )
    assert "#EXT-X-PROGRAM-DATE-TIME:2026-11-21T19:00:00.123Z\n" in text


@pytest.mark.parametrize(
    ("playlist", "message"),
    [
        (MediaPlaylist(target_duration=6, segments=(seg("a.ts", -1),)), "duration"),
        (MediaPlaylist(target_duration=6, segments=(seg("a.ts", float("nan")),)), "duration"),
        (MediaPlaylist(target_duration=6, segments=(seg("a.ts", 6.5),)), "target duration"),
        (MediaPlaylist(target_duration=6, segments=(seg("", 6),)), "empty"),
        (MediaPlaylist(target_duration=6, segments=(seg("a\nb.ts", 6),)), "control"),
        (MediaPlaylist(target_duration=6, segments=(seg("#a.ts", 6),)), "URI"),
        (MediaPlaylist(target_duration=6, segments=(seg(" a.ts", 6),)), "URI"),
        (MediaPlaylist(target_duration=6, segments=(seg("a.ts", title="x\ny"),)), "title"),
        (MediaPlaylist(target_duration=-1, segments=()), "target duration"),
        (MediaPlaylist(target_duration=6, segments=(), media_sequence=-1), "media sequence"),
        (MediaPlaylist(target_duration=6, segments=(), init=InitSection(uri='a"b')), "usable URI"),
        (MediaPlaylist(target_duration=6, segments=(),
                       init=InitSection(uri="i.mp4", byterange=ByteRange(length=5))), "offset"),
        (MediaPlaylist(target_duration=6, segments=(seg("a.ts", byterange=ByteRange(length=5)),)),
         "offset"),
        (MediaPlaylist(target_duration=6, segments=(
            seg("a.ts", byterange=ByteRange(length=5, offset=0)),
            seg("b.ts", byterange=ByteRange(length=5)))), "same resource"),
        (MediaPlaylist(target_duration=6, segments=(
            seg("a.ts", program_date_time=datetime(2026, 1, 1)),)), "timezone"),
        (MediaPlaylist(target_duration=6, segments=(
            seg("a.ts", program_date_time=START), seg("b.ts", program_date_time=START))),
         "does not follow"),
        (MediaPlaylist(target_duration=6, segments=(), playlist_type=PlaylistType.VOD),
         "ENDLIST"),
    ],
)
def test_media_render_rejects_illegal_models(playlist: MediaPlaylist, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_media(playlist)


AUDIO = Rendition(type=MediaType.AUDIO, group_id="aud", name="English", language="en",
                  default=True, autoselect=True, channels="2", uri="audio/en.m3u8")
SUBS = Rendition(type=MediaType.SUBTITLES, group_id="subs", name="English", language="en",
                 forced=True, uri="subs/en.m3u8")
CC = Rendition(type=MediaType.CLOSED_CAPTIONS, group_id="cc", name="English",
               instream_id="CC1")
VIDEO_720 = VariantStream(uri="720.m3u8", bandwidth=3_000_000, average_bandwidth=2_500_000,
                          codecs="avc1.64001f,mp4a.40.2", resolution=(1280, 720),
                          frame_rate=29.97, audio="aud", subtitles="subs", closed_captions="cc")


def test_master_playlist_text() -> None:
    playlist = MasterPlaylist(
        variants=(VIDEO_720, VariantStream(uri="audio.m3u8", bandwidth=128_000,
                                           codecs="mp4a.40.2", audio="aud")),
        renditions=(AUDIO, SUBS, CC),
        independent_segments=True,
    )
    text = render_master(playlist)
    assert text == (
        "#EXTM3U\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="English",LANGUAGE="en",DEFAULT=YES,'
        'AUTOSELECT=YES,CHANNELS="2",URI="audio/en.m3u8"\n'
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en",DEFAULT=NO,'
        'AUTOSELECT=NO,FORCED=YES,URI="subs/en.m3u8"\n'
        '#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="English",DEFAULT=NO,'
        'AUTOSELECT=NO,INSTREAM-ID="CC1"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2500000,'
        'CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=29.970,AUDIO="aud",'
        'SUBTITLES="subs",CLOSED-CAPTIONS="cc"\n'
        "720.m3u8\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=128000,CODECS="mp4a.40.2",AUDIO="aud"\n'
        "audio.m3u8\n"
    )
    assert_valid(text)


def test_master_closed_captions_none_and_service_version() -> None:
    none = MasterPlaylist(variants=(
        VariantStream(uri="a.m3u8", bandwidth=1, closed_captions=ClosedCaptions.NONE),
    ))
    assert "CLOSED-CAPTIONS=NONE\n" in render_master(none)
    service = MasterPlaylist(
        variants=(VariantStream(uri="a.m3u8", bandwidth=1, closed_captions="cc"),),
        renditions=(replace(CC, instream_id="SERVICE1"),),
    )
    assert render_master(service).startswith("#EXTM3U\n#EXT-X-VERSION:7\n")


@pytest.mark.parametrize(
    ("playlist", "message"),
    [
        (MasterPlaylist(variants=()), "at least one"),
        (MasterPlaylist(variants=(replace(VIDEO_720, audio="nope"),),
                        renditions=(AUDIO, SUBS, CC)), "GROUP-ID 'nope'"),
        (MasterPlaylist(variants=(replace(VIDEO_720, average_bandwidth=4_000_000),),
                        renditions=(AUDIO, SUBS, CC)), "AVERAGE-BANDWIDTH"),
        (MasterPlaylist(variants=(replace(VIDEO_720, bandwidth=-1),),
                        renditions=(AUDIO, SUBS, CC)), "BANDWIDTH"),
        (MasterPlaylist(variants=(replace(VIDEO_720, codecs='avc1"'),),
                        renditions=(AUDIO, SUBS, CC)), "quote"),
        (MasterPlaylist(variants=(replace(VIDEO_720, resolution=(0, 720)),),
                        renditions=(AUDIO, SUBS, CC)), "RESOLUTION"),
        (MasterPlaylist(variants=(replace(VIDEO_720, frame_rate=0.0),),
                        renditions=(AUDIO, SUBS, CC)), "FRAME-RATE"),
        (MasterPlaylist(variants=(VIDEO_720,),
                        renditions=(AUDIO, replace(AUDIO, name="Other"), SUBS, CC)), "DEFAULT"),
        (MasterPlaylist(variants=(VIDEO_720,), renditions=(AUDIO, AUDIO, SUBS, CC)), "named"),
        (MasterPlaylist(variants=(VIDEO_720,),
                        renditions=(replace(AUDIO, autoselect=False), SUBS, CC)), "AUTOSELECT"),
        (MasterPlaylist(variants=(VIDEO_720,),
                        renditions=(replace(AUDIO, forced=True), SUBS, CC)), "FORCED"),
        (MasterPlaylist(variants=(VIDEO_720,),
                        renditions=(AUDIO, replace(SUBS, uri=None), CC)), "need a URI"),
        (MasterPlaylist(variants=(VIDEO_720,),
                        renditions=(AUDIO, SUBS, replace(CC, uri="x"))), "cannot have a URI"),
        (MasterPlaylist(variants=(VIDEO_720,),
                        renditions=(AUDIO, SUBS, replace(CC, instream_id=None))), "INSTREAM-ID"),
        (MasterPlaylist(variants=(VIDEO_720,),
                        renditions=(replace(AUDIO, instream_id="CC1"), SUBS, CC)), "INSTREAM-ID"),
        (MasterPlaylist(variants=(
            VariantStream(uri="a.m3u8", bandwidth=1, closed_captions=ClosedCaptions.NONE),
            VariantStream(uri="b.m3u8", bandwidth=1))), "CLOSED-CAPTIONS=NONE"),
        (MasterPlaylist(variants=(replace(VIDEO_720, uri=""),),
                        renditions=(AUDIO, SUBS, CC)), "empty"),
    ],
)
def test_master_render_rejects_illegal_models(playlist: MasterPlaylist, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_master(playlist)
