"""CMAF fMP4 for the live segmenter: the init section from FFmpeg's mp4 muxer, the
fragments (moof + mdat) from here.

The muxer writes the init because it knows every codec's configuration box (avcC and
hvcC from Annex B or from FLV's records, av1C, esds, dOps). Fragments are written here
because a part must end exactly where the segmenter says, which the muxer cannot be
told through PyAV (its only flush, a packet-less `av_write_frame`, is not exposed);
a moof is a few fixed-size boxes and one table per track, packed by `struct` (ISO/IEC
14496-12 8.8; CMAF, ISO/IEC 23000-19).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import av

from hlsd.media._bitstream import Chunk

__all__ = ["DELTA_FLAGS", "KEY_FLAGS", "VIDEO_TIMESCALE", "InitTrack", "Run", "TrackSetup",
           "build_init", "fragment", "read_init"]

VIDEO_TIMESCALE = 90000
"""Ticks per second of a video track: exact for FLV's milliseconds and MPEG-TS's 90 kHz."""
_MOVFLAGS = "empty_moov+default_base_moof+frag_custom+cmaf"
_CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl"})

KEY_FLAGS = 0x02000000
"""sample_depends_on = 2: a sync sample (ISO/IEC 14496-12 8.8.3.1)."""
DELTA_FLAGS = 0x01010000
"""sample_depends_on = 1 and sample_is_non_sync_sample."""


@dataclass(frozen=True, kw_only=True, slots=True)
class TrackSetup:
    """One track of an init: the demuxed stream it copies, and what changed since the
    stream was probed (a new configuration, a new picture size or audio format)."""

    template: Any  # av.stream.Stream
    extradata: bytes | None = None
    size: tuple[int, int] | None = None
    audio: tuple[int, str] | None = None
    """(sample rate, channel layout name)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class InitTrack:
    track_id: int
    timescale: int
    handler: bytes
    """``vide`` or ``soun``."""
    entry: bytes
    """The sample entry's type: ``avc1``, ``hvc1``, ``av01``, ``mp4a``, ``Opus``, …"""
    config: bytes
    """The sample entry's configuration box payload (avcC, hvcC, av1C), or empty."""


def build_init(tracks: Sequence[TrackSetup]) -> bytes:
    """ftyp + moov for these tracks, in this order, written by the mp4 muxer."""
    out = io.BytesIO()
    muxer = av.open(out, "w", format="mp4",
                    options={"movflags": _MOVFLAGS,
                             "video_track_timescale": str(VIDEO_TIMESCALE)})
    try:
        for setup in tracks:
            stream = muxer.add_stream_from_template(setup.template, opaque=True)
            context = stream.codec_context
            if context.name == "hevc":
                context.codec_tag = "hvc1"  # parameter sets in the sample entry: Apple's
            if setup.extradata is not None:
                context.extradata = setup.extradata
            if setup.size is not None:
                context.width, context.height = setup.size
            if setup.audio is not None:
                context.sample_rate, context.layout = setup.audio
        muxer.start_encoding()
        data = out.getvalue()
    finally:
        # The header is all there is: no trailer (it would index fragments never made).
        del muxer
    end = _moov_end(data)
    return data[:end]


def _moov_end(data: bytes) -> int:
    for box, _start, end in _boxes(data, 0, len(data)):
        if box == b"moov":
            return end
    raise ValueError("the mp4 muxer wrote no moov")


def read_init(data: bytes) -> list[InitTrack]:
    """Each track's id, timescale and sample entry, in the moov's order."""
    moov = next((s, e) for box, s, e in _boxes(data, 0, len(data)) if box == b"moov")
    tracks = []
    for box, start, end in _boxes(data, moov[0] + 8, moov[1]):
        if box != b"trak":
            continue
        found = dict(_walk(data, start + 8, end))
        tkhd, mdhd, hdlr, stsd = (found[name] for name in (b"tkhd", b"mdhd", b"hdlr", b"stsd"))
        track_id = _u32(data, tkhd + (20 if data[tkhd] == 1 else 12))
        timescale = _u32(data, mdhd + (20 if data[mdhd] == 1 else 12))
        entry_start = stsd + 8  # version, flags, entry count
        entry = data[entry_start + 4: entry_start + 8]
        config = b""
        handler = data[hdlr + 8: hdlr + 12]
        if handler == b"vide":
            # A visual sample entry's boxes follow its 78 bytes of fixed fields.
            for name, s, e in _boxes(data, entry_start + 86, entry_start + _u32(data, entry_start)):
                if name in (b"avcC", b"hvcC", b"av1C"):
                    config = data[s + 8: e]
        tracks.append(InitTrack(track_id=track_id, timescale=timescale, handler=handler,
                                entry=entry, config=config))
    return tracks


def _walk(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int]]:
    """(type, payload offset) of every box below a trak, containers entered."""
    for box, s, e in _boxes(data, start, end):
        yield box, s + 8
        if box in _CONTAINERS:
            yield from _walk(data, s + 8, e)


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    pos = start
    while pos + 8 <= end:
        size, box = struct.unpack_from(">I4s", data, pos)
        if size < 8 or pos + size > end:
            return
        yield box, pos, pos + size
        pos += size


def _u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at: at + 4], "big")


@dataclass(slots=True)
class Run:
    """One track's samples in a fragment: decode-ordered, contiguous from `base`."""

    track_id: int
    base: int
    """tfdt: the first sample's decode time, in the track's timescale."""
    durations: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    offsets: list[int] | None = None
    """Composition offsets (pts - dts ≥ 0), for video; None for none."""
    chunks: list[Chunk] = field(default_factory=list)


def fragment(sequence: int, runs: Sequence[Run]) -> bytes:
    """moof (mfhd, then per run a traf: tfhd, tfdt, trun) + one mdat with every run's
    data in order. Data offsets count from the moof (default-base-is-moof)."""
    runs = [run for run in runs if run.sizes]
    trafs_size = sum(_traf_size(run) for run in runs)
    moof_size = 8 + 16 + trafs_size
    boxes: list[Chunk] = [struct.pack(">I4sI4sII", moof_size, b"moof", 16, b"mfhd", 0, sequence)]
    data_offset = moof_size + 8
    for run in runs:
        count = len(run.sizes)
        per_sample = 16 if run.offsets is not None else 12
        trun_flags = 0x000701 | (0x000800 if run.offsets is not None else 0)
        trun_size = 20 + per_sample * count
        traf_size = 8 + 16 + 20 + trun_size
        boxes.append(struct.pack(">I4s" "I4sII" "I4sIQ" "I4sIIi",
                                 traf_size, b"traf",
                                 16, b"tfhd", 0x020000, run.track_id,
                                 20, b"tfdt", 0x01000000, run.base,
                                 trun_size, b"trun", trun_flags, count, data_offset))
        if run.offsets is None:
            table = [v for sample in zip(run.durations, run.sizes, run.flags, strict=True)
                     for v in sample]
        else:
            table = [v for sample in zip(run.durations, run.sizes, run.flags, run.offsets,
                                         strict=True) for v in sample]
        boxes.append(struct.pack(f">{len(table)}I", *table))
        data_offset += sum(run.sizes)
    mdat_size = 8 + sum(sum(run.sizes) for run in runs)
    boxes.append(struct.pack(">I4s", mdat_size, b"mdat"))
    for run in runs:
        boxes.extend(run.chunks)
    return b"".join(boxes)


def _traf_size(run: Run) -> int:
    per_sample = 16 if run.offsets is not None else 12
    return 8 + 16 + 20 + 20 + per_sample * len(run.sizes)
