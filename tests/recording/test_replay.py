from __future__ import annotations

import asyncio
import time
from pathlib import Path

from hlsd.hls.check import assert_valid
from hlsd.infra.cache import Cache, Caches
from hlsd.recording import ReplayCatalog, ReplayVariant
from hlsd.recording.replay import GROWING_TTL
from hlsd.storage import LocalStore
from tests._support.clock import FakeClock
from tests._support.polling import eventually

from .conftest import Rig
from .test_recorder import settle


class RemoteStore(LocalStore):
    """A local store that hides its files, as S3 has none: every read is a `get`."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.gets: list[str] = []

    def local_path(self, key: str) -> Path | None:
        return None

    async def get(self, key: str) -> bytes:
        self.gets.append(key.rsplit("/", 1)[-1])
        return await super().get(key)


def catalog(rig: Rig, prefetch: int = 3, *, clock: FakeClock | None = None,
            told: bool = True) -> tuple[ReplayCatalog, RemoteStore]:
    """With `told` off, the recorder never says what it committed (as one in another
    process cannot)."""
    store = RemoteStore(rig.store.root)
    replays = ReplayCatalog(sessions=rig.sessions, store=store, prefetch=prefetch,
                            cache=Cache("replay", max_entries=1000, max_bytes=1 << 20,
                                        size=len, max_entry=1 << 16),
                            caches=Caches(), clock=clock or time.monotonic)
    if told:
        rig.commits.append(replays.changed)
    return replays, store


async def test_a_growing_recording_is_an_event_playlist_then_vod(rig: Rig) -> None:
    replays, _ = catalog(rig)
    stream = rig.publish()
    recording = await rig.recorder.start("cam")
    rig.push(stream, 3)
    await settle(rig, recording.id, 3)
    replay = await replays.replay(recording.id)
    assert replay is not None and replay.growing and replay.master is None
    text = replay.variants[""].playlist.body.decode()
    assert_valid(text)
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in text and "#EXT-X-ENDLIST" not in text
    rig.push(stream, 1)
    await settle(rig, recording.id, 4)
    grown = await replays.replay(recording.id)
    assert grown is not None and grown.variants[""].playlist.body.count(b"#EXTINF") == 4
    await rig.recorder.stop(recording.id)
    replays.changed(recording.id)
    done = await replays.replay(recording.id)
    assert done is not None and not done.growing
    final = done.variants[""].playlist.body.decode()
    assert_valid(final)
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in final and final.rstrip().endswith("#EXT-X-ENDLIST")
    assert done.best == ""
    assert done.variants[""].export.runs == (
        tuple(f"{recording.storage_prefix}0/{n}.ts" for n in range(4)),)
    assert await replays.replay("no-such-recording") is None


async def test_a_growing_replay_is_trusted_for_its_ttl_a_stopped_one_until_changed(
        rig: Rig) -> None:
    clock = FakeClock()
    replays, _ = catalog(rig, clock=clock, told=False)
    stream = rig.publish()
    recording = await rig.recorder.start("cam")
    rig.push(stream, 2)
    await settle(rig, recording.id, 2)
    first = await replays.replay(recording.id)
    assert first is not None and first.growing
    rig.push(stream, 1)
    await settle(rig, recording.id, 3)
    clock.advance(GROWING_TTL - 0.1)
    assert await replays.replay(recording.id) is first  # not told: trusted a while
    clock.advance(0.2)
    grown = await replays.replay(recording.id)
    assert grown is not first and grown is not None
    assert grown.variants[""].playlist.body.count(b"#EXTINF") == 3
    await rig.recorder.stop(recording.id)
    clock.advance(GROWING_TTL)
    stopped = await replays.replay(recording.id)
    assert stopped is not None and not stopped.growing
    clock.advance(3600)
    assert await replays.replay(recording.id) is stopped  # a stopped one does not change
    replays.changed(recording.id)
    assert await replays.replay(recording.id) is not stopped


async def recorded(rig: Rig, replays: ReplayCatalog, count: int) -> ReplayVariant:
    """The replay of a recording of `count` segments (a single variant)."""
    stream = rig.publish()
    recording = await rig.recorder.start("cam")
    rig.push(stream, count)
    await settle(rig, recording.id, count)
    replay = await replays.replay(recording.id)
    assert replay is not None
    return replay.variants[""]


async def test_reading_rolls_a_read_ahead_with_the_player(rig: Rig) -> None:
    replays, store = catalog(rig, prefetch=2)
    variant = await recorded(rig, replays, 8)
    assert await replays.read(variant, "0.ts") == b"\x47" * 1000
    await eventually(lambda: store.gets == ["0.ts", "1.ts", "2.ts"])
    for uri in ("1.ts", "2.ts"):  # served from the read-ahead, which keeps rolling
        await replays.read(variant, uri)
    await eventually(lambda: store.gets == ["0.ts", "1.ts", "2.ts", "3.ts", "4.ts"])
    await replays.read(variant, "6.ts")  # a seek: read there, and ahead of it
    await eventually(lambda: store.gets[5:] == ["6.ts", "7.ts"])  # 7 is the last one
    await replays.close()


async def test_concurrent_reads_of_one_segment_share_one_get(rig: Rig) -> None:
    replays, store = catalog(rig, prefetch=0)
    variant = await recorded(rig, replays, 1)
    results = await asyncio.gather(*(replays.read(variant, "0.ts") for _ in range(5)))
    assert len(set(results)) == 1 and store.gets == ["0.ts"]
