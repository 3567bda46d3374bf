"""Join HLS segments into one MP4 by remuxing: packets are copied, never re-encoded.

The segments come as runs: a run is a stretch with continuous timestamps (MPEG-TS
segments, or an fMP4 init section followed by its fragments). Each run is demuxed on its
own and laid after the previous one on one timeline that starts at zero, so publisher
restarts and encoding changes (discontinuities) neither overlap nor leave gaps.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from hlsd.media.errors import MediaError

__all__ = ["join_to_mp4"]

_KINDS = ("video", "audio")
_HEAD_PACKETS = 32


class _Chunks(io.RawIOBase):
    """A forward-only file over byte chunks, read one at a time as the demuxer asks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = memoryview(chunk)
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def join_to_mp4(runs: Iterable[Iterable[bytes]], output: Path, *, segment_format: str) -> float:
    """Remux the runs into an MP4 at `output` (moov first, for progressive playback);
    returns its duration in seconds. `segment_format` is the demuxer: ``mpegts`` or
    ``mp4``. A run that cannot be read raises `MediaError`."""
    with av.open(str(output), "w", format="mp4",
                 options={"movflags": "+faststart"}) as out:
        streams: dict[str, Any] = {}
        last_dts: dict[str, int] = {}
        cursor = Fraction(0)  # where the next run starts, in seconds
        for number, run in enumerate(runs):
            try:
                cursor = _remux_run(run, out, streams, last_dts, cursor, segment_format)
            except av.FFmpegError as exc:
                raise MediaError(f"run {number} of the recording cannot be read: {exc}") \
                    from exc
        if not streams:
            raise MediaError("the recording holds no audio or video")
    return float(cursor)


def _remux_run(run: Iterable[bytes], out: Any, streams: dict[str, Any],
               last_dts: dict[str, int], cursor: Fraction, segment_format: str) -> Fraction:
    source: Any
    with av.open(_Chunks(run), format=segment_format) as source:
        mapped = {}
        for stream in source.streams:
            if stream.type in _KINDS:
                if stream.type not in streams:
                    streams[stream.type] = out.add_stream_from_template(stream)
                mapped[stream.index] = streams[stream.type]
        packets: Iterator[Any] = (p for p in source.demux(*[source.streams[i] for i in mapped])
                   if p.size and p.dts is not None)  # flush packets carry nothing
        # The run starts at its earliest timestamp among its first packets (each stream
        # has spoken by then), which goes to the cursor.
        head = list(itertools.islice(packets, _HEAD_PACKETS))
        if not head:
            return cursor
        shift = cursor - min(p.dts * p.time_base for p in head)
        end = cursor
        for packet in itertools.chain(head, packets):
            base = packet.time_base
            offset = round(shift / base)
            kind = packet.stream.type
            dts = packet.dts + offset
            if dts <= last_dts.get(kind, -(1 << 62)):
                continue  # the join's rounding would step back: drop a frame, not the file
            last_dts[kind] = dts
            pts = (packet.dts if packet.pts is None else packet.pts) + offset
            packet.dts, packet.pts = dts, pts
            packet.stream = mapped[packet.stream.index]
            end = max(end, (pts + (packet.duration or 0)) * base)
            out.mux(packet)
        return end
