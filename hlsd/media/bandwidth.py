"""How many MPEG-TS bytes a segment's payload becomes, without muxing it.

HLS BANDWIDTH counts whole segment bytes, so the index adds the transport
stream's packetization to the sizes it reads from the source. The constants
follow ffmpeg's mpegts muxer defaults and are checked against real segments in
the tests.
"""

from __future__ import annotations

import math

from hlsd.media.continuity import PADDING_PACKETS

TS_PACKET = 188
TS_PAYLOAD = 184
_VIDEO_PES_EXTRA = 19 + 6 + 8  # PES header with PTS+DTS, access unit delimiter, PCR field
_KEYFRAME_EXTRA = 64  # SPS/PPS repeated in front of every keyframe by the annex-B filter
_AUDIO_PES_PAYLOAD = 2930  # mpegts muxer default pes_payload_size
_AUDIO_PES_SECONDS = 0.35  # ...or half the muxer's max_delay, whichever comes first
_AUDIO_PES_EXTRA = 14 + TS_PAYLOAD // 2  # PES header plus the average padding of its last packet
_ADTS_HEADER = 7
_AAC_FRAMES_PER_SECOND = 48_000 / 1024
_PSI_PERIOD = 0.1  # PAT and PMT are resent every 100 ms, checked at each PES written
_SDT_PER_SECOND = 2
_TABLE_PIDS = 3  # PAT, PMT and SDT, next to one PID per track


def video_ts_bytes(size: int, keyframe: bool) -> int:
    """TS bytes of one video frame (one PES packet)."""
    payload = size + _VIDEO_PES_EXTRA + (_KEYFRAME_EXTRA if keyframe else 0)
    return TS_PACKET * math.ceil(payload / TS_PAYLOAD)


def audio_pes_count(payload: float, duration: float) -> int:
    """PES packets the muxer groups ``duration`` seconds of audio frames into."""
    return math.ceil(max(payload / _AUDIO_PES_PAYLOAD, duration / _AUDIO_PES_SECONDS))


def audio_ts_bytes(payload: float, duration: float, *, adts: bool) -> float:
    """TS bytes of ``duration`` seconds of audio totalling ``payload`` bytes."""
    if adts:
        payload += _ADTS_HEADER * _AAC_FRAMES_PER_SECOND * duration
    pes = audio_pes_count(payload, duration) + 1
    return (payload + pes * _AUDIO_PES_EXTRA) * TS_PACKET / TS_PAYLOAD


def psi_ts_bytes(duration: float, pes_per_second: float) -> float:
    """Program tables: at the start, then as often as PES writes give the muxer a chance."""
    tables = 2 * min(1 / _PSI_PERIOD, pes_per_second) + _SDT_PER_SECOND
    return TS_PACKET * (3 + tables * duration)


def padding_ts_bytes(tracks: int) -> int:
    """The most bytes a segment gains so that its continuity counters run on into the
    next one (`hlsd.media.continuity`); half that on average."""
    return TS_PACKET * PADDING_PACKETS * (_TABLE_PIDS + tracks)
