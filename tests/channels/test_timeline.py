"""Channel playlists as a pure function of the schedule and the clock: fetched at
simulated instants across loop and item boundaries, checked by hlsd's RFC 8216 rules
(including the rules between two fetches of one playlist), and by property tests."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hlsd.channels import Channel, ChannelSpec, Program, ProgramVariant, SourceKind
from hlsd.channels.ladder import LadderError, shared_ladder, variant_map
from hlsd.channels.schedule import Item, Mode, Revision, ScheduleError, Source, lay_out
from hlsd.channels.service import target_duration
from hlsd.hls import parse_media
from hlsd.hls.check import assert_valid

T0 = 1_800_000_000_000_000  # a fixed epoch, in microseconds
S = 1_000_000
LADDER = ((900_000, (640, 360)), (350_000, (320, 180)))


def program(ref: str, durations: list[int], ladder: tuple[tuple[int, tuple[int, int]], ...]
            = LADDER) -> Program:
    return Program(kind=SourceKind.LIBRARY, ref=ref, variants=tuple(
        ProgramVariant(bandwidth=bw, codecs="avc1.64001e,mp4a.40.2", resolution=size,
                       durations_us=tuple(durations),
                       uris=tuple(f"{ref}/v{n}/{i}.ts" for i in range(len(durations))))
        for n, (bw, size) in enumerate(ladder)))


def item(id_: str, ref: str, start: int | None = None) -> Item:
    return Item(id=id_, source=Source(kind=SourceKind.LIBRARY, ref=ref), start_us=start)


def spec_of(programs: list[Program], revisions: tuple[Revision, ...], *, target: int = 4,
            window: int = 16 * S) -> ChannelSpec:
    return ChannelSpec(name="ch", created_us=T0, target_duration=target, window_us=window,
                       ladder=shared_ladder(programs), revisions=revisions,
                       programs={p.key: p for p in programs})


def loop_spec(programs: list[Program], **kw: int) -> ChannelSpec:
    items = tuple(item(f"i{n}", p.ref) for n, p in enumerate(programs))
    return spec_of(programs, (Revision(effective_us=T0, opening_discontinuity=False,
                                       mode=Mode.LOOP, items=items),), **kw)


A = program("a", [4 * S, 4 * S, 2 * S])  # 10 s
B = program("b", [3 * S, 3 * S])  # 6 s


def fetches(channel: Channel, variant: int, times: range) -> list[str]:
    out = []
    for t in times:
        playlist = channel.media(variant, T0 + t * S)
        assert playlist is not None
        out.append(playlist.body.decode())
    return out


def test_playlists_across_loops_follow_the_live_rules_and_variants_agree() -> None:
    channel = Channel(spec=loop_spec([A, B]))
    times = range(16, 16 + 3 * 16 + 1)  # three loops of 16 s, every second
    texts = {v: fetches(channel, v, times) for v in (0, 1)}
    for v in (0, 1):
        previous = None
        for text in texts[v]:
            assert_valid(text, live=True, previous=previous)
            previous = text
    for high, low in zip(texts[0], texts[1], strict=True):
        a, b = parse_media(high), parse_media(low)
        assert (a.media_sequence, a.discontinuity_sequence, a.target_duration) == \
               (b.media_sequence, b.discontinuity_sequence, b.target_duration)
        assert [(s.program_date_time, s.discontinuity, s.duration) for s in a.segments] == \
               [(s.program_date_time, s.discontinuity, s.duration) for s in b.segments]
        assert [s.uri.replace("/v0/", "/") for s in a.segments] == \
               [s.uri.replace("/v1/", "/") for s in b.segments]


def test_numbers_and_air_times_at_chosen_instants() -> None:
    # Loop of 16 s: a0 a1 a2 (0, 4, 8) | b0 b1 (10, 13); MSN 5 is a0 of loop two at 16 s.
    channel = Channel(spec=loop_spec([A, B]))
    at_33 = parse_media(channel.media(0, T0 + 33 * S).body.decode())  # type: ignore[union-attr]
    # Aired by 33 s: up to b0 of loop 2 (26..29 s); 29..32 is b1 (ends 32 <= 33).
    assert at_33.segments[-1].uri.endswith("/1.ts")
    last_pdt = at_33.segments[-1].program_date_time
    assert last_pdt is not None and last_pdt.timestamp() == (T0 + 29 * S) / S
    assert at_33.media_sequence + len(at_33.segments) - 1 == 9  # b1 of loop two
    # Window back 16 s from 32: b1 loop 2 (3), b0 (3), a2 (2), a1 (4), a0 (4) = 16
    assert at_33.media_sequence == 5
    # Tags before MSN 5: b0 of loop one (MSN 3); MSN 5 opens loop two, and carries its own.
    assert at_33.discontinuity_sequence == 1
    assert at_33.segments[0].discontinuity
    assert [s.discontinuity for s in at_33.segments] == [True, False, False, True, False]
    assert at_33.target_duration == 4


def test_the_same_instant_gives_the_same_bytes_on_every_node_and_after_a_restart() -> None:
    spec = loop_spec([A, B])
    restored = ChannelSpec.from_json("ch", spec.version, spec.to_json())
    for t in (16, 17.5, 1000, 86_400 * 365):
        now = T0 + int(t * S)
        one, other = Channel(spec=spec).media(1, now), Channel(spec=restored).media(1, now)
        assert one is not None and one == other


def test_a_revision_takes_over_at_a_clip_boundary_and_numbering_carries_on() -> None:
    spec = loop_spec([A, B])
    timeline = spec.timeline()
    at = timeline.next_boundary(T0 + 21 * S, clip=True)
    assert at == T0 + 26 * S  # b of loop two starts at 26 s
    airing = timeline.on_air(at)
    assert airing is not None and airing.start_us == at
    c = program("c", [2 * S, 2 * S])
    revised = replace(spec, programs={**spec.programs, c.key: c}, revisions=(
        *spec.revisions,
        Revision(effective_us=at, base_msn=airing.msn, base_dsn=timeline.dsn(airing.msn),
                 mode=Mode.LOOP, items=(item("i9", "c"),))))
    old, new = Channel(spec=spec), Channel(spec=revised)
    # Before the change, both agree: what players saw never changes.
    assert fetches(old, 0, range(16, 27)) == fetches(new, 0, range(16, 27))
    texts = fetches(new, 0, range(16, 60))
    for previous, text in itertools.pairwise(texts):
        assert_valid(text, live=True, previous=previous)
    tail = parse_media(texts[-1])
    assert all(s.uri.startswith(c.key) for s in tail.segments)


def test_timed_items_start_on_time_with_slate_in_the_gaps() -> None:
    revision = Revision(effective_us=T0, opening_discontinuity=False, mode=Mode.TIMED,
                        items=(item("i1", "a", T0 + 7 * S), item("i2", "b", T0 + 30 * S)))
    spec = spec_of([A, B], (revision,))
    channel = Channel(spec=spec)
    text = channel.media(0, T0 + 45 * S).body.decode()  # type: ignore[union-attr]
    assert_valid(text, live=True)
    playlist = parse_media(text)
    starts = {s.uri: s.program_date_time.timestamp() for s in playlist.segments  # type: ignore[union-attr]
              if s.discontinuity}
    b_first = next(u for u in starts if u.startswith(B.key))
    assert starts[b_first] == (T0 + 30 * S) / S
    slates = [s for s in playlist.segments if s.uri.startswith("slate-")]
    assert slates and all(s.duration <= 4 for s in slates)
    # After the last item, slate plays on (a timed schedule never runs dry).
    later = parse_media(channel.media(0, T0 + 3600 * S).body.decode())  # type: ignore[union-attr]
    assert all(s.uri.startswith("slate-") for s in later.segments)
    texts = fetches(channel, 0, range(10, 80))
    for previous, text in itertools.pairwise(texts):
        assert_valid(text, live=True, previous=previous)


def test_overlapping_timed_items_are_refused() -> None:
    revision = Revision(effective_us=T0, mode=Mode.TIMED,
                        items=(item("i1", "a", T0 + 5 * S), item("i2", "b", T0 + 9 * S)))
    with pytest.raises(ScheduleError, match="i2 starts before"):
        lay_out(revision, {A.key: A, B.key: B}, slate_segment_frames=100)


def test_a_program_missing_a_rung_is_refused_by_name() -> None:
    single = program("s", [4 * S], ladder=((500_000, (640, 360)),))
    ladder = shared_ladder([A, B])
    with pytest.raises(LadderError, match="320x180"):
        variant_map(single, ladder)
    assert [r.resolution for r in shared_ladder([A, single])] == [(640, 360)]
    with pytest.raises(LadderError, match="share no rendition"):
        shared_ladder([A, program("x", [4 * S], ladder=((1, (1920, 1080)),))])


# -- properties ---------------------------------------------------------------------

durations = st.lists(st.integers(min_value=S // 2, max_value=4 * S), min_size=1, max_size=6)


@st.composite
def schedules(draw: st.DrawFn) -> tuple[ChannelSpec, list[int]]:
    programs = [program(f"p{n}", draw(durations))
                for n in range(draw(st.integers(min_value=1, max_value=4)))]
    target = max(target_duration(p) for p in programs)
    window = draw(st.integers(min_value=3 * target * S, max_value=40 * S))
    spec = loop_spec(programs, target=target, window=window)
    # Changes at clip boundaries, each a new loop over a random subset.
    revisions = list(spec.revisions)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        timeline = replace(spec, revisions=tuple(revisions)).timeline()
        when = revisions[-1].effective_us + draw(st.integers(min_value=1, max_value=60 * S))
        at = timeline.next_boundary(when, clip=draw(st.booleans()))
        airing = timeline.on_air(at)
        assert airing is not None
        chosen = draw(st.lists(st.sampled_from(programs), min_size=1, max_size=4))
        revisions.append(Revision(
            effective_us=at, base_msn=airing.msn, base_dsn=timeline.dsn(airing.msn),
            mode=Mode.LOOP, items=tuple(item(f"r{n}", p.ref) for n, p in enumerate(chosen))))
    times = sorted(draw(st.lists(st.integers(min_value=0, max_value=600 * S), min_size=2,
                                 max_size=25)))
    # A channel goes on air already a window and a target duration old (as the service
    # makes it), so its first playlist is full.
    return replace(spec, revisions=tuple(revisions)), [T0 + window + 2 * target * S + t
                                                       for t in times]


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(schedules())
def test_properties_over_random_schedules_and_clocks(case: tuple[ChannelSpec, list[int]]
                                                     ) -> None:
    spec, times = case
    channel = Channel(spec=spec)
    previous_text: str | None = None
    previous_msn = -1
    previous_dsn = -1
    for now in times:
        rendered = channel.media(0, now)
        assert rendered is not None
        text = rendered.body.decode()
        playlist = parse_media(text)
        # The MSN and the discontinuity sequence never decrease.
        assert playlist.media_sequence >= previous_msn
        assert playlist.discontinuity_sequence >= previous_dsn
        # The window lasts at least three target durations.
        assert sum(s.duration for s in playlist.segments) >= 3 * playlist.target_duration
        # Same clock, same bytes, from a channel compiled afresh.
        assert Channel(spec=spec).media(0, now) == rendered
        assert_valid(text, live=True, previous=previous_text)
        previous_text, previous_msn = text, playlist.media_sequence
        previous_dsn = playlist.discontinuity_sequence


def test_a_filler_plays_whole_in_the_gaps_then_slate_makes_up_the_rest() -> None:
    filler = program("f", [2 * S, 2 * S])  # 4 s
    revision = Revision(effective_us=T0, opening_discontinuity=False, mode=Mode.TIMED,
                        items=(item("i1", "a", T0 + 11 * S),),
                        filler=Source(kind=SourceKind.LIBRARY, ref="f"))
    spec = spec_of([A, filler], (revision,), window=30 * S)
    text = Channel(spec=spec).media(0, T0 + 30 * S).body.decode()  # type: ignore[union-attr]
    assert_valid(text, live=True)
    playlist = parse_media(text)
    owners = [s.uri.split("/")[0] for s in playlist.segments]
    # 11 s before the item: the filler twice (8 s), then 3 s of slate, then the item.
    assert owners[:4] == [filler.key] * 4
    assert owners[4].startswith("slate-") and owners[5] == A.key
    item_start = playlist.segments[owners.index(A.key)].program_date_time
    assert item_start is not None and item_start.timestamp() == (T0 + 11 * S) / S
    # After the item, the filler loops on.
    later = parse_media(Channel(spec=spec).media(0, T0 + 60 * S).body.decode())  # type: ignore[union-attr]
    assert {s.uri.split("/")[0] for s in later.segments} == {filler.key}
