import pytest

from hlsd.hls import with_query

MEDIA = (
    "#EXTM3U\n"
    "#EXT-X-VERSION:6\n"
    "#EXT-X-TARGETDURATION:6\n"
    '#EXT-X-KEY:METHOD=AES-128,URI="key.bin",IV=0x1\n'
    '#EXT-X-MAP:URI="init.mp4",BYTERANGE="600@0"\n'
    "#EXTINF:6,title with URI=\"x\"\n"
    "seg0.m4s\n"
    "#EXTINF:6,\n"
    "seg1.m4s?v=2\n"
    "# a comment with URI=\"c\"\n"
    "\n"
    "#EXTINF:6,\n"
    "seg2.m4s#t=1\n"
)


def test_media_uris_and_attributes_get_the_query() -> None:
    assert with_query(MEDIA, "token=abc") == (
        "#EXTM3U\n"
        "#EXT-X-VERSION:6\n"
        "#EXT-X-TARGETDURATION:6\n"
        '#EXT-X-KEY:METHOD=AES-128,URI="key.bin?token=abc",IV=0x1\n'
        '#EXT-X-MAP:URI="init.mp4?token=abc",BYTERANGE="600@0"\n'
        "#EXTINF:6,title with URI=\"x\"\n"
        "seg0.m4s?token=abc\n"
        "#EXTINF:6,\n"
        "seg1.m4s?v=2&token=abc\n"
        "# a comment with URI=\"c\"\n"
        "\n"
        "#EXTINF:6,\n"
        "seg2.m4s?token=abc#t=1\n"
    )


def test_master_uris_and_attributes_get_the_query() -> None:
    text = (
        "#EXTM3U\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="x,URI=y",URI="audio/en.m3u8?lang=en&"\n'
        '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1000,URI="iframe.m3u8"\n'
        '#EXT-X-SESSION-DATA:DATA-ID="com.x",URI="data.json"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=1000,CODECS="avc1.4d401e"\n'
        "v/index.m3u8\n"
    )
    assert with_query(text, "t=1") == (
        "#EXTM3U\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="x,URI=y",URI="audio/en.m3u8?lang=en&t=1"\n'
        '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1000,URI="iframe.m3u8?t=1"\n'
        '#EXT-X-SESSION-DATA:DATA-ID="com.x",URI="data.json?t=1"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=1000,CODECS="avc1.4d401e"\n'
        "v/index.m3u8?t=1\n"
    )


def test_crlf_lines_keep_their_endings() -> None:
    assert with_query("#EXTM3U\r\n#EXTINF:1,\r\na.ts\r\n", "t=1") == (
        "#EXTM3U\r\n#EXTINF:1,\r\na.ts?t=1\r\n"
    )


def test_leading_separator_and_empty_query() -> None:
    assert with_query("#EXTM3U\na.ts\n", "?t=1") == "#EXTM3U\na.ts?t=1\n"
    assert with_query("#EXTM3U\na.ts\n", "") == "#EXTM3U\na.ts\n"
    assert with_query("#EXTM3U\na.ts?\n", "t=1") == "#EXTM3U\na.ts?t=1\n"


def test_absolute_and_other_scheme_uris() -> None:
    text = (
        "#EXTM3U\n"
        '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://key-id",KEYFORMAT="com.apple.streamingkeydelivery"\n'
        '#EXT-X-KEY:METHOD=AES-128,URI="data:text/plain;base64,AAAA"\n'
        "#EXTINF:1,\n"
        "https://cdn.example/a.ts\n"
        "#EXTINF:1,\n"
        "//cdn.example/b.ts\n"
        "#EXTINF:1,\n"
        "/abs/c.ts\n"
    )
    everywhere = with_query(text, "t=1")
    assert 'URI="skd://key-id"' in everywhere
    assert 'URI="data:text/plain;base64,AAAA"' in everywhere
    assert "https://cdn.example/a.ts?t=1\n" in everywhere
    assert "//cdn.example/b.ts?t=1\n" in everywhere
    relative = with_query(text, "t=1", relative_only=True)
    assert "https://cdn.example/a.ts\n" in relative
    assert "//cdn.example/b.ts\n" in relative
    assert "/abs/c.ts?t=1\n" in relative


@pytest.mark.parametrize("query", ['t="x"', "t=a b", "t=1\n#EXT-X-ENDLIST", "t=1#f"])
def test_query_that_could_rewrite_the_playlist_is_refused(query: str) -> None:
    with pytest.raises(ValueError, match="URL-encoded"):
        with_query("#EXTM3U\na.ts\n", query)
