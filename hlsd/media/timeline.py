"""The output timeline shared by media segments and subtitle segments.

Every output timestamp is ``source_time - MediaInfo.start_time + TS_OFFSET``. The
offset keeps DTS positive when B-frames or AAC priming put the first decode time
before the first presentation time, and it is the same 1.4 s ffmpeg's own HLS
muxer produces (twice its default muxdelay), so players see familiar numbers.
"""

from __future__ import annotations

from fractions import Fraction

TS_OFFSET: float = 1.4
MPEGTS_CLOCK = 90_000
TS_OFFSET_TICKS: int = round(TS_OFFSET * MPEGTS_CLOCK)


def to_ticks(seconds: float, time_base: Fraction) -> int:
    """Seconds as the nearest whole number of ``time_base`` units."""
    return round(Fraction(seconds) / time_base)


def output_shift(origin: float, time_base: Fraction) -> int:
    """Ticks to add to a source timestamp to put it on the output timeline."""
    return to_ticks(TS_OFFSET - origin, time_base)
