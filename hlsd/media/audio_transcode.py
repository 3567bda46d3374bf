"""A segment's audio decoded, resampled and encoded to AAC-LC.

Segments are encoded independently yet must play as one continuous stream. So
segment audio is cut on a grid of whole AAC frames (1024 samples, counted from
the timeline origin), and each encoder is fed real audio for two frames before
and after its share: the frames it keeps then overlap-add with the neighbours'
exactly as if one encoder had made them all. Only the first segment keeps the
encoder's priming frame, which sits just before the timeline origin.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import av

from hlsd.media.decoder import Decoder
from hlsd.media.encoders import AudioEncoding
from hlsd.media.timeline import TS_OFFSET
from hlsd.media.tracks import SeekOvershoot, Window

AAC_FRAME = 1024
_ROLL = 2 * AAC_FRAME  # encoder input beyond the kept frames, on each side
_DECODER_PREROLL = 0.25  # seconds decoded and thrown away (Opus needs 80 ms, mp3 a few frames)
_JITTER = 0.02  # seconds of timestamp noise taken as continuous audio
_MAX_JUMP = 30.0  # seconds: a bigger timestamp jump is broken input, not a real gap


def grid(seconds: float, rate: int) -> int:
    """The first AAC frame boundary at or after ``seconds``, in samples."""
    frames = -(-round(seconds * rate) // AAC_FRAME)
    return frames * AAC_FRAME


class TranscodeAudio:
    def __init__(self, source: Any, output: Any, window: Window, enc: AudioEncoding) -> None:
        rate = enc.sample_rate
        self.source = source
        self.done = False
        self._window = window
        self._rate = rate
        self._keep_lo = None if window.start is None else grid(window.start, rate)
        self._keep_hi = None if window.end is None else grid(window.end, rate)
        self._feed_lo = 0 if self._keep_lo is None else self._keep_lo - _ROLL
        self._feed_hi = None if self._keep_hi is None else self._keep_hi + _ROLL
        self.need_from = self._feed_lo / rate - _DECODER_PREROLL
        self.need_until = None if self._feed_hi is None else self._feed_hi / rate
        self._shift = round(TS_OFFSET * rate)
        self._jitter = round(_JITTER * rate)
        self._max_jump = round(_MAX_JUMP * rate)
        self._decoder = Decoder(source)
        self._resampler = av.AudioResampler(format="fltp", layout=enc.layout, rate=rate)
        self._fifo = av.AudioFifo()
        self._write_pos: int | None = None  # timeline sample the fifo's next input starts at
        self._enc_pos = self._feed_lo  # timeline sample of the next frame to encode
        self._layout = enc.layout
        self._out = output.add_stream("aac", rate=rate, layout=enc.layout)
        ctx = self._out.codec_context
        ctx.format, ctx.bit_rate, ctx.time_base = "fltp", enc.bit_rate, Fraction(1, rate)

    def push(self, packet: Any) -> list[Any]:
        if self.done:
            return []
        self._take(self._decoder.decode(packet))
        return self._encode(final=False)

    def finish(self) -> list[Any]:
        if not self.done:
            self._take(self._decoder.decode(None))
            self._append(self._resampler.resample(None), None)
        self.done = True
        return self._encode(final=True) + self._keep(self._out.encode(None))

    def _take(self, frames: list[Any]) -> None:
        for frame in frames:
            if self.done:
                return
            pos = None
            if frame.pts is not None and frame.time_base is not None:
                pos = round(self._window.seconds(frame.pts, frame.time_base) * self._rate)
            self._append(self._resampler.resample(frame), pos)

    def _append(self, frames: list[Any], pos: int | None) -> None:
        """Queue resampled audio that starts at timeline sample ``pos`` (None: right after).

        The first audio after the seek is placed exactly; later timestamps only
        matter when they jump (a gap in the source is filled with silence).
        """
        for frame in frames:
            if self.done:
                return
            exact = self._write_pos is None
            if self._write_pos is None:
                if pos is None:
                    continue
                if self._window.strict and self._keep_lo is not None and pos > self._feed_lo:
                    raise SeekOvershoot
                self._write_pos = self._feed_lo
            skip = 0
            if pos is not None:
                gap = pos - self._write_pos
                if exact or self._jitter < abs(gap) <= self._max_jump:
                    if gap > 0:
                        self._write(_silence(self._fill(gap), self._layout, self._rate))
                    skip = min(frame.samples, max(0, -gap))
            pos = None
            self._write(_slice(frame, skip, frame.samples - skip))

    def _fill(self, gap: int) -> int:
        """How much of a gap to fill with silence: only what this segment feeds."""
        assert self._write_pos is not None
        room = self._max_jump if self._feed_hi is None else self._feed_hi - self._write_pos
        return max(1, min(gap, room))

    def _write(self, frame: Any | None) -> None:
        """Add audio at the write position, cut at the end of what this segment feeds."""
        if frame is None or self._write_pos is None:
            return
        count = frame.samples
        if self._feed_hi is not None:
            count = min(count, self._feed_hi - self._write_pos)
        if count <= 0:
            self.done = True
            return
        frame = _slice(frame, 0, count) if count < frame.samples else frame
        if frame is None:
            return
        frame.pts = None
        self._fifo.write(frame)
        self._write_pos += count
        if self._feed_hi is not None and self._write_pos >= self._feed_hi:
            self.done = True

    def _encode(self, final: bool) -> list[Any]:
        packets: list[Any] = []
        while self._fifo.samples >= AAC_FRAME or (final and self._fifo.samples):
            frame = self._fifo.read(min(AAC_FRAME, self._fifo.samples))
            assert frame is not None
            frame.pts, frame.time_base = self._enc_pos, Fraction(1, self._rate)
            self._enc_pos += frame.samples
            packets.extend(self._keep(self._out.encode(frame)))
        return packets

    def _keep(self, packets: Any) -> list[Any]:
        """Packets (pts = first sample they decode to) in this segment's share, shifted."""
        kept = []
        for packet in packets:
            if self._keep_lo is not None and packet.pts < self._keep_lo:
                continue
            if self._keep_hi is not None and packet.pts >= self._keep_hi:
                continue
            packet.pts += self._shift
            packet.dts = packet.pts
            kept.append(packet)
        return kept


def _slice(frame: Any, skip: int, count: int) -> Any | None:
    if count <= 0:
        return None
    if skip == 0 and count == frame.samples:
        return frame
    fifo = av.AudioFifo()
    frame.pts = None
    fifo.write(frame)
    if skip:
        fifo.read(skip)
    return fifo.read(count)


def _silence(count: int, layout: str, rate: int) -> Any:
    frame = av.AudioFrame(format="fltp", layout=layout, samples=count)
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    frame.sample_rate = rate
    return frame
