"""Low-Latency HLS between fetches of one playlist, and against the Delivery Directives
of the request (rfc8216bis §4.4.5.3, §6.2.1-6.2.2, §6.2.5-6.2.6): pairs and triples of
fetches of the stream of `ll_playlists`."""

from __future__ import annotations

import pytest

from hlsd.hls.check import DeliveryDirectives, SkipRequest, check_media_playlist
from tests.hls.check.ll_playlists import (
    APPLE,
    APPLE_DELTA,
    BYTES_1,
    BYTES_2,
    DELTA_B,
    A,
    B,
    C,
)

PLAIN = DeliveryDirectives()


def rules(previous: str | None, current: str,
          directives: DeliveryDirectives | None = None) -> set[str]:
    return {v.rule for v in check_media_playlist(current, previous=previous,
                                                 directives=directives)}


def sequence(*texts: str, directives: list[DeliveryDirectives | None] | None = None
             ) -> list[set[str]]:
    """The findings of each fetch after the first against the one before it."""
    asked = directives or [None] * len(texts)
    return [rules(before, after, ask) for before, after, ask
            in zip(texts[:-1], texts[1:], asked[1:], strict=True)]


def test_a_live_edge_moving_forward_passes() -> None:
    assert sequence(A, B, C) == [set(), set()]
    assert sequence(A, C) == [set()]  # two parts at once: the hint is among them
    assert sequence(A, A, B) == [set(), set()]  # no new part yet
    assert sequence(BYTES_1, BYTES_2) == [set()]  # the hint's bytes are the next part's
    assert sequence(APPLE, APPLE_DELTA) == [set()]


def test_sliding_the_window_and_dropping_old_parts_passes() -> None:
    # Segment 100 leaves the window, and the first two parts of segment 108 go.
    slid = C.replace("#EXT-X-MEDIA-SEQUENCE:100", "#EXT-X-MEDIA-SEQUENCE:101").replace(
        "#EXTINF:2.0,\nseg100.mp4\n", "").replace(
        '#EXT-X-PART:DURATION=0.5,URI="part108.0.mp4",INDEPENDENT=YES\n'
        '#EXT-X-PART:DURATION=0.5,URI="part108.1.mp4"\n', "")
    assert sequence(A, B, C, slid) == [set(), set(), set()]


def test_the_last_part_never_goes_back() -> None:
    assert sequence(B, A) == [{"last-part-decreased"}]
    # Segment 110 was whole, and is a part short again.
    assert sequence(A, C, B) == [set(), {"last-part-decreased", "segment-removed"}]
    (violation,) = check_media_playlist(A, previous=B)
    assert violation.message == (
        "the playlist reached MSN 110 part 2 and now ends at MSN 110 part 1")


@pytest.mark.parametrize(("old", "new"), [
    ('DURATION=0.5,URI="part110.1.mp4"', 'DURATION=0.48,URI="part110.1.mp4"'),
    ('URI="part110.1.mp4"', 'URI="part110.1b.mp4"'),
    ('URI="part110.0.mp4",INDEPENDENT=YES', 'URI="part110.0.mp4"'),
    ('URI="part109.2.mp4"', 'URI="part109.2.mp4",INDEPENDENT=YES'),
])
def test_a_listed_part_keeps_its_uri_duration_and_independence(old: str, new: str) -> None:
    assert sequence(A, B.replace(old, new)) == [{"part-changed"}]


def test_a_part_changed_names_what_it_was() -> None:
    changed = B.replace('DURATION=0.5,URI="part110.1.mp4"', 'DURATION=0.48,URI="part110.1.mp4"')
    (violation,) = check_media_playlist(changed, previous=A)
    assert (violation.line, violation.message) == (
        38, "part 1 of MSN 110 was part110.1.mp4 (0.5 s) and is now part110.1.mp4 (0.48 s)")
    ranged = BYTES_2.replace('BYTERANGE="23000@20000"', 'BYTERANGE="23001@20000"')
    (violation,) = check_media_playlist(ranged, previous=BYTES_1)
    assert violation.message == (
        "part 1 of MSN 271 was fs271.mp4 (1.02 s, BYTERANGE=23000@20000) and is now "
        "fs271.mp4 (1.02 s, BYTERANGE=23001@20000)")


def test_parts_go_oldest_first() -> None:
    # A part of segment 109 vanished while segment 108 kept all of its parts.
    holed = B.replace('#EXT-X-PART:DURATION=0.5,URI="part109.0.mp4",INDEPENDENT=YES\n', "")
    assert "part-changed" in rules(A, holed)


def test_parts_seen_of_a_segment_fit_its_extinf_once_whole() -> None:
    # Segment 110 made whole with its parts already gone, but 0.8 s long: the 1 s of
    # parts seen before do not fit in it.
    whole = "".join(line + "\n" for line in C.splitlines()
                    if not line.startswith("#EXT-X-PART:")).replace(
        "#EXTINF:2.0,\nseg110.mp4", "#EXTINF:0.8,\nseg110.mp4")
    assert "part-sum" in rules(A, whole)
    assert "part-sum" not in rules(A, whole.replace("#EXTINF:0.8,", "#EXTINF:2.0,"))


def test_the_hinted_part_is_the_next_one_published() -> None:
    other = B.replace('URI="part110.2.mp4"', 'URI="other110.2.mp4"')
    assert sequence(A, other) == [{"preload-hint-unfulfilled"}]
    (violation,) = check_media_playlist(other, previous=A)
    assert violation.message == ("the previous playlist hinted part110.2.mp4, but the next "
                                 "part published is other110.2.mp4")
    # A byte range hint: the next part must start at BYTERANGE-START.
    moved = BYTES_2.replace('BYTERANGE="19000@61000"', 'BYTERANGE="19000@62000"')
    assert "preload-hint-unfulfilled" in rules(BYTES_1, moved)


def test_a_delta_update_lines_up_with_the_full_playlist_before_it() -> None:
    assert sequence(A, DELTA_B, C) == [set(), set()]
    assert sequence(DELTA_B, C) == [set()]
    # The server counted EXT-X-MEDIA-SEQUENCE from the first segment listed.
    shifted = DELTA_B.replace("#EXT-X-MEDIA-SEQUENCE:100", "#EXT-X-MEDIA-SEQUENCE:103")
    assert rules(A, shifted) == {"delta-misaligned"}
    (violation,) = check_media_playlist(shifted, previous=A)
    assert violation.message == ("after skipping 3 segments the delta update lists "
                                 "seg103.mp4 as MSN 106, which was seg106.mp4")
    # Skipped segments the client never had: the window moved past the last fetch.
    far = DELTA_B.replace("#EXT-X-MEDIA-SEQUENCE:100", "#EXT-X-MEDIA-SEQUENCE:120")
    assert "delta-misaligned" in rules(A, far)


def test_a_blocking_reload_contains_what_it_asked_for() -> None:
    def ask(msn: int, part: int | None = None) -> DeliveryDirectives:
        return DeliveryDirectives(msn=msn, part=part)

    assert rules(A, B, ask(110, 2)) == set()
    assert rules(A, A, ask(110, 2)) == {"blocking-reload-early"}
    # Part 4 of segment 110, which has four: the first part of segment 111 (§6.2.5.2).
    assert rules(B, C, ask(110, 3)) == set()
    assert rules(B, C, ask(110, 4)) == {"blocking-reload-early"}
    assert rules(B, C, ask(111, 0)) == {"blocking-reload-early"}
    assert rules(A, C, ask(110)) == set()  # the whole segment 110
    assert rules(A, B, ask(110)) == {"blocking-reload-early"}
    assert rules(A, B, ask(105, 1)) == set()  # long there: answered at once
    (violation,) = check_media_playlist(A, directives=ask(110, 2))
    assert violation.message == ("a blocking reload asked for MSN 110 part 2 but was "
                                 "answered with a playlist that ends at MSN 110 part 1")
    # A server ignores directives on a finished playlist.
    ended = A.replace('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part110.2.mp4"\n', "") + \
        "#EXT-X-ENDLIST\n"
    assert rules(None, ended, ask(120, 0)) == set()


def test_a_delta_update_only_answers_a_request_for_one() -> None:
    assert rules(None, DELTA_B, PLAIN) == {"skip-unrequested"}
    assert rules(None, DELTA_B, DeliveryDirectives(skip=SkipRequest.YES)) == set()
    assert rules(None, DELTA_B, None) == set()  # what was asked is not known
    # Asked for one, with segments past the Skip Boundary: it must be one.
    assert rules(None, B, DeliveryDirectives(skip=SkipRequest.YES)) == {"delta-update-missing"}
    # Nothing past the boundary (segment 104 onwards: 12 s), so nothing to skip.
    short = B.replace("#EXT-X-MEDIA-SEQUENCE:100", "#EXT-X-MEDIA-SEQUENCE:104").replace(
        "#EXTINF:2.0,\nseg100.mp4\n#EXTINF:2.0,\nseg101.mp4\n#EXTINF:2.0,\nseg102.mp4\n"
        "#EXTINF:2.0,\nseg103.mp4\n", "")
    assert rules(None, short, DeliveryDirectives(skip=SkipRequest.YES)) == set()


def test_a_v2_delta_update_lists_recently_removed_dateranges() -> None:
    v2 = DeliveryDirectives(skip=SkipRequest.V2)
    assert rules(None, DELTA_B, v2) == {"skip-dateranges-missing"}
    listed = DELTA_B.replace("#EXT-X-VERSION:9", "#EXT-X-VERSION:10").replace(
        "SKIPPED-SEGMENTS=3", 'SKIPPED-SEGMENTS=3,RECENTLY-REMOVED-DATERANGES=""').replace(
        "CAN-SKIP-UNTIL=12.0", "CAN-SKIP-UNTIL=12.0,CAN-SKIP-DATERANGES=YES")
    assert rules(None, listed, v2) == set()


def test_a_blocking_delta_reload_is_checked_on_both_counts() -> None:
    asked = DeliveryDirectives(msn=110, part=2, skip=SkipRequest.YES)
    assert sequence(A, DELTA_B, directives=[None, asked]) == [set()]
    assert sequence(A, B, directives=[None, asked]) == [{"delta-update-missing"}]
    apple = DeliveryDirectives(msn=273, part=3, skip=SkipRequest.YES)
    assert sequence(APPLE, APPLE_DELTA, directives=[None, apple]) == [set()]
