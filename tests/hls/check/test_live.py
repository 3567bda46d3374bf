"""Rules between two fetches of one live playlist (RFC 8216 §6.2.2)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hlsd.hls import MediaPlaylist, MediaSegment, PlaylistType, render_media
from hlsd.hls.check import check_media_playlist

START = datetime(2026, 11, 21, 19, 0, tzinfo=UTC)
TARGET = 4


def window(first: int, count: int, *, breaks: frozenset[int] = frozenset(),
           dsn: int = 0, **kw: object) -> MediaPlaylist:
    """Segments `first`..`first+count-1` of an endless stream of 4 s segments; `breaks`
    holds the numbers of segments that start after a discontinuity."""
    segments = tuple(
        MediaSegment(uri=f"s{n}.ts", duration=4, discontinuity=n in breaks,
                     program_date_time=START + timedelta(seconds=4 * n))
        for n in range(first, first + count)
    )
    return MediaPlaylist(target_duration=TARGET, media_sequence=first,
                         discontinuity_sequence=dsn, segments=segments, **kw)  # type: ignore[arg-type]


def rules(previous: MediaPlaylist | str, current: MediaPlaylist | str) -> set[str]:
    def text(p: MediaPlaylist | str) -> str:
        return p if isinstance(p, str) else render_media(p)

    return {v.rule for v in check_media_playlist(text(current), live=True,
                                                  previous=text(previous))}


def test_sliding_window_passes() -> None:
    assert rules(window(0, 5), window(0, 5)) == set()
    assert rules(window(0, 5), window(0, 6)) == set()
    assert rules(window(0, 5), window(2, 5)) == set()
    assert rules(window(0, 5), window(40, 5)) == set()  # no overlap at all


def test_discontinuity_sequence_follows_removed_tags() -> None:
    breaks = frozenset({1, 3})
    before = window(0, 5, breaks=breaks)
    assert rules(before, window(1, 5, breaks=breaks, dsn=0)) == set()  # tag on s1 still there
    assert rules(before, window(2, 5, breaks=breaks, dsn=1)) == set()
    assert rules(before, window(4, 5, breaks=breaks, dsn=2)) == set()
    assert rules(before, window(2, 5, breaks=breaks, dsn=0)) == {"discontinuity-sequence"}
    assert rules(before, window(2, 5, breaks=breaks, dsn=2)) == {"discontinuity-sequence"}


def test_first_segment_tag_may_fold_into_the_sequence_number() -> None:
    before = window(0, 5, breaks=frozenset({1}))
    folded = window(1, 5, dsn=1)
    assert rules(before, folded) == set()
    assert rules(before, window(1, 5, dsn=0)) == {"discontinuity-sequence"}


def test_unseen_removals_give_a_lower_bound() -> None:
    before = window(0, 3, breaks=frozenset({2}))
    assert rules(before, window(10, 3, dsn=1)) == set()
    assert rules(before, window(10, 3, dsn=5)) == set()
    assert rules(before, window(10, 3, dsn=0)) == {"discontinuity-sequence"}


@pytest.mark.parametrize(
    ("rule", "previous", "current"),
    [
        ("media-sequence-decreased", window(5, 5), window(4, 5)),
        ("discontinuity-sequence-decreased", window(0, 5, dsn=3), window(0, 5, dsn=2)),
        ("target-duration-changed", window(0, 5),
         replace(window(0, 5), target_duration=TARGET + 1)),
        ("segment-uri-changed", window(0, 5),
         replace(window(0, 5), segments=(
             replace(window(0, 5).segments[0], uri="other.ts"), *window(0, 5).segments[1:]))),
        ("segment-changed", window(0, 5),
         replace(window(0, 5), segments=(
             replace(window(0, 5).segments[0], duration=3.5), *window(0, 5).segments[1:]))),
        ("segment-changed", window(0, 5), window(0, 5, breaks=frozenset({3}))),
        ("program-date-time-changed", window(0, 5),
         replace(window(0, 5), segments=(
             replace(window(0, 5).segments[0], program_date_time=START - timedelta(seconds=1)),
             *window(0, 5).segments[1:]))),
        ("segment-removed", window(0, 5), window(0, 4)),
        ("live-window-too-short", window(0, 5), window(3, 2)),
    ],
)
def test_broken_live_rule_is_reported(rule: str, previous: MediaPlaylist,
                                      current: MediaPlaylist) -> None:
    assert rule in rules(previous, current)


def test_short_window_is_fine_while_nothing_was_removed() -> None:
    assert rules(window(0, 1), window(0, 2)) == set()


def test_finished_playlists_do_not_change() -> None:
    vod = window(0, 5, playlist_type=PlaylistType.VOD, endlist=True)
    text = render_media(vod)
    found = {v.rule for v in check_media_playlist(text, previous=text)}
    assert found == set()
    longer = render_media(window(0, 6, playlist_type=PlaylistType.VOD, endlist=True))
    assert "playlist-changed" in {v.rule for v in check_media_playlist(longer, previous=text)}
    ended = render_media(window(0, 5, endlist=True))
    reopened = render_media(window(0, 6))
    assert "playlist-changed" in {v.rule for v in check_media_playlist(reopened, previous=ended)}
    assert rules(window(0, 5), window(0, 5, endlist=True)) == {"live-endlist"}


def test_event_playlists_only_grow() -> None:
    before = render_media(window(0, 5, playlist_type=PlaylistType.EVENT))
    grown = render_media(window(0, 6, playlist_type=PlaylistType.EVENT))
    slid = render_media(window(1, 5, playlist_type=PlaylistType.EVENT))
    assert check_media_playlist(grown, previous=before) == []
    assert "event-segment-removed" in {
        v.rule for v in check_media_playlist(slid, previous=before)
    }
    changed = render_media(window(0, 6))
    assert "playlist-type-changed" in {
        v.rule for v in check_media_playlist(changed, previous=before)
    }


def test_delta_updates_line_up_by_skipped_segments() -> None:
    control = "#EXT-X-SERVER-CONTROL:CAN-SKIP-UNTIL=24\n"
    full = render_media(window(0, 8)).replace("#EXT-X-TARGETDURATION:4\n",
                                              "#EXT-X-TARGETDURATION:4\n" + control)
    segments = full.split("#EXT-X-PROGRAM-DATE-TIME:")[1:]
    # A delta update (rfc8216bis §6.2.5.1) of the same playlist: the first 3 skipped.
    delta = (
        "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n"
        + control + "#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n"
        + "".join("#EXT-X-PROGRAM-DATE-TIME:" + segment for segment in segments[3:])
    )
    assert check_media_playlist(delta, previous=full) == []
    renamed = delta.replace("s5.ts", "other.ts")
    assert {v.rule for v in check_media_playlist(renamed, previous=full)} == {
        "segment-uri-changed"
    }
