"""``GET /live/{stream}/…``: live streams from the hub, as plain ASGI (a hot path): the
hub's stream, else a channel's computed playlists, else (`StreamResolver`) the stream
relayed from the node that publishes it.

``index.m3u8`` is the media playlist of a single-variant stream, or the master of a
multivariant one whose variants are at ``<variant>/index.m3u8``. Segments are served by
the unique names the playlists give them.
"""

from __future__ import annotations

import asyncio
import posixpath
from urllib.parse import quote, unquote

from starlette.types import Receive, Scope, Send

from hlsd.api._asgi import (
    Cors,
    Headers,
    request_headers,
    respond,
    respond_error,
    send_playlist,
)
from hlsd.api._gate import TokenGate, live_subject
from hlsd.api._query_token import TOKEN_HEADERS
from hlsd.api.livemix import SourceNames
from hlsd.channels import Channel, Playout, Unknown
from hlsd.cluster.resolver import StreamResolver
from hlsd.hls import Rendered
from hlsd.streams import InitSegment, PublisherKind, Segment, StreamHub, StreamState
from hlsd.streams.segment import SEGMENT_MEDIA_TYPES
from hlsd.streams.stream import MASTER

PREFIX = "/live/"
_WANTED = TOKEN_HEADERS | {b"if-none-match", b"origin"}
_M3U8 = (b"content-type", b"application/vnd.apple.mpegurl")
# A CDN may hold a live playlist for about a second; segment names are never reused.
# Gated streams keep out of shared caches.
_PUBLIC = ((b"cache-control", b"public, max-age=1"),
           (b"cache-control", b"public, max-age=31536000, immutable"))
_PRIVATE = ((b"cache-control", b"private, max-age=1"),
            (b"cache-control", b"private, max-age=31536000, immutable"))
_TYPES = {ext: kind.encode() for ext, kind in SEGMENT_MEDIA_TYPES.items()}


class LiveHls:
    """With a `gate`, playback needs a token bound to ``live/<stream>`` (header,
    bearer, or ``?token=``, which then travels in the playlists' URIs)."""

    def __init__(self, *, hub: StreamHub, cors: Cors, gate: TokenGate | None,
                 channels: Playout | None = None,
                 resolver: StreamResolver | None = None) -> None:
        self._hub = hub
        self._cors = cors
        self._gate = gate
        self._channels = channels
        self._resolver = resolver
        self._caching = _PRIVATE if gate else _PUBLIC

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = request_headers(scope, _WANTED)
        cors = self._cors.headers(headers.get(b"origin"))
        head = scope["method"] == "HEAD"
        parts = _path_parts(scope)
        query_token = None
        if self._gate is not None:
            refusal, query_token = self._gate.admit(scope, headers, live_subject(parts[0]))
            if refusal is not None:
                await respond_error(send, refusal[0], refusal[1], cors)
                return
        stream = self._hub.get(parts[0]) if len(parts) in (2, 3) else None
        if stream is not None and stream.kind is PublisherKind.CHANNEL:
            stream = None  # a channel fed to websocket readers: players get it computed
        if stream is None:
            channel = await self._channels.channel(parts[0]) if self._channels else None
            if channel is not None:
                await self._channel(scope, receive, send, channel, parts[1:], headers,
                                    (cors, head, query_token))
                return
        if (stream is None or stream.state is not StreamState.LIVE) \
                and self._resolver is not None and len(parts) in (2, 3) and parts[-1] == MASTER:
            # Published on another node: relayed here while players ask for it.
            stream = await self._resolver.resolve_for_players(parts[0]) or stream
        if stream is None:
            await respond_error(send, 404, "no such live stream", cors)
            return
        variant, name = ("/".join(parts[1:-1]), parts[-1])
        playlist: Rendered | None
        if name == MASTER and not variant and stream.multivariant:
            playlist = stream.master()
        else:
            rendition = stream.renditions.get(variant)
            if rendition is None:
                await respond_error(send, 404, "no such variant", cors)
                return
            if name != MASTER:
                await self._segment(send, rendition.get(name), name, cors, head)
                return
            playlist = rendition.playlist()
        stream.played()  # keeps a relay for HTTP players open
        if playlist is not None and query_token is not None:
            assert self._gate is not None
            playlist = self._gate.playlists.with_token(playlist, query_token)
        await _playlist(send, playlist, headers, [self._caching[0], *cors], head)

    async def _channel(self, scope: Scope, receive: Receive, send: Send, channel: Channel,
                       parts: list[str], headers: dict[bytes, bytes],
                       request: tuple[Headers, bool, str | None]) -> None:
        """A channel: its master, a variant's playlist at this instant, or a segment."""
        assert self._channels is not None
        cors, head, query_token = request
        try:
            if parts == [MASTER]:
                playlist: Rendered | None = channel.master()
            elif len(parts) == 2 and parts[1] == MASTER and parts[0].isdigit():
                playlist = channel.media(int(parts[0]), self._channels.now_us())
            elif len(parts) == 4 and all(p.isdigit() for p in parts[::2]) \
                    and parts[3].endswith(".ts") and parts[3][:-3].isdigit():
                variant, key, tick, index = (int(parts[0]), parts[1], int(parts[2]),
                                             int(parts[3][:-3]))
                part = channel.segment(variant, key, tick, index, self._channels.now_us())
                data = await self._channels.segment(
                    channel.cache_key(variant, key, tick, index), part)
                await respond(send, 200, [(b"content-type", _TYPES[".ts"]), self._caching[1],
                                          *cors], data, head=head)
                return
            else:
                raise Unknown("no such channel resource")
        except Unknown as exc:
            await respond_error(send, 404, str(exc), cors)
            return
        if playlist is not None and query_token is not None:
            assert self._gate is not None
            playlist = self._gate.playlists.with_token(playlist, query_token)
        await _playlist(send, playlist, headers, [self._caching[0], *cors], head)

    async def _segment(self, send: Send, item: object, name: str, cors: Headers,
                       head: bool) -> None:
        if item is None:
            await respond_error(send, 404, "no such segment (or no longer available)", cors)
            return
        assert isinstance(item, InitSegment | Segment)
        ctype = b"video/mp4" if isinstance(item, InitSegment) else _TYPES.get(
            posixpath.splitext(name)[1], b"application/octet-stream")
        data = item.data
        if data is None:  # spilled to disk
            assert isinstance(item, Segment)
            try:
                data = await asyncio.to_thread(item.read)
            except FileNotFoundError:
                await respond_error(send, 404, "segment no longer available", cors)
                return
        await respond(send, 200, [(b"content-type", ctype), self._caching[1], *cors], data,
                      head=head)


async def _playlist(send: Send, playlist: Rendered | None, headers: dict[bytes, bytes],
                    cors: Headers, head: bool) -> None:
    if playlist is None:
        await respond_error(send, 404, "the stream has no segments yet", cors)
        return
    await send_playlist(send, playlist.body, playlist.etag, [_M3U8, *cors],
                        headers.get(b"if-none-match"), head=head)


class LiveMixPlayback:
    """``/v1/vod/live/{sourceId}/vid.m3u8`` and its segments: the source's live stream,
    served by `LiveHls` under the stream's own name."""

    PREFIX = "/v1/vod/live/"

    def __init__(self, *, live: LiveHls, names: SourceNames) -> None:
        self._live = live
        self._names = names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        source_id, _, rest = scope["path"][len(self.PREFIX):].partition("/")
        stream = await self._names.streaming_name(source_id) if source_id else None
        if stream is None:
            await respond_error(send, 404, "no such video source, or it is not streaming", [])
            return
        name = MASTER if rest == "vid.m3u8" else rest
        path = f"{PREFIX}{quote(stream, safe='')}/{name}"
        await self._live({**scope, "path": unquote(path), "raw_path": path.encode()},
                         receive, send)


def _path_parts(scope: Scope) -> list[str]:
    """The parts of the path after ``/live/``, each percent-decoded on its own, so that a
    stream id holding ``/`` (websocket ids may) is one part: ``/live/room%2Fcam/…``."""
    raw = scope.get("raw_path")
    if not raw:
        return str(scope["path"])[len(PREFIX):].split("/")
    return [unquote(part) for part in raw.decode("latin-1")[len(PREFIX):].split("/")]
