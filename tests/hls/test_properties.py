"""Property tests: any valid model renders to text the rule checks accept, and parses
back to the same model."""

import contextlib
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from hlsd.hls import (
    MasterPlaylist,
    MediaPlaylist,
    MediaSegment,
    PlaylistError,
    parse_master,
    parse_media,
    render_master,
    render_media,
    with_query,
)
from hlsd.hls.check import (
    check_master_playlist,
    check_media_playlist,
    check_playlist,
    check_webvtt_segment,
)
from tests.hls.check.test_master import GOOD as MASTER_GOOD
from tests.hls.check.test_media import GOOD as MEDIA_GOOD
from tests.hls.strategies import master_playlists, media_playlists

FAST = settings(max_examples=60, deadline=None)


@FAST
@given(media_playlists())
def test_media_renders_valid_and_round_trips(playlist: MediaPlaylist) -> None:
    text = render_media(playlist)
    assert check_playlist(text) == []
    live = playlist.playlist_type is None and not playlist.endlist
    assert check_media_playlist(text, live=live if live else None) == []
    assert parse_media(text) == playlist
    assert render_media(parse_media(text)) == text


@FAST
@given(master_playlists())
def test_master_renders_valid_and_round_trips(playlist: MasterPlaylist) -> None:
    text = render_master(playlist)
    assert check_playlist(text) == []
    assert parse_master(text) == playlist
    assert render_master(parse_master(text)) == text


@FAST
@given(media_playlists(), st.sampled_from(["token=abc", "t=a%20b&x=1"]))
def test_with_query_reaches_every_uri_and_keeps_the_playlist_valid(
    playlist: MediaPlaylist, query: str
) -> None:
    text = with_query(render_media(playlist), query)
    assert check_playlist(text) == []
    parsed = parse_media(text)
    uris = [s.uri for s in parsed.segments] + [
        s.init.uri for s in parsed.segments if s.init is not None
    ] + ([parsed.init.uri] if parsed.init is not None else [])
    assert all(uri.endswith(query) for uri in uris)
    assert all(uri.count("?") == 1 for uri in uris)


@FAST
@given(master_playlists())
def test_with_query_on_masters(playlist: MasterPlaylist) -> None:
    text = with_query(render_master(playlist), "token=abc")
    assert check_playlist(text) == []
    parsed = parse_master(text)
    uris = [v.uri for v in parsed.variants] + [r.uri for r in parsed.renditions if r.uri]
    assert all(uri.endswith("token=abc") and uri.count("?") == 1 for uri in uris)


@st.composite
def live_fetches(draw: st.DrawFn) -> tuple[MediaPlaylist, MediaPlaylist]:
    """Two windows onto one endless stream, the second fetched no earlier."""
    target = 4
    count = draw(st.integers(1, 30))
    stream = [
        MediaSegment(uri=f"s{n}.ts", duration=draw(st.integers(2000, 4000)) / 1000,
                     discontinuity=draw(st.booleans()))
        for n in range(count)
    ]

    def window(first: int, end: int) -> MediaPlaylist:
        return MediaPlaylist(
            target_duration=target, media_sequence=first,
            discontinuity_sequence=sum(s.discontinuity for s in stream[:first]),
            segments=tuple(stream[first:end]),
        )

    first_a = draw(st.integers(0, count - 1))
    end_a = draw(st.integers(first_a, count))
    end_b = draw(st.integers(end_a, count))
    # Removing segments must leave three target durations (RFC 8216 §6.2.2): 6 s x 2.
    first_b = draw(st.integers(first_a, max(first_a, end_b - 6)))
    return window(first_a, end_a), window(first_b, end_b)


@FAST
@given(live_fetches())
def test_consistent_live_windows_pass_the_live_rules(
    fetches: tuple[MediaPlaylist, MediaPlaylist],
) -> None:
    before, after = (render_media(p) for p in fetches)
    assert check_media_playlist(after, live=True, previous=before) == []


@FAST
@given(live_fetches())
def test_a_wrong_discontinuity_sequence_is_caught(
    fetches: tuple[MediaPlaylist, MediaPlaylist],
) -> None:
    before, after = fetches
    if not before.segments:
        return
    wrong = replace(after, discontinuity_sequence=after.discontinuity_sequence + 1)
    found = {v.rule for v in check_media_playlist(render_media(wrong),
                                                   previous=render_media(before))}
    overlap = after.media_sequence <= before.media_sequence + len(before.segments)
    if overlap:
        assert "discontinuity-sequence" in found


_FRAGMENTS = st.sampled_from([
    "#EXTM3U", "#EXT-X-VERSION:", "#EXT-X-TARGETDURATION:", "#EXTINF:", "#EXT-X-BYTERANGE:",
    "#EXT-X-MAP:", "URI=", '"', ",", "@", "#EXT-X-STREAM-INF:", "BANDWIDTH=", "#EXT-X-MEDIA:",
    "TYPE=AUDIO", "GROUP-ID=", "NAME=", "#EXT-X-PROGRAM-DATE-TIME:", "2026-11-21T19:00:00Z",
    "#EXT-X-DISCONTINUITY", "#EXT-X-ENDLIST", "#EXT-X-PLAYLIST-TYPE:", "VOD", "#EXT-X-KEY:",
    "METHOD=NONE", "#EXT-X-SKIP:", "#EXT-X-I-FRAME-STREAM-INF:", "a.ts", "\n", "\r\n", " ",
    "1", "4.5", "-1", "x", "\ufeff", "\u2028", "#", "CLOSED-CAPTIONS=NONE", "RESOLUTION=1x",
    "\u00b2", "\u0663",
])
_JUNK = st.lists(_FRAGMENTS | st.text(max_size=3), max_size=40).map("".join)


@settings(max_examples=150, deadline=None)
@given(_JUNK, _JUNK)
def test_any_text_gives_violations_or_playlist_error_never_a_crash(
    text: str, previous: str
) -> None:
    check_playlist(text, live=True, previous=previous)
    check_media_playlist(text, previous=previous)
    check_master_playlist(text)
    check_webvtt_segment(text)
    for parse in (parse_media, parse_master):
        with contextlib.suppress(PlaylistError):
            parse(text)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from([MEDIA_GOOD, MASTER_GOOD]),
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 3), st.text(max_size=3)),
             max_size=6),
)
def test_damaged_playlists_never_crash_the_checks(
    base: str, edits: list[tuple[int, int, str]]
) -> None:
    text = base
    for position, removed, inserted in edits:
        position %= len(text) + 1
        text = text[:position] + inserted + text[position + removed :]
    check_playlist(text, previous=base)
    check_playlist(base, previous=text)
    for parse in (parse_media, parse_master):
        with contextlib.suppress(PlaylistError):
            parse(text)
