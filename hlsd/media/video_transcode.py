"""A segment's video decoded from the keyframe before it and encoded to H.264."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from av.video.frame import PictureType

from hlsd.media.decoder import Decoder
from hlsd.media.encoders import VideoEncoding
from hlsd.media.timeline import output_shift
from hlsd.media.tracks import SeekOvershoot, Window

_DEFAULT_RATE = Fraction(30)


class TranscodeVideo:
    """Frames whose presentation time falls in the span, re-encoded with libx264.

    Each segment gets a fresh encoder, so it opens with an IDR frame and its GOPs
    are closed; timestamps stay those of the source, so segments line up.
    """

    def __init__(self, source: Any, output: Any, window: Window, enc: VideoEncoding) -> None:
        self.source = source
        self.need_from = window.start or 0.0
        self.need_until = window.end
        self.done = False
        self._window = window
        self._decoder = Decoder(source)
        rate = Fraction(enc.frame_rate).limit_denominator(1001) if enc.frame_rate else None
        self._frame_ticks = max(1, round(1 / ((rate or _DEFAULT_RATE) * source.time_base)))
        self._out = output.add_stream("libx264", rate=rate or _DEFAULT_RATE,
                                      options=enc.options())
        ctx = self._out.codec_context
        ctx.width, ctx.height, ctx.pix_fmt = enc.width, enc.height, "yuv420p"
        ctx.time_base = source.time_base
        sar = source.codec_context.sample_aspect_ratio
        if sar:
            ctx.sample_aspect_ratio = sar
        self._enc = enc
        self._shift = output_shift(window.origin, source.time_base)
        self._last_pts: int | None = None

    def push(self, packet: Any) -> list[Any]:
        if self.done:
            return []
        return self._encode(self._decoder.decode(packet))

    def finish(self) -> list[Any]:
        packets = [] if self.done else self._encode(self._decoder.decode(None))
        self.done = True
        return packets + list(self._out.encode(None))

    def _encode(self, frames: list[Any]) -> list[Any]:
        packets: list[Any] = []
        w = self._window
        tb = self.source.time_base
        for frame in frames:
            pts = frame.pts
            if pts is None:  # some demuxers leave gaps: assume constant frame rate
                if self._last_pts is None:
                    continue
                pts = self._last_pts - self._shift + self._frame_ticks
            t = w.seconds(pts, tb)
            if w.start is not None and t < w.start:
                continue
            if w.end is not None and t >= w.end:
                self.done = True
                break
            first = self._last_pts is None
            late = w.start is not None and t > w.start + 1.5 * float(self._frame_ticks * tb)
            if first and w.strict and late:
                raise SeekOvershoot
            out_pts = pts + self._shift
            if self._last_pts is not None and out_pts <= self._last_pts:
                out_pts = self._last_pts + 1  # x264 refuses repeated timestamps
            image = frame.reformat(width=self._enc.width, height=self._enc.height,
                                   format="yuv420p")
            image.pts, image.time_base = out_pts, tb
            # libx264 obeys a frame's picture type, and decoded frames carry the source's
            image.pict_type = PictureType.I if first else PictureType.NONE
            self._last_pts = out_pts
            packets.extend(self._out.encode(image))
        return packets
