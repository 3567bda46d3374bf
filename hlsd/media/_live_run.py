"""One run of the live segmenter: the first GOP held back to learn the target duration,
then every frame timed, cut and written as it comes; a new init when a codec's
configuration changes.

An audio track whose parameters are not known when the stream starts (its first frame
came after the probe: a sample rate of 0, no AudioSpecificConfig) is left out of the
first init, as MediaMTX and SRS do, rather than stopping the stream: once one of its
frames tells them, the track joins at the next video keyframe, with a new init (which
players see as a discontinuity). A track whose frames never tell them stays out, with
one warning.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import av

from hlsd.media import _bitstream as bits
from hlsd.media import _live_tracks as tracks_info
from hlsd.media._fmp4 import (
    DELTA_FLAGS,
    KEY_FLAGS,
    VIDEO_TIMESCALE,
    Run,
    build_init,
    fragment,
    read_init,
)
from hlsd.media._live_clock import Jumps, TrackClock
from hlsd.media._live_cutter import Cut, Cutter, Limits, Sample
from hlsd.media._live_input import Frame, InputTrack, LiveInput, TrackKind
from hlsd.media._live_model import CmafInit, CmafPart, MediaRefused, SegmenterOutput

__all__ = ["Settings", "run"]

log = logging.getLogger(__name__)

LATE_TRIES = 50
"""Frames of a late track decoded to learn its parameters before it is left out (a
second of AAC): a track none of whose first frames decodes is damaged or mislabelled."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    segment: float
    part: float
    max_gop: float


def part_ticks(part: float, timescale: int, step: int) -> int:
    """The part target in ticks: the whole frames (of `step` ticks) nearest to `part`
    seconds, plus half a frame, so that frames whose timestamps jitter (RTMP's whole
    milliseconds at 29.97 fps) still fit, and a part of the usual number of frames is
    well above the 85 % of the target a part must last (only a segment's last may be
    shorter). At 25 fps and 0.2 s: five frames, a 0.22 s target."""
    if step <= 0:
        return max(1, math.floor(part * timescale + 1e-6))
    frames = max(1, round(part * timescale / step))
    return frames * step + step // 2


@dataclass(slots=True)
class _Start:
    frames: list[Frame]
    gop: float | None
    """Seconds between the first two keyframes; None when unknown (audio only, input
    ended first); `max_gop` when the second did not come within it."""
    configs: dict[int, bytes]
    """By track index: the configuration of frames left out before the start that no
    kept frame of the track took on (a track with no frame in the first GOP)."""


@dataclass(slots=True)
class _Late:
    """A track the init leaves out while its parameters are not known. Once a frame
    tells them (`described`), its samples wait in `held` for the next video keyframe,
    where it joins; what starts before the latest video frame is let go, as it could
    not join anyway."""

    config: bytes | None
    described: tracks_info.Described | None = None
    held: deque[Sample] = field(default_factory=deque)
    tries: int = 0


def run(live: LiveInput, settings: Settings, output: SegmenterOutput) -> None:
    frames = live.frames()
    start = _first_gop(live.tracks, frames, settings.max_gop)
    if not start.frames:
        return
    segmenter = _Segmenter(live.tracks, settings, output, start)
    for frame in start.frames:
        segmenter.feed(frame)
    for frame in frames:
        segmenter.feed(frame)
    segmenter.finish(partial_tail=live.container == "mpegts")


class _Carried:
    """The configurations of frames left out before the start, passed on to the next
    kept frame of their track. A configuration comes with the frame it starts (MPEG-TS
    says AAC's once, with the first ADTS frame; FLV a new sequence header), and audio is
    often muxed ahead of the first video keyframe: without this the init would lack it
    (an esds without its AudioSpecificConfig, which browsers refuse)."""

    def __init__(self) -> None:
        self.configs: dict[int, bytes] = {}

    def drop(self, frame: Frame) -> None:
        if frame.config is not None:
            self.configs[frame.track.index] = frame.config

    def keep(self, frame: Frame) -> Frame:
        carried = self.configs.pop(frame.track.index, None)
        if frame.config is None:
            frame.config = carried
        return frame


def _first_gop(tracks: list[InputTrack], frames: Iterator[Frame], max_gop: float) -> _Start:
    """The frames up to and including the second video keyframe (from the first one; the
    audio from the same moment), or the first frame when there is no video. A frame left
    out hands its configuration on to the next one of its track kept (`_Carried`)."""
    video = next((t for t in tracks if t.kind is TrackKind.VIDEO), None)
    held: list[Frame] = []
    carried = _Carried()
    first_seen: dict[int, float] = {}
    start: float | None = None
    for frame in frames:
        when = float(frame.dts * frame.track.time_base)
        if video is None:
            return _Start(frames=[frame], gop=None, configs={})
        if start is None:
            if frame.track is not video or not frame.key:
                if when - first_seen.setdefault(frame.track.index, when) > max_gop:
                    raise MediaRefused(f"no video keyframe in the first {max_gop:g} s")
                if frame.track is not video:
                    held.append(frame)  # audio muxed ahead of the keyframe may follow it
                else:
                    carried.drop(frame)
                continue
            start = when
            before, held = held, []
            for early in before:
                if early.dts * early.track.time_base >= start:
                    held.append(carried.keep(early))
                else:
                    carried.drop(early)
            frame = carried.keep(frame)
        elif when < start:
            carried.drop(frame)
            continue  # audio from before the picture starts
        else:
            frame = carried.keep(frame)
            if frame.track is video and frame.key:
                held.append(frame)
                return _Start(frames=held, gop=when - start, configs=carried.configs)
            if frame.track is video and when - start >= max_gop:
                held.append(frame)
                return _Start(frames=held, gop=max_gop, configs=carried.configs)
        held.append(frame)
    return _Start(frames=held, gop=None, configs=carried.configs)


class _Segmenter:
    def __init__(self, tracks: list[InputTrack], settings: Settings,
                 output: SegmenterOutput, start: _Start) -> None:
        self._tracks = tracks
        self._output = output
        self._settings = settings
        self._video = next((t for t in tracks if t.kind is TrackKind.VIDEO), None)
        self._leader = tracks.index(self._video) if self._video is not None else 0
        first = [next((f for f in start.frames if f.track is t and (f.key or t is not
                                                                     self._video)), None)
                 for t in tracks]
        self._config: list[bytes | None] = []
        self._known: list[set[bytes]] = []
        for track, frame in zip(tracks, first, strict=True):
            config = (frame.config if frame is not None and frame.config
                      else start.configs.get(track.index) or track.extradata)
            if track.annexb and config is None:
                raise MediaRefused(f"the {track.codec.upper()} stream carries no parameter "
                                   "sets (SPS/PPS) with its first keyframe")
            self._config.append(config)
            self._known.append(_param_nals(config) if track.annexb and config else set())
        self._frame_rate = _frame_rate(self._video, start)
        self._bandwidth = _first_rate(start)
        self._target = tracks_info.target_duration(settings.segment, start.gop)
        self._size: tuple[int, int] | None = None
        self._described = [tracks_info.Described() for _ in tracks]
        if self._video is not None and not self._video.stream.codec_context.width:
            key = first[self._leader]
            if key is not None:
                self._size = self._describe(self._leader, key).size
                self._described[self._leader] = tracks_info.Described(size=self._size)
        self._late: dict[int, _Late] = {}
        for track, frame in zip(tracks, first, strict=True):
            self._learn_audio(track, frame)
        self._joined_at: dict[int, int] = {}
        """By track index: the decode time (its ticks) of the keyframe a late track
        joined at, while none of its samples from there has come."""
        self._lead_time = 0.0  # seconds: the leading track's latest decode time
        self._part_ticks = 0
        self._part_target: float | None = None
        self._ids, timescales, nominal = self._init()
        # Time 0 is the first decode time, audio or video (a tfdt is never negative).
        origin = min(f.dts * f.track.time_base for f in start.frames)
        jumps = Jumps()
        self._clocks = [TrackClock(time_base=t.time_base, timescale=scale, origin=origin,
                                   jumps=jumps, step=step)
                        for t, scale, step in zip(tracks, timescales, nominal, strict=True)]
        lead_scale = timescales[self._leader]
        self._cutter = Cutter(timescales=list(timescales), nominal=list(nominal),
                              leader=self._leader, audio_only=self._video is None,
                              limits=Limits(
            part=self._part_ticks,
            segment=math.floor(settings.segment * lead_scale + 1e-6),
            target=self._target * lead_scale,
            backlog=settings.max_gop + self._target))
        self._lead_scale = lead_scale
        self._sequence = 1
        self._segment_bits = 0
        self._segment_ticks = 0

    def _learn_audio(self, track: InputTrack, frame: Frame | None) -> None:
        """An audio track the probe could not describe: described by its first frame
        of the first GOP, else late (`_Late`). Audio alone cannot wait for itself."""
        index = track.index
        if track.kind is not TrackKind.AUDIO or _audio_known(
                track, self._config[index], self._described[index], probed=True):
            return
        if frame is not None:
            described = self._describe(index, frame)
            if _audio_known(track, self._config[index], described, probed=False):
                self._described[index] = described
                return
        if index == self._leader:
            raise MediaRefused(f"the {track.codec} stream's first frame does not tell its "
                               "sample rate and channels")
        self._late[index] = _Late(config=self._config[index])

    def _init(self) -> tuple[list[int], list[int], list[int]]:
        """Make and hand on an init of the tracks not late: each track's id, timescale
        and usual sample length (for a late one, stand-ins until it joins)."""
        active = [t for t in self._tracks if t.index not in self._late]
        setups = [tracks_info.setup(t, self._config[t.index], self._described[t.index])
                  for t in active]
        try:
            data = build_init(setups)
            inits = read_init(data)
        except (av.error.FFmpegError, ValueError) as exc:
            raise MediaRefused("the mp4 muxer could not describe the tracks "
                               f"({getattr(exc, 'strerror', None) or exc})") from exc
        if len(inits) != len(active):
            raise MediaRefused("the mp4 muxer could not describe every track")
        ids = [0] * len(self._tracks)
        timescales = [VIDEO_TIMESCALE] * len(self._tracks)
        nominal = [0] * len(self._tracks)
        for track, init in zip(active, inits, strict=True):
            ids[track.index] = init.track_id
            timescales[track.index] = init.timescale
            nominal[track.index] = tracks_info.nominal_ticks(
                track, init, self._described[track.index].frame_size, self._frame_rate)
        info = tracks_info.info(
            codecs_text=tracks_info.codecs_value(
                active, inits, [self._config[t.index] for t in active]),
            video=self._video, size=self._size, frame_rate=self._frame_rate,
            bandwidth=self._bandwidth)
        if self._part_target is None:  # fixed by the first init, as the cutter is
            lead = self._leader
            self._part_ticks = part_ticks(self._settings.part, inits[lead].timescale,
                                          nominal[lead])
            self._part_target = self._part_ticks / inits[lead].timescale
        self._output.init(CmafInit(data=data, info=info, target_duration=self._target,
                                   part_target=self._part_target))
        return ids, timescales, nominal

    def _describe(self, index: int, frame: Frame) -> tracks_info.Described:
        track = self._tracks[index]
        if track.annexb:  # decode it as it came: start codes, parameter sets in band
            sample = b"".join(b"\x00\x00\x00\x01" + bytes(nal) for nal in frame.chunks[1::2])
            return tracks_info.describe(track, None, sample)
        return tracks_info.describe(track, self._config[index],
                                    b"".join(bytes(c) for c in frame.chunks))

    def feed(self, frame: Frame) -> None:
        index = frame.track.index
        late = self._late.get(index)
        if late is not None:
            self._wait(index, late, frame)
            return
        dts, cts, jumped = self._clocks[index].place(frame.dts, frame.pts)
        if index == self._leader:
            self._lead_time = dts / self._clocks[index].timescale
        elif index in self._joined_at:
            if dts < self._joined_at[index]:
                return  # from before the keyframe its track joined at
            del self._joined_at[index]
        changed = frame.config is not None and self._changes(index, frame.config)
        joining = [i for i, waiting in self._late.items() if waiting.described is not None
                   ] if index == self._leader and frame.key else []
        if changed or joining:
            before = self._clocks[index].timescale
            self._reinit(index if changed else None, frame, joining,
                         end=dts if index == self._leader else None)
            after = self._clocks[index].timescale
            dts, cts = dts * after // before, cts * after // before
        if jumped:
            self._cutter.segment_at_next_key()
        sample = Sample(dts=dts, cts=cts, key=frame.key, size=frame.size,
                        chunks=frame.chunks, arrived=frame.arrived)
        for cut in self._cutter.push(index, sample):
            self._emit(cut)

    def _changes(self, index: int, config: bytes) -> bool:
        """Whether `config` differs from the init's: for parameter sets, one not seen
        before (encoders repeat them, sometimes only some of them, at keyframes)."""
        if self._tracks[index].annexb:
            return not _param_nals(config) <= self._known[index]
        return config != self._config[index]

    def _reinit(self, index: int | None, frame: Frame, joining: list[int], *,
                end: int | None) -> None:
        """A new init: track `index`'s configuration changed with `frame`, and/or the
        late tracks `joining` join at `frame`, a video keyframe decoded at `end`."""
        for cut in self._cutter.flush(end=end):
            self._emit(cut)
        if index is not None:
            self._config[index] = frame.config
            if self._tracks[index].annexb and frame.config:
                self._known[index] = _param_nals(frame.config)
            described = self._describe(index, frame)
            if index == self._leader and described.size is not None:
                self._size = described.size
            self._described[index] = described
        joined = {i: self._late.pop(i) for i in joining}
        for i, late in joined.items():
            assert late.described is not None
            self._config[i], self._described[i] = late.config, late.described
        ids, timescales, nominal = self._init()
        self._ids = ids
        for i, clock in enumerate(self._clocks):
            if i in self._late:
                continue
            before = clock.timescale
            if timescales[i] != before:
                clock.rescale(timescales[i])
            if timescales[i] != before or i in joined:
                self._cutter.rescale(i, timescales[i], nominal[i])
            if i in joined:
                self._join(i, joined[i], before=before,
                           at=(end or 0) * timescales[i] // self._lead_scale)

    def _join(self, index: int, late: _Late, *, before: int, at: int) -> None:
        """Hand the cutter a joining track's held samples from `at` (its ticks, where
        the keyframe it joins at is decoded) on; held in timescale `before`."""
        after = self._clocks[index].timescale
        kept = 0
        for sample in late.held:
            if after != before:
                sample.dts, sample.cts = sample.dts * after // before, sample.cts * after // before
            if sample.dts >= at:
                self._cutter.push(index, sample)
                kept += 1
        if not kept:
            self._joined_at[index] = at

    def _wait(self, index: int, late: _Late, frame: Frame) -> None:
        """A frame of a late track: its parameters learnt from it, or its sample held
        for the next keyframe."""
        track = self._tracks[index]
        if late.tries > LATE_TRIES:
            return  # left out
        if frame.config is not None and frame.config != late.config:
            late.config, late.described = frame.config, None
            late.held.clear()
        clock = self._clocks[index]
        if late.described is None:
            described = tracks_info.describe(track, late.config,
                                             b"".join(bytes(c) for c in frame.chunks))
            if not _audio_known(track, late.config, described, probed=False):
                late.tries += 1
                if late.tries > LATE_TRIES:
                    log.warning("the %s audio track is left out: none of its first %d frames "
                                "told its sample rate and channels", track.codec, LATE_TRIES)
                return
            late.described = described
            if described.audio is not None:
                clock.rescale(described.audio[0])  # its timescale in the init, most likely
            clock.start_with(self._clocks[self._leader])
        dts, cts, _ = clock.place(frame.dts, frame.pts)
        late.held.append(Sample(dts=dts, cts=cts, key=frame.key, size=frame.size,
                                chunks=frame.chunks, arrived=frame.arrived))
        # The next keyframe is decoded after the latest video frame.
        latest = self._lead_time * clock.timescale
        while late.held and late.held[0].dts < latest:
            late.held.popleft()

    def _emit(self, cut: Cut) -> None:
        runs = []
        arrived = []
        for index, samples in enumerate(cut.tracks):
            if not samples:
                continue
            video = self._tracks[index].kind is TrackKind.VIDEO
            runs.append(Run(
                track_id=self._ids[index], base=samples[0].dts,
                durations=[s.duration for s in samples], sizes=[s.size for s in samples],
                flags=[KEY_FLAGS if s.key else DELTA_FLAGS for s in samples],
                offsets=[s.cts for s in samples] if video else None,
                chunks=[c for s in samples for c in s.chunks]))
            arrived.append(samples[0].arrived)
        data = fragment(self._sequence, runs)
        self._sequence += 1
        if cut.starts_segment:
            self._measure_segment()
        self._segment_bits += 8 * len(data)
        self._segment_ticks += cut.duration
        self._output.part(CmafPart(data=data, duration=cut.duration / self._lead_scale,
                                   independent=cut.independent,
                                   starts_segment=cut.starts_segment, arrived=min(arrived)))

    def _measure_segment(self) -> None:
        if self._segment_ticks:
            rate = round(self._segment_bits * self._lead_scale / self._segment_ticks)
            self._bandwidth = max(rate, self._bandwidth or 0)
        self._segment_bits = self._segment_ticks = 0

    def finish(self, *, partial_tail: bool) -> None:
        for cut in self._cutter.flush(drop_last=partial_tail):
            self._emit(cut)


def _audio_known(track: InputTrack, config: bytes | None, described: tracks_info.Described,
                 *, probed: bool) -> bool:
    """Whether an init can carry the audio track: its sample rate and channels (decoded
    from a frame, or as the probe found them) and, for AAC, its AudioSpecificConfig
    (an esds without one is refused by browsers)."""
    if described.audio is not None:
        known = described.audio[0] > 0
    else:
        context = track.stream.codec_context
        known = probed and context.sample_rate > 0 and context.channels > 0
    return known and (track.codec != "aac" or bool(config))


def _param_nals(config: bytes) -> set[bytes]:
    return {bytes(nal) for nal in bits.annexb_nals(config)}


def _frame_rate(video: InputTrack | None, start: _Start) -> float | None:
    """Frames per second over the first GOP (the demuxer's guess without one)."""
    if video is None:
        return None
    times = [f.dts for f in start.frames if f.track is video]
    if start.gop and len(times) > 1:
        return (len(times) - 1) / start.gop
    if len(times) > 2 and times[-1] > times[0]:
        return float((len(times) - 1) / ((times[-1] - times[0]) * video.time_base))
    rate = video.stream.average_rate
    return float(rate) if rate else None


def _first_rate(start: _Start) -> int | None:
    """Bits per second of the first GOP."""
    if not start.gop or len(start.frames) < 2:
        return None
    return round(8 * sum(f.size for f in start.frames[:-1]) / start.gop)
