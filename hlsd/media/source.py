"""Opening a source with PyAV and choosing the streams hlsd serves.

A source is a local file (a `Path`) or a `MediaSource`: bytes read through file
objects, e.g. fetched by byte range as they are read. Every media function takes either.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeAlias

import av

from hlsd.media.errors import MediaError

# File signatures of containers ffmpeg reads: a file that starts like media but
# will not open was cut short or damaged, anything else is simply not media.
_MAGIC: tuple[bytes, ...] = (
    b"ID3", b"RIFF", b"fLaC", b"OggS", b"\x1a\x45\xdf\xa3", b"FORM", b"\x30\x26\xb2\x75",
    b"FLV", b"caff", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"\xff\xf1", b"\xff\xf9",
)


class MediaSource(Protocol):
    """A source read through file objects (its bytes may not all be local)."""

    @property
    def size(self) -> int:
        """Bytes in the whole source."""
        ...

    def open(self) -> BinaryIO:
        """A new seekable reader of its own (callers close it); safe in any thread."""
        ...


Source: TypeAlias = Path | MediaSource


def source_size(source: Source) -> int:
    return source.stat().st_size if isinstance(source, Path) else source.size


def open_bytes(source: Source) -> BinaryIO:
    """A new seekable binary reader of `source` (a context manager that closes it)."""
    return source.open("rb") if isinstance(source, Path) else source.open()


def open_error(source: Source) -> MediaError:
    """Turn a failure to open `source` into a reason a user can act on."""
    try:
        with open_bytes(source) as f:
            head = f.read(12)
    except OSError:
        return MediaError("file cannot be read")
    if not head:
        return MediaError("file is empty")
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide") or head.startswith(_MAGIC):
        return MediaError("file is truncated or corrupt")
    return MediaError("not a media file")


@contextmanager
def open_input(source: Source) -> Iterator[Any]:
    """An open PyAV input container, closed on exit; open failures are MediaError.

    Errors a `MediaSource` reader raises (an upstream failing) pass through as they are.
    """
    with ExitStack() as stack:
        target: str | BinaryIO = str(source)
        if not isinstance(source, Path):
            target = stack.enter_context(source.open())
        try:
            container = av.open(target, metadata_errors="ignore")
        except FileNotFoundError as exc:
            raise MediaError("file not found") from exc
        except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise open_error(source) from exc
        stack.callback(container.close)  # before the reader under it
        yield container


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
