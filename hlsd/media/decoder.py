"""Decoding that survives the odd damaged packet, as ffmpeg itself does."""

from __future__ import annotations

from typing import Any

import av

from hlsd.media.errors import MediaError

# A segment read from just after a seek may hit a few packets that reference data
# before it (mp3 bit reservoir, open GOPs); more failures than this mean damage.
MAX_DECODE_ERRORS = 8


class Decoder:
    def __init__(self, stream: Any) -> None:
        self._ctx = stream.codec_context
        self._ctx.thread_type = "AUTO"
        self._errors = 0

    def decode(self, packet: Any | None) -> list[Any]:
        """Frames for ``packet``; ``None`` drains the decoder."""
        try:
            return list(self._ctx.decode(packet))
        except av.InvalidDataError as exc:
            self._errors += 1
            if self._errors > MAX_DECODE_ERRORS:
                raise MediaError("file is truncated or corrupt") from exc
            return []
