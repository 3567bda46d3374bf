"""Stream names: the rule every publish goes through, and where a name's spills go."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hlsd.streams import (
    InvalidStreamName,
    PublisherKind,
    PublishPolicy,
    StreamHub,
    check_stream_name,
)
from hlsd.streams.names import name_problem
from hlsd.streams.spill import SpillDir, folder_for

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("name", ["cam", "room/cam", "a/b/c", "é" * 127, "x" * 255,
                                  "..a", "a..", ".hidden/x", "a b", "🎥"])
def test_names_the_original_takes(name: str) -> None:
    assert check_stream_name(name) == name


@pytest.mark.parametrize(("name", "why"), [
    ("", "empty"), ("x" * 256, "longer than 255 bytes"), ("é" * 128, "longer than 255"),
    ("..", "part"), (".", "part"), ("../../etc", "part"), ("a//b", "part"),
    ("/a", "part"), ("a/", "part"), ("a\x00b", "U+0000"), ("a\nb", "U+000A"),
    ("a\x9bb", "U+009B"), ("a\u2029b", "U+2029"), ("a\u202eb", "U+202E"),
    ("a\u200db", "U+200D"), ("a\ud800b", "not valid Unicode"),
])
def test_names_no_stream_may_have(name: str, why: str) -> None:
    problem = name_problem(name)
    assert problem is not None and why in problem
    with pytest.raises(InvalidStreamName):
        check_stream_name(name)


def test_the_hub_refuses_them_whoever_publishes() -> None:
    hub = StreamHub(window=3, policy=PublishPolicy.REJECT, idle_timeout=10, retention=60,
                    max_streams=4)
    with pytest.raises(InvalidStreamName):
        hub.producer("../../etc", "anyone", kind=PublisherKind.HTTP).publish()
    assert hub.get("../../etc") is None
    producer = hub.producer("room/cam", "a", kind=PublisherKind.HTTP)
    producer.publish()
    assert producer.stream is not None and producer.stream.name == "room/cam"


@pytest.mark.parametrize("name", ["room/cam", "..", ".", "../../etc", "a" * 255,
                                  "é" * 127, "%2E%2E"])
def test_a_spill_folder_is_one_name_inside_the_spill_dir(name: str) -> None:
    folder = folder_for(name)
    assert "/" not in folder and folder not in (".", "..") and not folder.startswith(".")
    assert 0 < len(folder.encode()) <= 120


def test_spill_folders_of_distinct_names_are_distinct() -> None:
    names = ["room", "room/cam", "room%2Fcam", "a" * 200, "a" * 201, "..", "%2E."]
    assert len({folder_for(n) for n in names}) == len(names)


def test_ending_a_stream_leaves_the_spills_of_a_stream_under_its_name(
        tmp_path: Path) -> None:
    spill = SpillDir(tmp_path / "spill")
    hub = StreamHub(window=3, policy=PublishPolicy.REJECT, idle_timeout=10, retention=60,
                    max_streams=4, spill=spill, memory_per_variant=1)
    outer = hub.producer("room", "a", kind=PublisherKind.HTTP)
    inner = hub.producer("room/cam", "b", kind=PublisherKind.HTTP)
    for producer in (outer, inner):
        producer.publish()
        for n in range(5):
            producer.append("", duration=2, data=b"x" * 100,
                            program_date_time=T0.replace(second=2 * n))
    spilled = {p.relative_to(tmp_path / "spill").parts[0]
               for p in (tmp_path / "spill").rglob("*.ts")}
    assert spilled == {"room", "room%2Fcam"}
    assert outer.stream is not None
    outer.stream.close()
    left = {p.relative_to(tmp_path / "spill").parts[0]
            for p in (tmp_path / "spill").rglob("*.ts")}
    assert left == {"room%2Fcam"}
    assert all(p.resolve().is_relative_to((tmp_path / "spill").resolve())
               for p in (tmp_path / "spill").rglob("*"))
