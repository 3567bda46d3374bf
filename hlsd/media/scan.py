"""Reading a source's packets, never decoding them, to find keyframes and sizes."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import av

from hlsd.media.bandwidth import video_ts_bytes
from hlsd.media.errors import MediaError
from hlsd.media.mp4box import TrackTiming
from hlsd.media.source import Source, open_bytes

_ID3_HEADER = 10
_XING_SEARCH = 4096  # the Xing/VBRI header sits in the first frame after the ID3 tag
_MIN_GOP = 4  # frames per keyframe, on average, below which seeking to each costs too much


@dataclass(frozen=True, kw_only=True)
class Gop:
    """A keyframe (normalized seconds) and the TS bytes of it and every packet after
    it in decode order, up to the next keyframe."""

    start: float
    ts_bytes: int


@dataclass(frozen=True, kw_only=True)
class AudioSizes:
    """Every audio packet's normalized time and size, in order."""

    times: list[float]
    sizes: list[int]

    def between(self, start: float | None, end: float | None) -> int:
        """Bytes of packets in [start, end); None leaves that side open."""
        lo = 0 if start is None else bisect_left(self.times, start)
        hi = len(self.times) if end is None else bisect_left(self.times, end)
        return sum(self.sizes[lo:hi])


@dataclass(frozen=True, kw_only=True)
class Scan:
    gops: list[Gop]
    audio: AudioSizes | None


def scan_packets(container: Any, video: int | None, audio: int | None, origin: float) -> Scan:
    """Demux only the given streams (the demuxer skips the bytes of the others)."""
    wanted = {i for i in (video, audio) if i is not None}
    for stream in container.streams:
        if stream.index not in wanted:
            stream.discard = av.stream.Discard.all
    gops: list[Gop] = []
    key_time: float | None = None
    gop_bytes = 0
    times: list[float] = []
    sizes: list[int] = []
    bases = {i: container.streams[i].time_base for i in wanted}
    try:
        for packet in container.demux([container.streams[i] for i in sorted(wanted)]):
            ts = packet.pts if packet.pts is not None else packet.dts
            if packet.size == 0 or ts is None:
                continue
            if packet.stream_index != video:
                tb = bases[packet.stream_index]
                times.append(ts * tb.numerator / tb.denominator - origin)
                sizes.append(packet.size)
                continue
            if packet.is_keyframe:
                if key_time is not None:
                    gops.append(Gop(start=key_time, ts_bytes=gop_bytes))
                tb = bases[packet.stream_index]
                key_time, gop_bytes = ts * tb.numerator / tb.denominator - origin, 0
            gop_bytes += video_ts_bytes(packet.size, packet.is_keyframe)
    except av.FFmpegError as exc:
        raise MediaError("file is truncated or corrupt") from exc
    if video is not None:
        if key_time is None:
            raise MediaError("video has no keyframes")
        gops.append(Gop(start=key_time, ts_bytes=gop_bytes))
    audio_sizes = None
    if audio is not None:
        if any(b < a for a, b in pairwise(times)):  # interleaving glitches: keep bisect valid
            pairs = sorted(zip(times, sizes, strict=True))
            times, sizes = [t for t, _ in pairs], [s for _, s in pairs]
        audio_sizes = AudioSizes(times=times, sizes=sizes)
    return Scan(gops=gops, audio=audio_sizes)


def mp4_gops(container: Any, index: int, origin: float,
             timing: TrackTiming | None = None) -> list[Gop] | None:
    """GOPs from an MP4 sample table, without reading the media data.

    The table gives every sample's size, DTS and keyframe flag; a keyframe's PTS is its
    DTS plus its composition offset from `timing` (the moov's ctts) plus one constant
    for the whole track (edit list, ffmpeg's DTS shift), which the packets of the first
    two keyframes give and confirm. Without usable `timing`, each keyframe's packet is
    read for its PTS. None tells the caller to demux everything instead.
    """
    stream = container.streams[index]
    entries = stream.index_entries
    count = len(entries)
    dts, sizes, key_at = [0] * count, [0] * count, []
    for i in range(count):
        entry = entries[i]
        dts[i], sizes[i] = entry.timestamp, entry.size
        if entry.is_keyframe:
            key_at.append(i)
    if not key_at or len(key_at) * _MIN_GOP > count:
        return None  # (nearly) all-intra: one seek per frame would cost more than a demux
    for other in container.streams:
        if other.index != index:
            other.discard = av.stream.Discard.all
    try:
        pts = None
        if timing is not None and _timing_fits(timing, dts):
            pts = _pts_from_table(container, stream, dts, key_at, timing)
        if pts is None:
            pts = [_keyframe_pts(container, stream, dts, key_at, j) for j in range(len(key_at))]
    except av.FFmpegError:
        return None
    if any(p is None for p in pts):
        return None
    num, den = stream.time_base.numerator, stream.time_base.denominator
    gops: list[Gop] = []
    for j, first in enumerate(key_at):
        stop = key_at[j + 1] if j + 1 < len(key_at) else count
        ts_bytes = sum(video_ts_bytes(sizes[i], i == first) for i in range(first, stop))
        start = pts[j]
        assert start is not None
        gops.append(Gop(start=start * num / den - origin, ts_bytes=ts_bytes))
    return gops


def _timing_fits(timing: TrackTiming, dts: list[int]) -> bool:
    """The moov's samples are ffmpeg's index entries one for one, deltas and all."""
    if timing.count != len(dts):
        return False
    deltas = timing.deltas
    return all(b - a == deltas[i] for i, (a, b) in enumerate(pairwise(dts)))


def _pts_from_table(container: Any, stream: Any, dts: list[int], key_at: list[int],
                    timing: TrackTiming) -> list[int | None] | None:
    offsets = timing.offsets
    first = _keyframe_pts(container, stream, dts, key_at, 0)
    if first is None:
        return None
    shift = first - dts[key_at[0]] - offsets[key_at[0]]
    pts: list[int | None] = [dts[k] + offsets[k] + shift for k in key_at]
    if len(key_at) > 1 and _keyframe_pts(container, stream, dts, key_at, 1) != pts[1]:
        return None
    return pts


def _keyframe_pts(container: Any, stream: Any, dts: list[int], key_at: list[int],
                  j: int) -> int | None:
    """The PTS of keyframe `j`, read from its packet.

    A seek to midway between two keyframes lands on the first (mov seeks by PTS); the
    packet read there must have the DTS the table says, or the answer is None.
    """
    first = key_at[j]
    stop = key_at[j + 1] if j + 1 < len(key_at) else len(dts)
    after = dts[stop] if stop < len(dts) else dts[-1] + 1
    container.seek((dts[first] + after) // 2, stream=stream, backward=True)
    packet = next(iter(container.demux(stream)), None)
    if packet is None or packet.dts != dts[first] or packet.pts is None:
        return None
    pts: int = packet.pts
    return pts


def mp4_audio_sizes(container: Any, index: int, origin: float) -> AudioSizes:
    """Audio packet times and sizes straight from an MP4 sample table: no reading."""
    stream = container.streams[index]
    # int maths then one division: exact where it can be, and a Fraction per sample
    # would cost ten times more
    num, den = stream.time_base.numerator, stream.time_base.denominator
    times: list[float] = []
    sizes: list[int] = []
    for entry in stream.index_entries:  # one pass: every entry access builds an object
        times.append(entry.timestamp * num / den - origin)
        sizes.append(entry.size)
    return AudioSizes(times=times, sizes=sizes)


def mp3_is_vbr(source: Source) -> bool:
    """Whether an MP3 announces variable bit rate (a Xing or VBRI header; LAME's CBR
    files say "Info"). Its header bit rate is then only an average."""
    with open_bytes(source) as f:
        head = f.read(_ID3_HEADER)
        skip = 0
        if head[:3] == b"ID3" and len(head) == _ID3_HEADER:
            skip = _ID3_HEADER + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(head[6:10]))
        f.seek(skip)
        frame = f.read(_XING_SEARCH)
    return b"Xing" in frame or b"VBRI" in frame
