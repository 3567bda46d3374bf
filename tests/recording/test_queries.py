"""`RecordingQueries`: what the APIs read of recordings, from what the recorder stored."""

from __future__ import annotations

import pytest

from hlsd.db import repo
from hlsd.errors import NotFound
from hlsd.recording.queries import RecordingQueries
from tests._support.polling import eventually

from .conftest import Rig


async def test_listings_summary_and_segments(rig: Rig) -> None:
    queries = RecordingQueries(rig.sessions)
    stream = rig.publish("cam")
    rig.publish("other")
    recording = await rig.recorder.start("cam")
    other = await rig.recorder.start("other")
    rig.push(stream, 2, variant="hi")
    rig.clock.advance(-2)
    rig.push(stream, 3, variant="lo")

    async def stored() -> bool:
        return (await queries.summary(recording.id)).segments == 5
    await eventually(stored, what="five segments stored")

    summary = await queries.summary(recording.id)
    assert (summary.recording.id, summary.bytes, summary.duration) == (
        recording.id, 5000, 3.0)  # the longest variant's
    listed = await queries.segments(recording.id)
    assert [(s.variant, s.sequence) for s in listed.segments] == [
        ("hi", 0), ("hi", 1), ("lo", 0), ("lo", 1), ("lo", 2)]
    assert listed.folders == {"hi": "0", "lo": "1"}
    assert [r.id for r in await queries.of_stream("cam")] == [recording.id]
    assert {r.id for r in await queries.every()} == {recording.id, other.id}
    assert (await queries.get(other.id)).stream == "other"


async def test_one_variant_replays_at_the_top_and_unknown_ids_are_not_found(rig: Rig) -> None:
    queries = RecordingQueries(rig.sessions)
    stream = rig.publish()
    recording = await rig.recorder.start("cam")
    rig.push(stream, 1)

    async def stored() -> bool:
        return len((await queries.segments(recording.id)).segments) == 1
    await eventually(stored, what="the segment stored")
    assert (await queries.segments(recording.id)).folders == {"": ""}
    for call in (queries.get("nope"), queries.summary("nope"), queries.segments("nope"),
                 queries.of_source("nope")):
        with pytest.raises(NotFound):
            await call
    source = await repo.create_source(rig.sessions, name="cam", segment_length=1)
    assert await queries.of_source(source.id) == []
