"""Channels made, changed and played through the services, on a real database, from real
HLS VOD assets (made by ffmpeg), with the clock injected: playlists at simulated times
across loop and item boundaries, two nodes and a restart, changes while on air, and
every kind of bad input."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from hlsd.channels import (
    ChannelError,
    ChannelService,
    ChannelSpec,
    ItemRequest,
    Mode,
    Playout,
    ScheduleRequest,
    Source,
    SourceKind,
)
from hlsd.channels.channel import Unknown, air_tick
from hlsd.db.engine import init_schema, make_engine, session_factory
from hlsd.errors import Conflict, Invalid
from hlsd.hls import parse_master, parse_media
from hlsd.hls.check import assert_valid
from hlsd.infra.cache import Cache, Caches
from hlsd.infra.statuses import status_of
from hlsd.media.retime import TICKS_PER_SECOND, first_timestamp
from hlsd.storage import LocalStore
from tests._support.clock import FakeClock
from tests._support.hls_vod import abr_vod, media_only_vod

T0 = 1_900_000_000.0


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("library")
    abr_vod(root / "a", seconds=6, segment=2, tone=440)
    abr_vod(root / "b", seconds=4, segment=2, tone=660, pattern="testsrc")
    abr_vod(root / "single", seconds=4, segment=2, sizes=("640x360",), bitrates=("800k",))
    media_only_vod(root / "bare", seconds=4, segment=2, size="640x360")
    return root


class Node:
    """One hlsd node's channel services over a shared database and library."""

    def __init__(self, sessions: object, library: Path, clock: FakeClock,
                 client: httpx.AsyncClient) -> None:
        self.service = ChannelService(
            sessions=sessions, library=library, client=client,  # type: ignore[arg-type]
            store=LocalStore(library / ".objects"), packagers={}, window=12.0,
            max_channels=10, max_items=50, max_playlist_bytes=1 << 20, refresh=1.0, clock=clock)
        self.playout = Playout(service=self.service, library=library, packagers={},
                               client=client, store=LocalStore(library / ".objects"),
                               served=Cache("served", max_entries=1000, max_bytes=1 << 24,
                                            size=len, max_entry=1 << 22),
                               slates=Cache("slates", max_entries=1000, max_bytes=1 << 24,
                                            size=len, max_entry=1 << 22),
                               caches=Caches(),
                               refresh=1.0, max_compiled=10, max_segment_bytes=1 << 24,
                               clock=clock)

    async def segment(self, name: str, uri: str) -> bytes:
        """Segment `uri` of variant 0's playlist, as a player would ask for it now."""
        channel = await self.playout.channel(name)
        assert channel is not None
        key, tick, index = uri.split("/")
        part = channel.segment(0, key, int(tick), int(index[:-3]), self.playout.now_us())
        return await self.playout.segment(channel.cache_key(0, key, int(tick), int(index[:-3])),
                                          part)

    async def media(self, name: str, variant: int) -> str:
        channel = await self.playout.channel(name)
        assert channel is not None
        playlist = channel.media(variant, self.playout.now_us())
        assert playlist is not None
        return playlist.body.decode()


@pytest_asyncio.fixture
async def rig(tmp_path: Path, assets: Path) -> AsyncIterator[tuple[FakeClock, Node, Node, Path]]:
    library = tmp_path / "library"
    shutil.copytree(assets, library)
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'hlsd.db'}")
    await init_schema(engine)
    sessions = session_factory(engine)
    clock = FakeClock(T0)
    async with httpx.AsyncClient() as client:
        yield (clock, Node(sessions, library, clock, client),
               Node(sessions, library, clock, client), library)
    await engine.dispose()


def lib(ref: str) -> Source:
    return Source(kind=SourceKind.LIBRARY, ref=ref)


def loop(*refs: str, **more: object) -> ScheduleRequest:
    return ScheduleRequest(mode=Mode.LOOP, items=tuple(ItemRequest(source=lib(r))
                                                       for r in refs), **more)  # type: ignore[arg-type]


async def test_a_channel_of_two_abr_assets_across_loop_boundaries(rig: tuple) -> None:
    clock, node, other, _ = rig
    spec = await node.service.create("news", loop("a/master.m3u8", "b/master.m3u8"))
    assert [r.resolution for r in spec.ladder] == [(640, 360), (320, 180)]
    assert spec.target_duration == 2
    master = parse_master((await node.playout.channel("news")).master().body.decode())  # type: ignore[union-attr]
    assert [v.uri for v in master.variants] == ["0/index.m3u8", "1/index.m3u8"]
    assert all(v.codecs and v.resolution for v in master.variants)
    previous: dict[int, str | None] = {0: None, 1: None}
    msns = []
    for _ in range(30):  # 30 s: three loops of 10 s
        texts = {v: await node.media("news", v) for v in (0, 1)}
        for v, text in texts.items():
            assert_valid(text, live=True, previous=previous[v])
            previous[v] = text
        high, low = parse_media(texts[0]), parse_media(texts[1])
        assert (high.media_sequence, high.discontinuity_sequence) == \
               (low.media_sequence, low.discontinuity_sequence)
        assert [(s.program_date_time, s.discontinuity) for s in high.segments] == \
               [(s.program_date_time, s.discontinuity) for s in low.segments]
        assert high.target_duration == 2
        assert sum(s.duration for s in high.segments) >= 3 * high.target_duration
        # Each segment airs right after the one before it.
        for one, two in zip(high.segments, high.segments[1:], strict=False):
            assert one.program_date_time is not None and two.program_date_time is not None
            gap = (two.program_date_time - one.program_date_time).total_seconds()
            assert gap == pytest.approx(one.duration, abs=0.002)
        # The other node computes the same bytes.
        assert await other.media("news", 0) == texts[0]
        msns.append(high.media_sequence)
        clock.now += 1.0
    assert msns == sorted(msns) and msns[-1] - msns[0] >= 14  # 2-s segments, 30 s on
    assert parse_media(previous[0] or "").discontinuity_sequence >= 5  # loops went by


async def test_a_restart_changes_nothing_a_player_sees(rig: tuple) -> None:
    clock, node, _, library = rig
    await node.service.create("c1", loop("a/master.m3u8"))
    clock.now += 123.4
    before = await node.media("c1", 1)
    fresh = Node(node.service._sessions, library, clock, node.service._client)
    assert await fresh.media("c1", 1) == before


async def test_items_added_and_removed_on_air_never_change_what_was_published(
        rig: tuple) -> None:
    clock, node, other, _ = rig
    await node.service.create("c2", loop("a/master.m3u8"))
    seen: list[str] = []

    async def tick(seconds: int) -> None:
        for _ in range(seconds):
            text = await other.media("c2", 0)
            assert_valid(text, live=True, previous=seen[-1] if seen else None)
            seen.append(text)
            clock.now += 1.0

    await tick(5)
    spec = await node.service.get("c2")
    kept = tuple(ItemRequest(source=i.source, id=i.id) for i in spec.revisions[-1].items)
    changed = await node.service.update("c2", lambda _s: ScheduleRequest(
        mode=Mode.LOOP, items=(*kept, ItemRequest(source=lib("b/master.m3u8")))))
    effective = changed.revisions[-1].effective_us / 1e6
    assert effective >= clock.now + changed.target_duration  # in the future
    # The other node has not looked yet; within the refresh it learns of the change,
    # long before it takes effect.
    await tick(25)
    b_key = lib("b/master.m3u8").key
    assert any(b_key in text for text in seen[-10:])
    removed = await node.service.update("c2", lambda s: ScheduleRequest(
        mode=Mode.LOOP, items=tuple(ItemRequest(source=i.source, id=i.id)
                                    for i in s.revisions[-1].items if i.source.key != b_key)))
    assert [i.source.key for i in removed.revisions[-1].items] == [lib("a/master.m3u8").key]
    await tick(30)
    assert b_key not in seen[-1]


async def test_segments_are_served_at_their_air_time_and_lost_sources_as_slate(
        rig: tuple) -> None:
    clock, node, _, library = rig
    await node.service.create("c3", loop("a/master.m3u8"))
    playlist = parse_media(await node.media("c3", 0))
    stamps = []
    for segment in playlist.segments[-2:]:
        data = await node.segment("c3", segment.uri)
        assert data[:1] == b"\x47"  # MPEG-TS
        stamps.append(first_timestamp(data))
        assert segment.program_date_time is not None
    # One clip: each segment's first timestamp sits at its air time (90 kHz, mod 2^33).
    one, _two = playlist.segments[-2:]
    assert stamps[1] - stamps[0] == round(one.duration * TICKS_PER_SECOND)
    with pytest.raises(Unknown):  # not a segment of this channel at this time
        channel = await node.playout.channel("c3")
        assert channel is not None
        channel.segment(0, lib("a/master.m3u8").key, 12345, 0, node.playout.now_us())
    shutil.rmtree(library / "a")
    clock.now += 2.0
    fresh = parse_media(await node.media("c3", 0))
    assert [s.uri for s in fresh.segments[:-1]] == [s.uri for s in playlist.segments[1:]]
    lost = await node.segment("c3", fresh.segments[-1].uri)
    assert lost[:1] == b"\x47"
    assert node.playout.slates_for_lost_sources == 1
    assert first_timestamp(lost) == air_tick(
        int(fresh.segments[-1].program_date_time.timestamp() * 1e6))  # type: ignore[union-attr]


@pytest.mark.parametrize(("name", "request_", "status", "message"), [
    ("bad/name", loop("a/master.m3u8"), 422, "channel name"),
    ("empty", ScheduleRequest(mode=Mode.LOOP, items=()), 422, "at least one item"),
    ("missing", loop("nope/master.m3u8"), 422, "nope/master.m3u8"),
    ("escape", loop("../outside.m3u8"), 422, "outside.m3u8"),
    ("ladder", loop("a/master.m3u8", "single/master.m3u8"), 201, ""),
    # A media playlist alone declares no resolution, so it cannot be matched to a rung.
    ("unmatched", loop("a/master.m3u8", "bare/index.m3u8"), 422, "share no rendition"),
    ("timed-no-start", ScheduleRequest(mode=Mode.TIMED, items=(
        ItemRequest(source=lib("a/master.m3u8")),)), 422, "start"),
    ("overlap", ScheduleRequest(mode=Mode.TIMED, items=(
        ItemRequest(source=lib("a/master.m3u8"), start_us=int((T0 + 60) * 1e6)),
        ItemRequest(source=lib("b/master.m3u8"), start_us=int((T0 + 63) * 1e6)))),
     422, "starts before"),
    ("short-target", loop("a/master.m3u8", target_duration=1), 422, "target_duration"),
])
async def test_bad_channels_get_clear_errors(rig: tuple, name: str,
                                             request_: ScheduleRequest, status: int,
                                             message: str) -> None:
    _, node, _, _ = rig
    if status == 201:
        # Sharing only 640x360, the ladder is that one rung.
        spec = await node.service.create(name, request_)
        assert [r.resolution for r in spec.ladder] == [(640, 360)]
        return
    with pytest.raises(ChannelError) as caught:
        await node.service.create(name, request_)
    assert status_of(caught.value) == status  # what the API answers
    assert message in caught.value.message
    assert await node.service.list() == []  # nothing half-made


async def test_an_item_lacking_a_rung_cannot_join_and_names_are_unique(rig: tuple) -> None:
    _, node, _, _ = rig
    await node.service.create("c4", loop("a/master.m3u8"))
    with pytest.raises(ChannelError) as caught:
        await node.service.update("c4", lambda _s: loop("a/master.m3u8", "single/master.m3u8"))
    assert isinstance(caught.value, Invalid) and "320x180" in caught.value.message
    with pytest.raises(ChannelError) as taken:
        await node.service.create("c4", loop("b/master.m3u8"))
    assert isinstance(taken.value, Conflict)
    spec: ChannelSpec = await node.service.get("c4")
    assert len(spec.revisions) == 1  # the refused change left nothing behind


async def test_a_timed_schedule_airs_items_at_their_times_with_slate_between(
        rig: tuple) -> None:
    clock, node, _, _ = rig
    start = T0 + 40
    await node.service.create("c5", ScheduleRequest(mode=Mode.TIMED, items=(
        ItemRequest(source=lib("b/master.m3u8"), start_us=int(start * 1e6)),)))
    clock.now = start + 5
    playlist = parse_media(await node.media("c5", 0))
    first_b = next(s for s in playlist.segments if lib("b/master.m3u8").key in s.uri)
    assert first_b.discontinuity and first_b.program_date_time is not None
    assert first_b.program_date_time.timestamp() == pytest.approx(start, abs=0.001)
    assert any(s.uri.startswith("slate-") for s in playlist.segments)
    slate_uri = next(s.uri for s in playlist.segments if s.uri.startswith("slate-"))
    data = await node.segment("c5", slate_uri)
    assert data[:1] == b"\x47" and len(data) > 1000


async def test_a_name_that_is_no_channel_asks_the_database_once_per_refresh(
        rig: tuple) -> None:
    clock, node, other, _ = rig
    assert await node.playout.channel("later") is None
    await other.service.create("later", loop("a/master.m3u8"))
    assert await node.playout.channel("later") is None  # remembered as missing
    clock.now += 1.5  # past the refresh
    assert await node.playout.channel("later") is not None
