"""A live byte stream opened with PyAV: which tracks are carried, and each packet as MP4
sample bytes with its input timestamps and the time its bytes were read.

Probing is kept short (`OPEN_OPTIONS`): the first part waits for the first GOP anyway,
and a long probe would only add to that. A track's codec is checked here, so a stream
hlsd cannot carry in CMAF is refused before anything is made.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any, Protocol

import av

from hlsd.media import _bitstream as bits
from hlsd.media._live_model import MediaRefused

__all__ = ["AUDIO_CODECS", "OPEN_OPTIONS", "VIDEO_CODECS", "Frame", "InputTrack", "LiveInput",
           "Readable", "TrackKind"]

OPEN_OPTIONS = {
    "probesize": str(1 << 20),  # room for a 1080p keyframe; FLV stops at its streams' headers
    "analyzeduration": "250000",  # µs: MPEG-TS has no header, so it probes this much media
    "fpsprobesize": "0",  # no frames read to guess a frame rate: the segmenter measures it
    "merge_pmt_versions": "1",  # a new PMT version keeps its streams (SRT reconnects)
}
VIDEO_CODECS = frozenset({"h264", "hevc", "av1"})
AUDIO_CODECS = frozenset({"aac", "opus", "mp3"})
_NAMES = {"h264": "H.264", "hevc": "HEVC", "av1": "AV1", "aac": "AAC", "opus": "Opus",
          "mp3": "MP3"}
_READ_TIMES = 4096  # reads remembered for packets' arrival times (≥ the probe's reads)


class Readable(Protocol):
    def read(self, n: int) -> bytes: ...


class TrackKind(enum.Enum):
    VIDEO = "video"
    AUDIO = "audio"


@dataclass(eq=False, slots=True)
class InputTrack:
    index: int
    """Its place among the tracks taken (and in the init)."""
    kind: TrackKind
    codec: str
    """FFmpeg's codec name: h264, hevc, av1, aac, opus, mp3."""
    stream: Any  # av.stream.Stream: the template of the init's track
    time_base: Fraction
    annexb: bool
    """Video in start-code form (MPEG-TS): each sample is rewritten length-prefixed."""
    adts: bool
    """AAC in ADTS frames (MPEG-TS): each sample loses its header."""
    extradata: bytes | None
    """The configuration the init is made with, as far as it is known."""
    step: int = 0
    """A frame's usual duration in `time_base` units (0: unknown), for the timestamps a
    demuxer leaves out: a PES of several ADTS frames stamps only the first when the
    input cannot seek."""
    next_dts: int | None = None
    config_key: object = None
    """The ADTS header bits last seen: a frame with others changes the init."""


@dataclass(slots=True)
class Frame:
    track: InputTrack
    dts: int
    pts: int
    """In the track's `time_base`, as demuxed."""
    key: bool
    chunks: list[bits.Chunk]
    size: int
    arrived: datetime
    config: bytes | None
    """A new codec configuration this frame starts (Annex B parameter sets, an
    AudioSpecificConfig, FLV's new record), else None."""


class _TimedReader:
    """The source as PyAV reads it, remembering when each byte range arrived so that a
    packet is dated by its first byte even when the probe read it long before."""

    def __init__(self, source: Readable, clock: Callable[[], datetime]) -> None:
        self._source = source
        self._clock = clock
        self._position = 0
        self._reads: deque[tuple[int, datetime]] = deque(maxlen=_READ_TIMES)  # (end, when)

    def read(self, n: int) -> bytes:
        data = self._source.read(n)
        if not isinstance(data, bytes):
            data = bytes(data)
        if data:
            self._position += len(data)
            self._reads.append((self._position, self._clock()))
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def arrival(self, position: int | None) -> datetime:
        """When the byte at `position` was read (the latest read when unknown)."""
        reads = self._reads
        if position is not None and position >= 0:
            while len(reads) > 1 and reads[0][0] <= position:
                reads.popleft()
            if reads:
                return reads[0][1]
        return reads[-1][1] if reads else self._clock()


class LiveInput:
    """The demuxer over one byte stream and the tracks taken from it: the first video
    and the first audio stream (others, and data streams, are ignored)."""

    def __init__(self, source: Readable, container: str,
                 clock: Callable[[], datetime]) -> None:
        self._reader = _TimedReader(source, clock)
        self.container = container
        try:
            self._demuxer: Any = av.open(self._reader, format=container, options=OPEN_OPTIONS,
                                    buffer_size=1 << 16)
        except (av.error.FFmpegError, ValueError) as exc:  # ValueError: an unknown format
            raise MediaRefused(f"the input is not {_container_name(container)} "
                               f"({_reason(exc)})") from exc
        self.tracks = self._select()

    def _select(self) -> list[InputTrack]:
        video = [s for s in self._demuxer.streams if s.type == "video"
                 and not s.disposition & av.stream.Disposition.attached_pic]
        audio = [s for s in self._demuxer.streams if s.type == "audio"]
        if not video and not audio:
            raise MediaRefused("the input has no audio or video stream")
        tracks: list[InputTrack] = []
        for streams, kind, allowed in ((video, TrackKind.VIDEO, VIDEO_CODECS),
                                       (audio, TrackKind.AUDIO, AUDIO_CODECS)):
            if not streams:
                continue
            usable = [s for s in streams if _codec(s) in allowed]
            if not usable:
                names = ", ".join(sorted({_codec(s) for s in streams}))
                carried = ", ".join(_NAMES[c] for c in sorted(allowed))
                raise MediaRefused(f"unsupported {kind.value} codec {names}: hlsd carries "
                                   f"{carried} in CMAF (send one of them, no transcoding)")
            stream = usable[0]
            codec = _codec(stream)
            extradata = stream.codec_context.extradata
            in_ts = self.container == "mpegts"
            tracks.append(InputTrack(
                index=len(tracks), kind=kind, codec=codec, stream=stream,
                time_base=Fraction(stream.time_base),
                annexb=in_ts and codec in ("h264", "hevc"), adts=in_ts and codec == "aac",
                extradata=bytes(extradata) if extradata else None,
                step=_usual_step(stream, kind, codec)))
        return tracks

    def frames(self) -> Iterator[Frame]:
        """The tracks' packets in the order demuxed; damaged ones dropped. A demux error
        after the start ends the stream as MediaRefused (what came before stays
        delivered)."""
        by_index = {track.stream.index: track for track in self.tracks}
        packets = self._demuxer.demux([track.stream for track in self.tracks])
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except IndexError:
                # PyAV's end-of-input flush looks up every stream the demuxer has, and a
                # stream the FLV demuxer made of damaged bytes mid-way is not in its list.
                return
            except av.error.FFmpegError as exc:
                raise MediaRefused(f"the input stopped demuxing as "
                                   f"{_container_name(self.container)} ({_reason(exc)})"
                                   ) from exc
            track = by_index.get(packet.stream.index)
            if track is None or packet.size == 0 or packet.is_corrupt:
                continue
            dts, pts = packet.dts, packet.pts
            if dts is None:
                if track.next_dts is None:
                    continue
                dts = pts = track.next_dts
            step = packet.duration or track.step or _adts_step(track, packet)
            track.next_dts = dts + step if step else None
            yield self._frame(track, packet, dts, dts if pts is None else pts)

    def _frame(self, track: InputTrack, packet: Any, dts: int, pts: int) -> Frame:
        config: bytes | None = None
        chunks: list[bits.Chunk]
        key = bool(packet.is_keyframe)
        if track.annexb:
            view = memoryview(packet)
            chunks, size, heads = bits.length_prefixed(view)
            if key and bits.has_param_sets(heads, track.codec):
                config = bits.param_sets(view, track.codec)
        elif track.adts:
            data = bytes(packet)
            if bits.is_adts(data):
                adts_key = bits.adts_key(data)
                if adts_key != track.config_key:
                    config = bits.adts_config(data)
                    track.config_key = adts_key
                chunks = [bits.adts_payload(data)]
                size = len(chunks[0])
            else:
                chunks, size = [data], len(data)
        else:
            view = memoryview(packet)
            if track.codec == "av1":
                view = bits.without_temporal_delimiters(view)
            chunks, size = [view], len(view)
        # FLV says a new configuration (a sequence header) as side data; MPEG-TS in band.
        if self.container == "flv" and packet.has_sidedata("new_extradata"):
            config = bytes(packet.get_sidedata("new_extradata"))
        return Frame(track=track, dts=dts, pts=pts, key=key or track.kind is TrackKind.AUDIO,
                     chunks=chunks, size=size, arrived=self._reader.arrival(packet.pos),
                     config=config)

    def close(self) -> None:
        self._demuxer.close()


def _usual_step(stream: Any, kind: TrackKind, codec: str) -> int:
    """A frame's duration in the stream's time base, as far as the probe tells."""
    context = stream.codec_context
    if kind is TrackKind.AUDIO:
        samples = context.frame_size or {"opus": 960, "mp3": 1152}.get(codec, 1024)
        seconds = Fraction(samples, context.sample_rate) if context.sample_rate else None
    else:
        rate = stream.average_rate or stream.guessed_rate
        seconds = 1 / Fraction(rate) if rate else None
    return round(seconds / stream.time_base) if seconds else 0


def _adts_step(track: InputTrack, packet: Any) -> int:
    """An AAC frame's duration from its ADTS header, learnt once, for a track whose first
    frame came after the probe (its sample rate unknown): without it, the frames a PES
    carries after its first, which have no timestamp, would be lost."""
    if not track.adts or packet.size < 8:
        return 0
    head = bytes(memoryview(packet)[:8])
    if not bits.is_adts(head):
        return 0
    rate_index = (head[2] >> 2) & 0x0F
    if rate_index >= len(bits.ADTS_RATES):
        return 0
    track.step = round(Fraction(1024, bits.ADTS_RATES[rate_index]) / track.time_base)
    return track.step


def _codec(stream: Any) -> str:
    """The codec's name (``av1``, not the decoder's ``libdav1d``)."""
    context = stream.codec_context
    if context is not None:
        return str(context.codec.canonical_name)
    return str(stream.name or "unknown")


def _reason(exc: Exception) -> str:
    """FFmpeg's words for a failure, without its error number and file name."""
    return str(getattr(exc, "strerror", None) or exc)


def _container_name(container: str) -> str:
    return {"flv": "FLV", "mpegts": "MPEG-TS"}.get(container, container)
