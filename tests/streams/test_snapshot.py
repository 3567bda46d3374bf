"""Snapshots: a stream restored into another hub (through the wire form and JSON) is the
same stream, and stays the same under the same producer calls."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import hlsd.streams.hub as hub_module
from hlsd.hls import Rendered
from hlsd.streams import (
    ConsumerKind,
    HubProducer,
    InitSegment,
    LiveRendition,
    Overflow,
    PublisherKind,
    PublishPolicy,
    RenditionInfo,
    Segment,
    Skipping,
    Stream,
    StreamHub,
    StreamSnapshot,
    StreamState,
    snapshot_from_wire,
    snapshot_to_wire,
)
from hlsd.streams.spill import SpillDir
from tests._support.clock import FakeClock

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
HI = RenditionInfo(bandwidth=3_000_000, codecs="avc1.64001f,mp4a.40.2",
                   resolution=(1280, 720), frame_rate=29.97)
LO = RenditionInfo(bandwidth=800_000, average_bandwidth=700_000, resolution=(640, 360))
Step = Callable[[HubProducer], object]


def _hub(clock: FakeClock, *, policy: PublishPolicy = PublishPolicy.REJECT,
         spill: SpillDir | None = None, memory: int | None = None) -> StreamHub:
    return StreamHub(window=3, policy=policy, idle_timeout=10, retention=60, max_streams=4,
                     clock=clock, wall_clock=clock.wall, spill=spill,
                     memory_per_variant=memory)


def _published(hub: StreamHub, publisher: str = "a",
               kind: PublisherKind = PublisherKind.RTMP) -> HubProducer:
    producer = hub.producer("cam", publisher, kind=kind)
    producer.publish()
    return producer


def _carried(stream: Stream) -> StreamSnapshot:
    """`stream`'s snapshot as another worker reads it: wire form, JSON and back."""
    header, blobs = snapshot_to_wire(stream.snapshot())
    return snapshot_from_wire(json.loads(json.dumps(header)), blobs)


def _segment(p: HubProducer, n: int, **kw: object) -> Segment | None:
    options: dict[str, object] = {
        "duration": 2.0, "data": f"{n};".encode() * 20,
        "program_date_time": T0 + timedelta(seconds=2 * n)}
    options.update(kw)
    return p.append("", **options)  # type: ignore[arg-type]


def _part(p: HubProducer, variant: str, n: int, **kw: object) -> object:
    options: dict[str, object] = {
        "duration": 0.5, "data": f"{variant}:{n};".encode() * 8, "independent": n % 2 == 0,
        "program_date_time": T0 + timedelta(seconds=n / 2), "part_target": 0.5,
        "target_duration": 1}
    options.update(kw)
    return p.append_part(variant, **options)  # type: ignore[arg-type]


def _segments(numbers: range, **kw: object) -> list[Step]:
    """Steps that append segment `n` of `numbers` each."""
    def step(n: int) -> Step:
        return lambda q: _segment(q, n, **kw)
    return [step(n) for n in numbers]


def _parts(variant: str, numbers: range, **kw: object) -> list[Step]:
    """Steps that append part `n` of `numbers` each."""
    def step(n: int) -> Step:
        return lambda q: _part(q, variant, n, **kw)
    return [step(n) for n in numbers]


def _body(rendered: Rendered | None) -> bytes | None:
    return None if rendered is None else rendered.body


def _uris(rendition: LiveRendition) -> list[str]:
    carried = rendition.snapshot()
    uris = [init.name for init in carried.inits]
    for segment in carried.segments:
        uris += [segment.name, *(part.name for part in segment.parts)]
    if carried.opened is not None:
        uris += [part.name for part in carried.opened.parts]
    return uris


def _bytes(rendition: LiveRendition, uri: str) -> bytes:
    found = rendition.get(uri)
    if isinstance(found, Segment):
        return found.read()
    if isinstance(found, InitSegment):
        return found.data
    place = rendition.get_part(uri)
    assert place is not None, uri
    part, segment = place
    if part.data is not None:
        return bytes(part.data)
    assert segment is not None  # spilled: its bytes are in the segment's file
    return segment.read()[part.offset:part.offset + part.size]


def _assert_same(a: Stream, b: Stream) -> None:
    assert (a.publisher, a.kind, a.session, a.state) == (b.publisher, b.kind, b.session, b.state)
    assert _body(a.master()) == _body(b.master())
    assert list(a.renditions) == list(b.renditions)
    for variant, ours in a.renditions.items():
        theirs = b.renditions[variant]
        for skip in Skipping:
            assert _body(a.media_playlist(variant, skip)) == _body(b.media_playlist(variant, skip))
        assert ours.next_part_name == theirs.next_part_name
        uris = _uris(ours)
        assert uris == _uris(theirs)
        for uri in uris:
            assert _bytes(ours, uri) == _bytes(theirs, uri), uri
    assert a.snapshot() == b.snapshot()


def _mirror_and_carry_on(clock: FakeClock, source: StreamHub, mirror: StreamHub,
                         publisher: str, steps: list[Step]) -> Stream:
    """Restore the source's stream into `mirror`, then apply each step to both hubs
    through a producer of `publisher` on each, half a second apart: the same at every
    step."""
    stream = source.get("cam")
    assert stream is not None
    copy = mirror.restore(_carried(stream))
    assert mirror.get("cam") is copy
    _assert_same(stream, copy)
    ours, theirs = (_published(hub, publisher, stream.kind) for hub in (source, mirror))
    assert theirs.holds and theirs.stream is copy  # the same publisher: no takeover
    _assert_same(stream, copy)
    for step in steps:
        clock.advance(0.5)
        assert step(ours) == step(theirs)
        _assert_same(stream, copy)
    return copy


def test_whole_segments_a_slid_window_and_a_pending_discontinuity() -> None:
    clock = FakeClock()
    source = _hub(clock)
    p = _published(source, kind=PublisherKind.HTTP)
    for n in range(8):
        if n == 2:
            p.discontinuity("")
        clock.advance(2)
        _segment(p, n)
    p.discontinuity("")  # pending: the next segment, after the snapshot, carries it
    stream = source.get("cam")
    assert stream is not None
    rendition = stream.renditions[""]
    assert rendition.media_sequence > 2 and rendition.discontinuity_sequence == 1
    copy = _mirror_and_carry_on(clock, source, _hub(clock), "a",
                                [*_segments(range(8, 12)), lambda q: q.end()])
    assert copy.renditions[""].segments[-4].discontinuity
    assert copy.state is StreamState.ENDED


def test_ll_hls_variants_with_an_open_segment_an_init_change_and_a_refused_part() -> None:
    clock = FakeClock()
    source = _hub(clock)
    p = _published(source)
    first = InitSegment(name="init.mp4", data=b"moov-1")
    p.describe("hi", HI)
    p.describe("lo", LO)
    for n in range(10):
        clock.advance(0.5)
        for variant in ("hi", "lo"):
            _part(p, variant, n, init=first)
    second = InitSegment(name="init.mp4", data=b"moov-2")
    _part(p, "hi", 10, init=second)  # a new encoding: a new segment, a discontinuity
    _part(p, "hi", 11, init=second)
    assert _part(p, "lo", 10, duration=0.6) is None  # refused: a keyframe is awaited
    stream = source.get("cam")
    assert stream is not None and stream.renditions["hi"].open_segment is not None
    assert stream.renditions["lo"].media_sequence > 0

    def awaits_keyframe(q: HubProducer) -> None:
        assert _part(q, "lo", 11) is None  # not independent: refused, on either hub

    def more(n: int) -> Step:
        def step(q: HubProducer) -> object:
            return _part(q, "hi", n, init=second), _part(q, "lo", n)
        return step

    steps = [more(n) for n in range(12, 20)]
    copy = _mirror_and_carry_on(clock, source, _hub(clock), "a", [
        awaits_keyframe, steps[0], lambda q: q.close_segment("hi"), *steps[1:],
        lambda q: q.end("lo"), lambda q: _part(q, "hi", 21), lambda q: q.end()])
    assert copy.renditions["hi"].segments[0].init is copy.renditions["hi"].segments[1].init


def test_a_takeover_leaves_two_sessions_in_the_window() -> None:
    clock = FakeClock()
    source = _hub(clock, policy=PublishPolicy.TAKEOVER)
    a = _published(source, "a")
    for n in range(3):
        _segment(a, n, extension="m4s", init=InitSegment(name="i.mp4", data=b"a-moov"))
    b = _published(source, "b")
    for n in range(3, 5):
        _segment(b, n, extension="m4s", init=InitSegment(name="i.mp4", data=b"b-moov"))
    stream = source.get("cam")
    assert stream is not None
    assert len({s.name.split("-")[0] for s in stream.renditions[""].segments}) == 2
    mirror = _hub(clock, policy=PublishPolicy.TAKEOVER)
    copy = _mirror_and_carry_on(clock, source, mirror, "b",
                                _segments(range(5, 9), extension="m4s"))
    assert copy.publisher == "b"


def test_an_ended_stream_resumes_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    source = _hub(clock)
    p = _published(source)
    for n in range(4):
        _segment(p, n)
    p.end()
    clock.advance(5)
    mirror = _hub(clock)
    stream = source.get("cam")
    assert stream is not None
    copy = mirror.restore(_carried(stream))
    assert copy.state is StreamState.ENDED and copy.ended_at == stream.ended_at
    assert b"#EXT-X-ENDLIST" in (_body(copy.media_playlist("")) or b"")
    # Publishing again is a new session on either hub; the same one, as a mirror's
    # replay would give it.
    monkeypatch.setattr(hub_module, "_session", lambda: "beef01")
    copy = _mirror_and_carry_on(clock, source, mirror, "a", _segments(range(4, 7)))
    assert copy.session == "beef01" and copy.renditions[""].segments[-3].discontinuity


def test_spilled_segments_are_carried_with_their_bytes(tmp_path: Path) -> None:
    clock = FakeClock()
    source = _hub(clock, spill=SpillDir(tmp_path / "source"), memory=100)
    p = _published(source)
    for n in range(12):
        clock.advance(0.5)
        _part(p, "", n, extension="mp4")
    stream = source.get("cam")
    assert stream is not None
    assert any(s.path is not None for s in stream.renditions[""].segments)
    mirror = _hub(clock, spill=SpillDir(tmp_path / "mirror"), memory=100)
    copy = _mirror_and_carry_on(clock, source, mirror, "a",
                                _parts("", range(12, 20), extension="mp4"))
    spilled = [s.path for s in copy.renditions[""].segments if s.path is not None]
    assert spilled and all(path.is_relative_to(tmp_path / "mirror") for path in spilled)


def test_init_sections_keep_their_identity() -> None:
    """A section set again after another (with no segment between) is a new object of
    the same name and bytes: the playlist names it again, and so does the copy's."""
    clock = FakeClock()
    source = _hub(clock)
    _published(source)
    stream = source.get("cam")
    assert stream is not None
    rendition = stream.rendition("")
    for n, inits in enumerate(([b"A"], [b"B", b"A"], [])):
        for data in inits:
            rendition.set_init("init.mp4", data)
        rendition.append(duration=2.0, data=b"x", extension="m4s",
                         program_date_time=T0 + timedelta(seconds=2 * n))
    first, second, _ = rendition.segments
    assert first.init == second.init and first.init is not second.init
    copy = _hub(clock).restore(_carried(stream))
    _assert_same(stream, copy)
    kept = copy.renditions[""].segments
    assert kept[0].init is not kept[1].init and kept[1].init is kept[2].init


def test_restoring_tells_no_one_and_replaces_a_stream_of_that_name() -> None:
    clock = FakeClock()
    source = _hub(clock)
    p = _published(source)
    for n in range(3):
        _segment(p, n)
    stream = source.get("cam")
    assert stream is not None
    mirror = _hub(clock)
    watcher = mirror.watch(ConsumerKind.ANNOUNCER)
    first = mirror.restore(_carried(stream))
    spectator = mirror.reader(ConsumerKind.SPECTATOR, capacity=4, overflow=Overflow.SKIP)
    first.add_reader(spectator)
    second = mirror.restore(_carried(stream))
    assert mirror.get("cam") is second and second is not first and len(mirror) == 1
    assert spectator.closed  # its stream is gone: it may come again for the new one
    _published(mirror)  # the same publisher, still live: nothing begins
    assert len(watcher) == 0
    _segment(_published(mirror), 3)
    assert len(watcher) == 1 and mirror.commits == 1
