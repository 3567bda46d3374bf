"""What an edge is told as the sources it holds change (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hlsd.cluster import edge_protocol as wire
from hlsd.cluster.control._told import NOTHING_WANTED, Told
from hlsd.db import Recording, Source
from hlsd.db.models import FEED_EDGE

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)


def _source(streaming: bool) -> Source:
    return Source(id="s1", name="cam", segment_length=2, streaming=streaming,
                  created_at=NOW, updated_at=NOW)


def _recording(rid: str, *, active: bool = True) -> Recording:
    return Recording(id=rid, source_id="s1", stream="cam", start_ts=NOW - timedelta(seconds=60),
                     end_ts=None if active else NOW, active=active, storage_prefix="p/",
                     created_at=NOW, updated_at=NOW, feed=FEED_EDGE)


def test_only_what_changed_is_sent() -> None:
    told = Told()
    assert told.hold(_source(True)) is not None
    out, ended = told.catch_up({"s1": _source(True)}, [_recording("r1")])
    assert [m.name for m in out] == [wire.Name.CHANGE_STREAM_STATE, wire.Name.START_RECORDING]
    assert out[0].fields["new_state"] == 1 and out[1].fields["session"]["id"] == "r1"
    assert out[0].request_id != out[1].request_id and ended == []
    assert told.catch_up({"s1": _source(True)}, [_recording("r1")]) == ([], [])
    out, ended = told.catch_up({"s1": _source(False)}, [])
    assert [m.fields.get("new_state") for m in out] == [-1] and ended == ["r1"]
    stop = told.stop_gone("r1", _recording("r1", active=False))
    assert stop.fields == {"session_id": "r1", "end_time": wire.iso(NOW)}
    assert told.catch_up({"s1": _source(False)}, []) == ([], [])


def test_a_deleted_source_is_let_go_and_a_gone_recording_wants_nothing() -> None:
    told = Told()
    told.hold(_source(True))
    told.catch_up({"s1": _source(True)}, [_recording("r1")])
    out, ended = told.catch_up({}, [])
    # its flag off, and every recording of it closed at once
    assert [m.name for m in out] == [wire.Name.CHANGE_STREAM_STATE,
                                     wire.Name.CLOSE_ALL_ACTIVE_RECORDING]
    assert out[0].fields["new_state"] == -1 and out[1].fields["source_id"] == "s1"
    assert ended == [] and told.held == {}
    gone = told.stop_gone("r1", None)
    assert gone.fields["end_time"] == wire.iso(NOTHING_WANTED)
