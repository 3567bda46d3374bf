"""The wire form of a snapshot: JSON and blobs, read back strictly."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hlsd.streams import (
    InitSegment,
    PublisherKind,
    PublishPolicy,
    RenditionInfo,
    StreamHub,
    StreamSnapshot,
    snapshot_from_wire,
    snapshot_to_wire,
)
from tests._support.clock import FakeClock

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
Header = dict[str, Any]


def _snapshot() -> StreamSnapshot:
    """A stream with a variant of parts (closed segments and an open one, an init
    section) and one of whole segments."""
    clock = FakeClock()
    hub = StreamHub(window=3, policy=PublishPolicy.REJECT, idle_timeout=10, retention=60,
                    max_streams=4, clock=clock, wall_clock=clock.wall)
    producer = hub.producer("cam", "a", kind=PublisherKind.SRT)
    producer.publish()
    producer.describe("hi", RenditionInfo(bandwidth=900, resolution=(640, 360),
                                          frame_rate=25.0))
    init = InitSegment(name="init.mp4", data=b"moov")
    for n in range(5):
        producer.append_part("hi", duration=0.5, data=bytes([n]) * 7, independent=n % 2 == 0,
                             program_date_time=T0 + timedelta(seconds=n / 2),
                             part_target=0.5, target_duration=1, init=init)
        producer.append("lo", duration=2.0, data=bytes([n]) * 9,
                        program_date_time=T0 + timedelta(seconds=2 * n))
    stream = hub.get("cam")
    assert stream is not None
    return stream.snapshot()


def _wire() -> tuple[Header, list[bytes]]:
    header, blobs = snapshot_to_wire(_snapshot())
    return json.loads(json.dumps(header)), blobs


def test_the_header_is_json_and_the_bytes_are_blobs() -> None:
    snapshot = _snapshot()
    header, blobs = snapshot_to_wire(snapshot)
    assert json.loads(json.dumps(header)) == header
    hi = header["renditions"][0]
    assert hi["name"] == "hi" and hi["part_target"] == 0.5 and hi["opened"] is not None
    assert hi["segments"][0]["program_date_time"] == "2026-12-06T12:00:00+00:00"
    assert blobs[hi["init_sections"][hi["init"]]["data"]] == b"moov"
    assert all(isinstance(blob, bytes) for blob in blobs)
    assert snapshot_from_wire(json.loads(json.dumps(header)), blobs) == snapshot


def _hi(header: Header) -> Header:
    rendition: Header = header["renditions"][0]
    return rendition


def _set(path: str, value: object) -> Callable[[Header], None]:
    """Set the value at `path` (keys and list indexes, by dots) of the header."""
    *parents, last = path.split(".")

    def mutate(header: Header) -> None:
        node: Any = header
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value
    return mutate


def _delete(key: str) -> Callable[[Header], None]:
    def mutate(header: Header) -> None:
        del header[key]
    return mutate


def _twice(header: Header) -> None:
    header["renditions"].append(copy.deepcopy(_hi(header)))


def _parts_outgrow(header: Header) -> None:
    _hi(header)["segments"][0]["parts"][0]["size"] += 1


@pytest.mark.parametrize("mutate", [
    _set("version", 2),
    _set("kind", "carrier-pigeon"),
    _set("name", 5),
    _set("ended", "yes"),
    _set("last_activity", float("inf")),
    _set("ended_at", "later"),
    _set("renditions", {}),
    _set("renditions.0", []),
    _delete("session"),
    _twice,
    _set("renditions.0.segments.0.data", 999),
    _set("renditions.0.segments.0.data", -1),
    _set("renditions.0.segments.0.data", True),
    _set("renditions.0.segments.0.data", 1.0),
    _parts_outgrow,
    _set("renditions.0.segments.0.program_date_time", "2026-12-06T12:00:00"),
    _set("renditions.0.segments.0.program_date_time", "yesterday"),
    _set("renditions.0.segments.0.duration", -2.0),
    _set("renditions.0.segments.0.duration", "2.0"),
    _set("renditions.0.segments.0.init", 7),
    _set("renditions.0.segments.0.parts.0.name", None),
    _set("renditions.0.init_sections.0.data", 999),
    _set("renditions.0.kept_inits", [3]),
    _set("renditions.0.kept_inits", ["0"]),
    _set("renditions.0.opened.parts.0.data", 999),
    _set("renditions.0.opened.parts.0.duration", float("nan")),
    _set("renditions.0.opened.parts", None),
    _set("renditions.0.opened.init", 1.5),
    _set("renditions.0.part_target", 0.0),
    _set("renditions.0.target_duration", 0),
    _set("renditions.0.next_sequence", -1),
    _set("renditions.0.updated", 10 ** 400),
    _set("renditions.0.info.resolution", [640]),
    _set("renditions.0.info.resolution", [640, "360"]),
    _set("renditions.0.info.codecs", 1),
    _set("renditions.1.segments.0", "segment"),
])
def test_a_malformed_header_is_refused(mutate: Callable[[Header], None]) -> None:
    header, blobs = _wire()
    mutate(header)
    with pytest.raises(ValueError):
        snapshot_from_wire(header, blobs)


def test_what_is_not_a_header_or_not_bytes_is_refused() -> None:
    header, blobs = _wire()
    with pytest.raises(ValueError, match="not an object"):
        snapshot_from_wire([header], blobs)
    with pytest.raises(ValueError, match="blob 0 is not bytes"):
        snapshot_from_wire(header, ["moov", *blobs[1:]])
    with pytest.raises(ValueError, match="is not there"):
        snapshot_from_wire(header, blobs[:1])
