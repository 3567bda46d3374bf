"""Replication in one process: a worker's producer writes, framed (and spooled) as they
cross to another worker, applied there by its mirror; the two hubs stay identical, a
follower that joins late starts from snapshots, and bad frames are refused."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hlsd.node._frames import MAX_HEADER, FrameError, encode, read_frame
from hlsd.node._spool import KEEP, SPOOLED, Spool, unspool
from hlsd.node.forward import for_leader
from hlsd.node.mirror import Mirror, MirrorError
from hlsd.node.ops import Replication, snapshot_frame
from hlsd.streams import (
    InitSegment,
    Producer,
    PublisherKind,
    PublishPolicy,
    RenditionInfo,
    Skipping,
    StreamBusy,
    StreamHub,
)
from tests._support.clock import FakeClock

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _hub(clock: FakeClock, replication: Replication | None = None) -> StreamHub:
    return StreamHub(window=3, policy=PublishPolicy.REJECT, idle_timeout=10, retention=60,
                     max_streams=4, clock=clock, wall_clock=clock.wall,
                     replicate=replication.wrap if replication is not None else None)


class Link:
    """Frames from one worker's replication to another's mirror, through the real
    encoding, the spool and the frame reader."""

    def __init__(self, replication: Replication, mirror: Mirror, spool: Path) -> None:
        self._mirror = mirror
        self._spool = spool
        self.frames: list[bytes] = []
        replication.add_outlet(self.frames.append)

    def deliver(self) -> None:
        frames, self.frames[:] = list(self.frames), []
        for frame in frames:
            header, blobs = _read(frame)
            header = json.loads(json.dumps(header))
            self._mirror.apply(header, unspool(self._spool, header, blobs), source="1")


def _read(data: bytes, **bounds: int) -> tuple[dict[str, object], list[bytes]]:
    """One frame read from `data` as a worker's socket would give it."""
    async def reading() -> tuple[dict[str, object], list[bytes]]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await read_frame(reader, **bounds)
    return asyncio.run(reading())


def _same(a: StreamHub, b: StreamHub, name: str = "cam") -> None:
    one, other = a.get(name), b.get(name)
    assert one is not None and other is not None
    assert (one.session, one.publisher, one.state) == (other.session, other.publisher,
                                                      other.state)
    assert sorted(one.renditions) == sorted(other.renditions)
    for variant in one.renditions:
        for skip in Skipping:
            mine, theirs = one.media_playlist(variant, skip), other.media_playlist(variant, skip)
            assert (mine and mine.body) == (theirs and theirs.body)
        for segment in one.renditions[variant].segments:
            copy = other.renditions[variant].get(segment.name)
            assert copy is not None and copy.data == segment.data
    assert (one.master() and one.master().body) == (other.master() and other.master().body)  # type: ignore[union-attr]


@dataclass
class Pair:
    clock: FakeClock
    replication: Replication
    owner: StreamHub
    follower: StreamHub
    link: Link
    spool: Path


@pytest.fixture
def pair(tmp_path: Path) -> Pair:
    clock = FakeClock()
    spool = tmp_path / "spool"
    replication = Replication(Spool(spool, "1", clock=clock))
    owner, follower = _hub(clock, replication), _hub(clock)
    return Pair(clock, replication, owner, follower,
                Link(replication, Mirror(follower), spool), spool)


def _parts(producer: Producer, clock: FakeClock, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        producer.append_part("hi", duration=0.5, data=bytes([i % 256]) * (SPOOLED + i),
                             program_date_time=T0 + timedelta(seconds=0.5 * i),
                             independent=i % 4 == 0, part_target=0.5, target_duration=2,
                             init=InitSegment(name="init.mp4", data=b"moov-hi"))
        clock.advance(0.5)


def test_writes_applied_elsewhere_give_the_same_stream(pair: Pair) -> None:
    clock, owner, follower, link, spool = (pair.clock, pair.owner, pair.follower,
                                           pair.link, pair.spool)
    producer = owner.producer("cam", "rtmp-1", kind=PublisherKind.RTMP)
    producer.publish()
    producer.describe("hi", RenditionInfo(bandwidth=2_000_000, resolution=(1280, 720)))
    _parts(producer, clock, 10)
    link.deliver()
    _same(owner, follower)
    assert list(spool.iterdir())  # the large parts went through files
    # Whole segments without a time: the owner's hub timed them; the copy agrees.
    producer.append("lo", duration=2.0, data=b"a" * 100)
    producer.append("lo", duration=9.0, data=b"b" * 100)  # too long: refused, a break
    producer.append("lo", duration=2.0, data=b"c" * 100)
    producer.close_segment("hi")
    producer.end("lo")
    clock.advance(5)  # delivered later: the times are the owner's, not the follower's
    link.deliver()
    _same(owner, follower)
    _parts(producer, clock, 9, start=10)
    producer.end()
    link.deliver()
    _same(owner, follower)


def test_a_takeover_and_a_new_session_follow(pair: Pair) -> None:
    clock, owner, follower, link = pair.clock, pair.owner, pair.follower, pair.link
    first = owner.producer("cam", "a", kind=PublisherKind.WEBSOCKET)
    first.publish()
    first.append("", duration=1.0, data=b"1" * 10)
    link.deliver()
    with pytest.raises(StreamBusy):
        owner.producer("cam", "b", kind=PublisherKind.WEBSOCKET).publish()
    clock.advance(11)  # the first publisher went quiet
    second = owner.producer("cam", "b", kind=PublisherKind.WEBSOCKET)
    second.publish()
    second.append("", duration=1.0, data=b"2" * 10)
    assert first.taken_over and not first.holds
    link.deliver()
    _same(owner, follower)
    assert follower.get("cam").publisher == "b"  # type: ignore[union-attr]


def test_a_late_follower_starts_from_snapshots(pair: Pair) -> None:
    clock, owner = pair.clock, pair.owner
    producer = owner.producer("cam", "p", kind=PublisherKind.HTTP_TS)
    producer.publish()
    _parts(producer, clock, 13)
    late = _hub(clock)
    mirror = Mirror(late)
    for header, blobs in pair.replication.snapshots(owner):
        mirror.apply(json.loads(json.dumps(header)), list(blobs), source="1")
    link = Link(pair.replication, mirror, pair.spool)
    _parts(producer, clock, 6, start=13)
    link.deliver()
    _same(owner, late)


def test_a_stream_whose_worker_died_goes_on_from_a_copy(pair: Pair) -> None:
    """Its worker gone, a follower hands its copy to a worker that starts; the publisher
    reaching that one carries on in the same session and numbering, and the follower
    keeps up with it."""
    clock, owner, follower, link = pair.clock, pair.owner, pair.follower, pair.link
    producer = owner.producer("cam", "push-1", kind=PublisherKind.HTTP)
    producer.publish()
    for n in range(8):
        producer.append("", duration=1.0, data=bytes([n]) * 50)
        clock.advance(1)
    link.deliver()
    mirror = link._mirror
    assert mirror.orphans(alive={"1"}) == []  # its worker is there
    [orphan] = mirror.orphans(alive=set())  # worker "1" died
    started = Replication(Spool(pair.spool, "2", clock=clock))
    new = _hub(clock, started)
    header, blobs = snapshot_frame(orphan)
    Mirror(new).apply(json.loads(json.dumps(header)), list(blobs), source="3")
    again = Link(started, mirror, pair.spool)
    taken = new.producer("cam", "push-1", kind=PublisherKind.HTTP)
    taken.publish()  # the publisher's next upload, on the new worker
    taken.append("", duration=1.0, data=b"9" * 50)
    again.deliver()
    _same(new, follower)
    assert new.get("cam").session == owner.get("cam").session  # type: ignore[union-attr]
    assert new.get("cam").renditions[""].segments[-1].sequence == 8  # type: ignore[union-attr]
    assert started.publishes(new.get("cam"))  # type: ignore[arg-type]


def test_bad_operations_are_refused(tmp_path: Path) -> None:
    mirror = Mirror(_hub(FakeClock()))
    for header in ({"op": "nope", "stream": "cam", "publisher": "p", "kind": "rtmp",
                    "session": "s"},
                   {"op": "append", "stream": "cam"},
                   {"op": "publish", "stream": "cam", "publisher": "p", "kind": "martian",
                    "session": "s"},
                   {"op": "snapshot", "snapshot": {"version": 99}}):
        with pytest.raises(MirrorError):
            mirror.apply(header, [], source="1")
    for spooled in ({"0": "../escape"}, {"0": ".hidden"}, ["x"]):
        with pytest.raises(ValueError):
            unspool(tmp_path, {"spooled": spooled}, [b""])
    with pytest.raises(FileNotFoundError):  # too far behind: it went
        unspool(tmp_path, {"spooled": {"0": "1-0"}}, [b""])


def test_frames_out_of_bounds_are_refused() -> None:
    read = _read

    assert read(encode({"op": "x"}, (b"ab", b""))) == ({"op": "x", "blobs": [2, 0]},
                                                       [b"ab", b""])
    with pytest.raises(FrameError):
        read((MAX_HEADER + 1).to_bytes(4, "big"))
    with pytest.raises(FrameError):
        read(encode({}, (b"abc",)), max_blobs=2)
    with pytest.raises(FrameError):
        read((3).to_bytes(4, "big") + b"{x}")
    with pytest.raises(FrameError):
        read((12).to_bytes(4, "big") + b'{"blobs":-1}')


def test_spooled_files_go_after_their_time(tmp_path: Path) -> None:
    clock = FakeClock()
    spool = Spool(tmp_path, "7", clock=clock)
    header, blobs = spool.spool({"op": "append"}, (b"x" * SPOOLED, b"small"))
    assert blobs == (b"", b"small") and header["spooled"] == {"0": "7-0"}
    assert unspool(tmp_path, header, list(blobs))[0] == b"x" * SPOOLED
    clock.advance(KEEP + 1)
    spool.spool({}, (b"y" * SPOOLED,))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["7-1"]
    spool.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("method", "path", "leader"), [
    ("PUT", "/ingest/cam/seg-1.ts", True),
    ("POST", "/ingest/cam/index.m3u8", True),
    ("PUT", "/ingest/cam.ts", False),  # continuous: the worker that takes it publishes
    ("GET", "/ingest/cam/index.m3u8", False),
    ("POST", "/v1/playlist", True),
    ("PUT", "/v1/source/1/streaming", True),
    ("POST", "/api/streams/cam/recordings", True),
    ("POST", "/api/streams/room/cam/recordings", True),
    ("POST", "/api/recordings/abc/stop", True),
    ("DELETE", "/api/recordings/abc", True),
    ("GET", "/api/recordings", False),
    ("POST", "/api/streams/cam/token", False),
    ("POST", "/api/channels", False),
])
def test_what_goes_to_the_leader(method: str, path: str, leader: bool) -> None:
    assert for_leader(method, path) is leader
