"""``/live/{stream}/…``: live streams and channels; ``/v1/vod/live/{sourceId}/…``,
LiveMix's name for a source's live stream.

What plays under a name is found in order: the hub's stream (unless it is a channel
fed into the hub for websocket readers: players get a channel computed), else the
channel of that name, else (`StreamResolver`) the stream relayed from the node that
publishes it, which stays relayed while players ask for its playlists.

``index.m3u8`` is the media playlist of a single-variant stream, or the master of a
multivariant one whose variants are at ``<variant>/index.m3u8``;
segments are served by the unique names the playlists give them. With a gate
(``live.access: token``), a token bound to ``live/<stream>`` is needed and answers keep
out of shared caches. A variant fed parts is served as Low-Latency HLS on the same URLs
(`hlsd.delivery.lowlatency`: delivery directives, blocking reloads, parts, hinted parts).
"""

from __future__ import annotations

import posixpath
from typing import Protocol
from urllib.parse import unquote

from hlsd.auth.subjects import live_subject
from hlsd.channels import Channel, Playout, Unknown
from hlsd.cluster.resolver import StreamResolver
from hlsd.delivery.gate import TokenGate
from hlsd.delivery.lowlatency import MAX_WAITERS, Answer, LowLatency
from hlsd.delivery.request import Request
from hlsd.delivery.resource import (
    IMMUTABLE,
    LIVE_PLAYLIST,
    FileBody,
    Refused,
    Resource,
    content_type,
    playlist_of,
)
from hlsd.hls import Rendered
from hlsd.streams import (
    InitSegment,
    PublisherKind,
    Segment,
    Skipping,
    Stream,
    StreamHub,
    StreamState,
)
from hlsd.streams.segment import SEGMENT_MEDIA_TYPES
from hlsd.streams.stream import MASTER

__all__ = ["LIVEMIX_PREFIX", "PREFIX", "LiveMixLiveResolver", "LiveResolver",
           "StreamingNames"]

PREFIX = "/live/"
LIVEMIX_PREFIX = "/v1/vod/live/"
_TYPES = {ext: content_type(kind) for ext, kind in SEGMENT_MEDIA_TYPES.items()}
_OCTETS = content_type("application/octet-stream")
_INIT = content_type("video/mp4")


class LiveResolver:
    def __init__(self, *, hub: StreamHub, gate: TokenGate | None,
                 channels: Playout | None = None,
                 resolver: StreamResolver | None = None,
                 max_waiters: int = MAX_WAITERS, max_hold: float | None = None) -> None:
        """`max_waiters`: LL-HLS requests one stream may have held at once (503 past
        it); `max_hold`: seconds one is held at most, if less than three target
        durations."""
        self._hub = hub
        self._gate = gate
        self._channels = channels
        self._resolver = resolver
        self._ll = LowLatency(max_waiters=max_waiters, max_hold=max_hold)

    async def __call__(self, request: Request) -> Resource:
        # Each part decoded on its own: a stream id holding "/" (websocket ids may) is
        # one part, ``/live/room%2Fcam/…``.
        raw = request.raw_rest()
        parts = raw.split("/") if "%" not in raw else [unquote(p) for p in raw.split("/")]
        # `resolve`, inlined: one coroutine less on the hot path.
        answer = self._in_hub(request, parts)
        if answer is None:
            return await self._elsewhere(request, parts)
        return answer if isinstance(answer, Resource) else await answer

    async def resolve(self, request: Request, parts: list[str]) -> Resource:
        """`parts`: the stream's name, then the path under it."""
        answer = self._in_hub(request, parts)
        if answer is None:
            return await self._elsewhere(request, parts)
        return answer if isinstance(answer, Resource) else await answer

    def _in_hub(self, request: Request, parts: list[str]) -> Answer | None:
        """From the hub's stream of that name (looked up first, without awaiting: the
        hot path), or None when the hub has none. The gate is passed here. What is
        held (LL-HLS) comes as a coroutine to await."""
        if self._gate is not None:
            self._gate.admit(request, live_subject(parts[0]))
        stream = self._hub.get(parts[0])
        if stream is None or stream.kind is PublisherKind.CHANNEL:
            return None  # a channel fed to websocket readers: players get it computed
        if stream.state is not StreamState.LIVE and parts[-1] == MASTER \
                and self._resolver is not None:
            return None  # ended here: it may be live on another node
        return _from_stream(stream, parts[1:], request, self._ll)

    async def _elsewhere(self, request: Request, parts: list[str]) -> Resource:
        """What plays under a name the hub has no live stream of: the channel of that
        name, else the stream relayed from another node (only a playlist request starts
        a relay), else what ended here."""
        ended = self._hub.get(parts[0])
        if ended is not None and ended.kind is PublisherKind.CHANNEL:
            ended = None
        if ended is None and self._channels is not None:
            channel = await self._channels.channel(parts[0])
            if channel is not None:
                return await self._from_channel(channel, parts[1:])
        if self._resolver is not None and len(parts) in (2, 3) and parts[-1] == MASTER:
            relayed = await self._resolver.resolve_for_players(parts[0])
            if relayed is not None:
                return await _awaited(_from_stream(relayed, parts[1:], request, self._ll))
        if ended is None:
            raise Refused(404, "no such live stream")
        return await _awaited(_from_stream(ended, parts[1:], request, self._ll))

    async def _from_channel(self, channel: Channel, parts: list[str]) -> Resource:
        """A channel: its master, a variant's playlist at this instant, or a segment."""
        assert self._channels is not None
        try:
            if parts == [MASTER]:
                return _playlist(channel.master())
            if len(parts) == 2 and parts[1] == MASTER and parts[0].isdigit():
                return _playlist(channel.media(int(parts[0]), self._channels.now_us()))
            if len(parts) == 4 and all(p.isdigit() for p in parts[::2]) \
                    and parts[3].endswith(".ts") and parts[3][:-3].isdigit():
                variant, key, tick, index = (int(parts[0]), parts[1], int(parts[2]),
                                             int(parts[3][:-3]))
                part = channel.segment(variant, key, tick, index, self._channels.now_us())
                data = await self._channels.segment(
                    channel.cache_key(variant, key, tick, index), part)
                return Resource(data, _TYPES[".ts"], IMMUTABLE)
        except Unknown as exc:
            raise Refused(404, str(exc)) from None
        raise Refused(404, "no such channel resource")


async def _awaited(answer: Answer) -> Resource:
    return answer if isinstance(answer, Resource) else await answer


def _from_stream(stream: Stream, parts: list[str], request: Request,
                 ll: LowLatency) -> Answer:
    """`parts`: a playlist or segment name, after a variant's folder if there is one."""
    if len(parts) not in (1, 2):
        raise Refused(404, "no such live stream")
    variant, name = ("/".join(parts[:-1]), parts[-1])
    playlist: Rendered | None
    if name == MASTER:
        stream.played()  # players watch it: a relay of it stays open
    if name == MASTER and not variant and stream.multivariant:
        playlist = stream.master()
    else:
        rendition = stream.renditions.get(variant)
        if rendition is None:
            raise Refused(404, "no such variant")
        if name != MASTER:
            item = rendition.get(name)
            if item is None and rendition.part_target is not None:
                return ll.part(stream, rendition, name)
            return _segment(item, name)
        if rendition.part_target is not None:
            if b"_HLS_" in request.scope["query_string"]:
                return ll.playlist(stream, variant, request)
            playlist = rendition.playlist(Skipping.NONE, stream if variant else None)
        else:
            playlist = rendition.playlist()
    return _playlist(playlist)


def _playlist(playlist: Rendered | None) -> Resource:
    if playlist is None:
        raise Refused(404, "the stream has no segments yet")
    return playlist_of(playlist, LIVE_PLAYLIST)


def _segment(item: Segment | InitSegment | None, name: str) -> Resource:
    if item is None:
        raise Refused(404, "no such segment (or no longer available)")
    if isinstance(item, InitSegment):
        return Resource(item.data, _INIT, IMMUTABLE)
    kind = _TYPES.get(posixpath.splitext(name)[1], _OCTETS)
    if item.data is None:  # spilled to disk: sent from there
        assert item.path is not None
        return Resource(FileBody(item.path, missing="segment no longer available"), kind,
                        IMMUTABLE)
    return Resource(item.data, kind, IMMUTABLE)


class StreamingNames(Protocol):
    async def streaming_name(self, source_id: str) -> str | None:
        """The stream name of a LiveMix source that is streaming, else None."""


class LiveMixLiveResolver:
    """``/v1/vod/live/{sourceId}/vid.m3u8`` and its segments: the source's live stream,
    resolved as ``/live/<its stream name>/…``, while the source is streaming."""

    def __init__(self, *, live: LiveResolver, names: StreamingNames) -> None:
        self._live = live
        self._names = names

    async def __call__(self, request: Request) -> Resource:
        source_id = request.rest.partition("/")[0]
        stream = await self._names.streaming_name(source_id) if source_id else None
        if stream is None:
            raise Refused(404, "no such video source, or it is not streaming")
        rest = request.raw_rest().partition("/")[2]
        parts = [MASTER] if rest == "vid.m3u8" else [unquote(p) for p in rest.split("/")]
        return await self._live.resolve(request, [stream, *parts])
