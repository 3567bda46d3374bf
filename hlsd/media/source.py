"""Opening a source file with PyAV and choosing the streams hlsd serves."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import av

from hlsd.media.errors import MediaError

# File signatures of containers ffmpeg reads: a file that starts like media but
# will not open was cut short or damaged, anything else is simply not media.
_MAGIC: tuple[bytes, ...] = (
    b"ID3", b"RIFF", b"fLaC", b"OggS", b"\x1a\x45\xdf\xa3", b"FORM", b"\x30\x26\xb2\x75",
    b"FLV", b"caff", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"\xff\xf1", b"\xff\xf9",
)


def open_error(path: Path) -> MediaError:
    """Turn a failure to open ``path`` into a reason a user can act on."""
    try:
        with path.open("rb") as f:
            head = f.read(12)
    except OSError:
        return MediaError("file cannot be read")
    if not head:
        return MediaError("file is empty")
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide") or head.startswith(_MAGIC):
        return MediaError("file is truncated or corrupt")
    return MediaError("not a media file")


@contextmanager
def open_input(path: Path) -> Iterator[Any]:
    """An open PyAV input container, closed on exit; open failures are MediaError."""
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except FileNotFoundError as exc:
        raise MediaError("file not found") from exc
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise open_error(path) from exc
    try:
        yield container
    finally:
        container.close()


def _usable(stream: Any) -> bool:
    if stream.disposition & av.stream.Disposition.attached_pic:
        return False  # cover art in mp3/m4a is a one-frame "video" stream
    ctx = stream.codec_context
    if ctx is None:
        return False
    if stream.type == "video":
        return bool(ctx.width and ctx.height)
    return bool(ctx.sample_rate and ctx.channels)


def _pick(streams: Any) -> Any | None:
    usable = [s for s in streams if _usable(s)]
    defaults = [s for s in usable if s.disposition & av.stream.Disposition.default]
    return (defaults or usable or [None])[0]


def select_streams(container: Any) -> tuple[Any | None, Any | None]:
    """The video and audio stream to serve (either may be None)."""
    return _pick(container.streams.video), _pick(container.streams.audio)
