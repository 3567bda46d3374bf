"""The ABR ladder: which renditions an uploaded file is transcoded into.

A ladder is a list of rungs (height and bit rates). `plan_ladder` fits it to what the
source holds: never upscaled, widths from the source's aspect ratio, the audio ladder
for audio-only files, no audio for silent video.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from hlsd.media.probe import MediaInfo, VideoTrack

__all__ = ["AUDIO_LADDER", "DEFAULT_LADDER", "LadderError", "LadderPlan", "Rung", "plan_ladder"]

# A source smaller than every rung still gets a picture worth watching, and a rate no
# encoder chokes on.
_MIN_VIDEO_BITRATE = 100_000


class LadderError(ValueError):
    """Nothing can be transcoded; ``str(e)`` tells the uploader what to change."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Rung:
    """One rendition of the ladder.

    `width` is None in a ladder template: `plan_ladder` derives it from the source's
    aspect ratio. Audio-only rungs have no height and a video bit rate of 0.
    """

    name: str
    height: int | None
    video_bitrate: int
    audio_bitrate: int
    width: int | None = None

    def __post_init__(self) -> None:
        if self.height is None and self.video_bitrate:
            raise ValueError(f"rung {self.name}: an audio-only rung has no video bit rate")
        if self.height is not None and (self.height < 2 or self.video_bitrate <= 0):
            raise ValueError(f"rung {self.name}: a video rung needs a height and a bit rate")
        if self.audio_bitrate < 0 or (self.height is None and self.audio_bitrate == 0):
            raise ValueError(f"rung {self.name}: bad audio bit rate {self.audio_bitrate}")


DEFAULT_LADDER: tuple[Rung, ...] = (
    Rung(name="1080p", height=1080, video_bitrate=5_000_000, audio_bitrate=128_000),
    Rung(name="720p", height=720, video_bitrate=2_800_000, audio_bitrate=128_000),
    Rung(name="480p", height=480, video_bitrate=1_400_000, audio_bitrate=128_000),
    Rung(name="360p", height=360, video_bitrate=800_000, audio_bitrate=96_000),
)
AUDIO_LADDER: tuple[Rung, ...] = (
    Rung(name="audio-128k", height=None, video_bitrate=0, audio_bitrate=128_000),
    Rung(name="audio-64k", height=None, video_bitrate=0, audio_bitrate=64_000),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class LadderPlan:
    """The rungs to make from one source, and what the transcoder must know of it.

    `width`/`height` are the source's (None without video); `video_stream` and
    `audio_stream` are the source's stream indexes hlsd's probe chose, so ffmpeg reads
    the same tracks (not, say, an attached cover picture).
    """

    rungs: tuple[Rung, ...]
    width: int | None
    height: int | None
    has_video: bool
    has_audio: bool
    duration: float
    frame_rate: float | None
    video_stream: int | None = None
    audio_stream: int | None = None
    audio_channels: int | None = None

    @property
    def video_rungs(self) -> tuple[Rung, ...]:
        return tuple(rung for rung in self.rungs if rung.height is not None)

    @property
    def audio_bitrates(self) -> tuple[int, ...]:
        """Distinct audio bit rates, in ladder order: one AAC encode each, shared by every
        rung that asks for that rate."""
        rates = (rung.audio_bitrate for rung in self.rungs if rung.audio_bitrate)
        return tuple(dict.fromkeys(rates))


def plan_ladder(
    info: MediaInfo,
    ladder: Sequence[Rung] = DEFAULT_LADDER,
    audio_ladder: Sequence[Rung] = AUDIO_LADDER,
) -> LadderPlan:
    """Fit `ladder` (or `audio_ladder`, for a file without video) to the source."""
    if not math.isfinite(info.duration) or info.duration <= 0:
        raise LadderError("the file has no playable duration; upload a complete file")
    video, audio = info.video, info.audio
    if video is None:
        if audio is None:
            raise LadderError("the file has no video or audio track to transcode")
        rungs = tuple(rung for rung in audio_ladder if rung.height is None)
        if not rungs:
            raise LadderError("the file has audio only, and no audio renditions are set up")
    elif video.width < 2 or video.height < 2:
        raise LadderError(f"the video is {video.width}x{video.height}, too small to transcode")
    else:
        rungs = _video_rungs(video, ladder)
        if audio is None:
            rungs = tuple(replace(rung, audio_bitrate=0) for rung in rungs)
    return LadderPlan(
        rungs=rungs,
        width=None if video is None else video.width,
        height=None if video is None else video.height,
        has_video=video is not None,
        has_audio=audio is not None,
        duration=info.duration,
        frame_rate=None if video is None else video.frame_rate,
        video_stream=None if video is None else video.index,
        audio_stream=None if audio is None else audio.index,
        audio_channels=None if audio is None else audio.channels,
    )


def _video_rungs(video: VideoTrack, ladder: Sequence[Rung]) -> tuple[Rung, ...]:
    templates = sorted((r for r in ladder if r.height is not None),
                       key=lambda r: r.height or 0, reverse=True)
    if not templates:
        raise LadderError("no video renditions are set up for this video")
    kept = [rung for rung in templates if (rung.height or 0) <= video.height]
    if not kept:
        # Never upscale: one rung at the source's own size, its rate cut with the area
        # (both sizes share the source's aspect ratio).
        smallest = templates[-1]
        height = video.height - video.height % 2  # even, and never above the source
        area = (height / (smallest.height or height)) ** 2
        rate = max(_MIN_VIDEO_BITRATE, round(smallest.video_bitrate * area, -3))
        kept = [replace(smallest, name=f"{height}p", height=height,
                        video_bitrate=int(min(rate, smallest.video_bitrate)))]
    return tuple(replace(rung, width=_width(video, rung.height or 0)) for rung in kept)


def _width(video: VideoTrack, height: int) -> int:
    return max(2, _even(height * video.width / video.height))


def _even(value: float) -> int:
    """The nearest even integer: 4:2:0 video needs even dimensions."""
    return 2 * math.floor(value / 2 + 0.5)
