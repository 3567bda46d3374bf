"""One CMAF segment remuxed to MPEG-TS, for the websocket CDN's spectators (their
protocol carries MPEG-TS fragments). PyAV, no transcoding: the mpegts muxer puts H.264
and HEVC back in Annex B and AAC in ADTS by itself."""

from __future__ import annotations

import io

import av

from hlsd.media._live_model import MediaRefused
from hlsd.media.continuity import continuous

__all__ = ["cmaf_to_ts"]

_IN_TS = frozenset({"h264", "hevc", "aac", "mp3", "opus"})
"""What MPEG-TS carries that ffmpeg and hls.js read back (AV1 has no mapping they do)."""


def cmaf_to_ts(init: bytes, data: bytes) -> bytes:
    """`init` (ftyp + moov) and `data` (moof + mdat, …) as MPEG-TS on the same timeline
    (the muxer's fixed delay added), continuity counters ending at 15 so that fragments
    follow each other cleanly."""
    out = io.BytesIO()
    try:
        with av.open(io.BytesIO(init + data), "r", format="mp4") as demuxer, \
                av.open(out, "w", format="mpegts") as muxer:
            taken = [s for s in demuxer.streams if s.type in ("video", "audio")]
            for stream in taken:
                codec = stream.codec_context.codec.canonical_name
                if codec not in _IN_TS:
                    raise MediaRefused(f"{codec.upper()} cannot be carried in MPEG-TS")
            streams = {s.index: muxer.add_stream_from_template(s, opaque=True) for s in taken}
            for packet in demuxer.demux(taken):
                if packet.dts is None:  # the demuxer's end-of-stream markers
                    continue
                packet.stream = streams[packet.stream.index]
                muxer.mux(packet)
    except av.error.FFmpegError as exc:
        raise MediaRefused(f"the CMAF segment does not remux to MPEG-TS: {exc}") from exc
    return continuous(out.getvalue())
