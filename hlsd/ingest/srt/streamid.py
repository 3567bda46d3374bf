"""What an SRT caller's stream id asks for, and the codes an SRT listener refuses with.

hlsd only takes publishers over SRT (its streams play over HLS), in two spellings:

- MediaMTX's, ``publish:<stream>[:<key>]``: the stream ends at the first ``:``; the
  key is everything after it (so a stream whose name holds a ``:`` is published with
  the other form);
- SRT's access-control form (libsrt's ``docs/features/access-control.md``),
  ``#!::r=<stream>,m=publish[,key=<key>]``: comma-separated ``key=value`` pairs in any
  order, taken as they are (the convention has no escaping: a value holds no ``,``).
  ``m`` defaults to ``request`` there, so a publisher must say ``m=publish``; ``t`` is
  ``stream`` when given; ``u`` (user), ``h`` (host) and keys of other applications are
  ignored, as the convention allows. The nested ``#!:{…}`` form is not supported.

A caller asking to read (``read:…``, ``m=request``) or anything else is refused with a
code of ``access_control.h`` the caller sees (ffmpeg prints it), and a reason for the log.
Whether the stream name is valid and the key right is `Publishers.open`'s to say.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["PublishTarget", "RejectCode", "StreamIdRefused", "parse_stream_id", "redacted"]

_FORMS = "publish:<stream>[:<key>] or #!::r=<stream>,m=publish[,key=<key>]"
_MAX_BYTES = 512  # what libsrt carries of a stream id
_SECRET_KEYS = frozenset({"key", "s"})  # hlsd's key; MediaMTX's password in the #!:: form


class RejectCode(enum.IntEnum):
    """``SRT_REJX_*`` (libsrt's ``access_control.h``): HTTP's codes + 1000."""

    BAD_REQUEST = 1400
    UNAUTHORIZED = 1401
    OVERLOAD = 1402
    FORBIDDEN = 1403
    BAD_MODE = 1405
    CONFLICT = 1409
    NOTSUP_MEDIA = 1415
    ISE = 1500
    DOWN = 1503


@dataclass(frozen=True, slots=True)
class PublishTarget:
    stream: str
    key: str | None


class StreamIdRefused(ValueError):
    """The stream id asks for nothing hlsd gives; `code` is what the caller is told."""

    def __init__(self, message: str, code: RejectCode) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def parse_stream_id(stream_id: str | None) -> PublishTarget:
    """The stream and key a publisher's stream id names, or `StreamIdRefused`."""
    if not stream_id:
        raise StreamIdRefused(f"no stream id: publish with streamid={_FORMS}",
                              RejectCode.BAD_REQUEST)
    if len(stream_id.encode(errors="surrogatepass")) > _MAX_BYTES:
        raise StreamIdRefused(f"a stream id longer than {_MAX_BYTES} bytes",
                              RejectCode.BAD_REQUEST)
    if stream_id.startswith("#!:"):
        return _access_control(stream_id)
    mode, colon, rest = stream_id.partition(":")
    if colon and mode == "publish":
        stream, _, key = rest.partition(":")
        if not stream:
            raise StreamIdRefused("no stream named after 'publish:'", RejectCode.BAD_REQUEST)
        return PublishTarget(stream, key or None)
    if colon and mode == "read":
        raise _reading()
    raise StreamIdRefused(f"a stream id of neither form: {_FORMS}", RejectCode.BAD_REQUEST)


def redacted(stream_id: str) -> str:
    """`stream_id` fit for a log line: the key (whatever follows ``<mode>:<stream>:``,
    or ``key=``/``s=`` values) replaced by ``…``; the caller still has to `clip` it."""
    if stream_id.startswith("#!:"):
        items = []
        for item in stream_id.split(","):
            name, equals, _ = item.partition("=")
            secret = equals and name.removeprefix("#!::") in _SECRET_KEYS
            items.append(f"{name}=…" if secret else item)
        return ",".join(items)
    mode, colon, rest = stream_id.partition(":")
    stream, colon2, _ = rest.partition(":")
    return f"{mode}:{stream}:…" if colon and colon2 else stream_id


def _access_control(stream_id: str) -> PublishTarget:
    if not stream_id.startswith("#!::"):
        raise StreamIdRefused("only the '#!::' form of SRT access control is supported",
                              RejectCode.BAD_REQUEST)
    pairs: dict[str, str] = {}
    for item in stream_id[4:].split(","):
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise StreamIdRefused(f"'{item}' is no key=value pair", RejectCode.BAD_REQUEST)
        if name in pairs:
            raise StreamIdRefused(f"'{name}' is given twice", RejectCode.BAD_REQUEST)
        pairs[name] = value
    mode = pairs.get("m", "request")
    if mode == "request":
        raise _reading()
    if mode != "publish":
        raise StreamIdRefused(f"mode m={mode}: hlsd takes m=publish only", RejectCode.BAD_MODE)
    kind = pairs.get("t", "stream")
    if kind != "stream":
        raise StreamIdRefused(f"type t={kind}: hlsd takes live streams (t=stream) only",
                              RejectCode.NOTSUP_MEDIA)
    stream = pairs.get("r", "")
    if not stream:
        raise StreamIdRefused("no resource r=<stream>", RejectCode.BAD_REQUEST)
    return PublishTarget(stream, pairs.get("key") or None)


def _reading() -> StreamIdRefused:
    return StreamIdRefused("hlsd takes SRT publishers only: its streams play over HLS, at "
                           "/live/<stream>/index.m3u8", RejectCode.BAD_MODE)
