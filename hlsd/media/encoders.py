"""The encoder settings hlsd uses when a track must be transcoded.

The index announces what these settings produce (CODECS, RESOLUTION, BANDWIDTH)
before any segment exists, so both read them from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hlsd.media.probe import AudioTrack, VideoTrack

# H.264 Annex A table A-1: (level_idc, MaxMBPS, MaxFS, MaxBR in kbit/s for Baseline/Main).
_H264_LEVELS: tuple[tuple[int, int, int, int], ...] = (
    (30, 40_500, 1_620, 10_000), (31, 108_000, 3_600, 14_000), (32, 216_000, 5_120, 20_000),
    (40, 245_760, 8_192, 20_000), (41, 245_760, 8_192, 50_000), (42, 522_240, 8_704, 50_000),
    (50, 589_824, 22_080, 135_000), (51, 983_040, 36_864, 240_000),
    (52, 2_073_600, 36_864, 240_000),
)
_HIGH_BR_FACTOR = 1.25  # High profile may use 1.25x the Main profile bit rate
_MAX_BOX = (1920, 1080)
_ASSUMED_FPS = 30.0
_BITS_PER_PIXEL = 0.12  # per frame: the VBV cap, roughly 6 Mbit/s at 1080p30
_MIN_MAXRATE = 400_000
_MAX_MAXRATE = 8_000_000
VBV_SECONDS = 1.0  # VBV buffer as seconds of maxrate
AAC_SAMPLE_RATES = (44_100, 48_000)


@dataclass(frozen=True, kw_only=True)
class VideoEncoding:
    """libx264 settings for one source video track."""

    width: int
    height: int
    frame_rate: float | None
    level_idc: int
    maxrate: int
    bufsize: int

    @property
    def codec_string(self) -> str:
        # profile_idc 100 (High), no constraint flags: what x264 writes for High
        return f"avc1.6400{self.level_idc:02x}"

    def options(self) -> dict[str, str]:
        level = f"{self.level_idc // 10}.{self.level_idc % 10}"
        params = (
            f"level={level}:vbv-maxrate={self.maxrate // 1000}"
            f":vbv-bufsize={self.bufsize // 1000}:open-gop=0"
        )
        return {"preset": "veryfast", "profile": "high", "crf": "23", "x264-params": params}


@dataclass(frozen=True, kw_only=True)
class AudioEncoding:
    """AAC-LC settings for one source audio track."""

    sample_rate: int
    channels: int
    bit_rate: int
    codec_string: str = "mp4a.40.2"

    @property
    def layout(self) -> str:
        return "mono" if self.channels == 1 else "stereo"


def fit_size(width: int, height: int) -> tuple[int, int]:
    """Scale into a 1080p box (either orientation), keep aspect, make both even."""
    long_max, short_max = _MAX_BOX
    box = (long_max, short_max) if width >= height else (short_max, long_max)
    scale = min(1.0, box[0] / width, box[1] / height)
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def video_encoding(track: VideoTrack) -> VideoEncoding:
    width, height = fit_size(track.width, track.height)
    fps = track.frame_rate or _ASSUMED_FPS
    maxrate = int(width * height * min(fps, 60.0) * _BITS_PER_PIXEL)
    maxrate = min(max(maxrate, _MIN_MAXRATE), _MAX_MAXRATE) // 1000 * 1000
    return VideoEncoding(
        width=width, height=height, frame_rate=track.frame_rate,
        level_idc=h264_level(width, height, fps, maxrate), maxrate=maxrate,
        bufsize=int(maxrate * VBV_SECONDS),
    )


def h264_level(width: int, height: int, fps: float, maxrate: int) -> int:
    """The lowest level (3.0 at least, for player compatibility) that fits the stream."""
    frame_mbs = math.ceil(width / 16) * math.ceil(height / 16)
    for level_idc, max_mbps, max_fs, max_br in _H264_LEVELS:
        if (frame_mbs <= max_fs and frame_mbs * fps <= max_mbps
                and maxrate <= max_br * 1000 * _HIGH_BR_FACTOR):
            return level_idc
    return _H264_LEVELS[-1][0]


def audio_encoding(track: AudioTrack) -> AudioEncoding:
    rate = track.sample_rate if track.sample_rate in AAC_SAMPLE_RATES else 48_000
    channels = min(max(track.channels, 1), 2)
    return AudioEncoding(
        sample_rate=rate, channels=channels, bit_rate=128_000 if channels == 2 else 64_000,
    )
