from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hlsd.streams import Segment
from hlsd.streams.reader import ReaderClosed, SegmentReader, SlowReaderPolicy


def seg(n: int) -> Segment:
    return Segment(sequence=n, name=f"{n}.ts", duration=1.0, size=1, data=b"x",
                   program_date_time=datetime(2026, 1, 1, tzinfo=UTC))


async def test_skip_policy_jumps_to_the_newest() -> None:
    skipped: list[int] = []
    reader = SegmentReader(variant="", max_queue=3, policy=SlowReaderPolicy.SKIP,
                           on_skip=skipped.append)
    for n in range(5):
        reader.offer(seg(n))
    assert reader.skipped == 3 and skipped == [3]
    assert (await reader.next()).sequence == 3
    assert (await reader.next()).sequence == 4
    reader.close()
    with pytest.raises(ReaderClosed, match="ended"):
        await reader.next()


async def test_disconnect_policy_closes_the_reader() -> None:
    reader = SegmentReader(variant="", max_queue=2, policy=SlowReaderPolicy.DISCONNECT)
    for n in range(3):
        reader.offer(seg(n))
    assert reader.overflowed
    reader.offer(seg(9))  # ignored from now on
    with pytest.raises(ReaderClosed, match="behind"):
        await reader.next()
