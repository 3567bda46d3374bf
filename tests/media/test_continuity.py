"""`continuous` on whole transport streams from ffmpeg: the payload a demuxer reads is
unchanged, every PID ends its segment at counter 15, and counters that did not start
at 0 are numbered from 0."""

from __future__ import annotations

import io
from typing import Any

import av

from hlsd.media.continuity import PADDING_PACKETS, continuous
from tests._support.ts import continuity_errors, counters, packets
from tests.media.conftest import MediaFiles


def demuxed(data: bytes) -> list[tuple[int, int | None, int | None, bytes]]:
    container: Any
    with av.open(io.BytesIO(data)) as container:
        return [(p.stream.index, p.pts, p.dts, bytes(p)) for p in container.demux() if p.size]


def pcrs(data: bytes) -> list[bytes]:
    """Every PCR field, in order (they must stay on their packets, in order)."""
    found = []
    for at in range(0, len(data), 188):
        if data[at + 3] & 0x20 and data[at + 4] and data[at + 5] & 0x10:
            found.append(data[at + 6:at + 12])
    return found


def test_only_the_packetization_changes(media: MediaFiles) -> None:
    data = media("h264_aac_ts").read_bytes()
    out = continuous(data)
    assert demuxed(out) == demuxed(data)
    assert pcrs(out) == pcrs(data)
    assert counters(out) == {
        pid: (0, 15) for pid in counters(data)}
    assert continuity_errors([out, out]) == []
    added = (len(out) - len(data)) // 188
    assert 0 < added <= PADDING_PACKETS * len(counters(data))
    assert continuous(out) == out


def test_counters_that_do_not_start_at_zero_are_numbered_from_it(media: MediaFiles) -> None:
    data = bytearray(media("h264_aac_ts").read_bytes())
    for at in range(0, len(data), 188):
        data[at + 3] = (data[at + 3] & 0xF0) | ((data[at + 3] + 5) & 0x0F)
    out = continuous(bytes(data))
    assert demuxed(out) == demuxed(bytes(data))
    assert all(c == (0, 15) for c in counters(out).values())
    assert continuity_errors([out]) == []
    assert sum(1 for _ in packets(out)) >= len(data) // 188


def test_what_is_not_a_transport_stream_is_left_alone() -> None:
    assert continuous(b"") == b""
    assert continuous(b"\x00" * 188) == b"\x00" * 188
    assert continuous(b"\x47" * 100) == b"\x47" * 100
