"""LiveMix's video sources: defined in the database, each streaming as the hlsd live
stream of its name.

`LiveMixSources` holds their CRUD and the lookups the LiveMix routes make. The playback
path (``/v1/vod/live/{sourceId}/…``) asks, on every request, which stream a source id
plays (`streaming_name`), so those answers are kept in a bounded cache whose staleness is
stated: an answer is at most `ttl` seconds old, a change made through this service is
seen at once, and a change made on another node or process (sharing the database) is seen
within `ttl`. Unknown ids are remembered the same way, so a client asking for ids that do
not exist costs one query per id and `ttl`, not one per request.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

from hlsd.db import Source, repo
from hlsd.db.errors import NotFound
from hlsd.db.repo import Sessions
from hlsd.db.timestamps import utcnow
from hlsd.infra.cache import Cache
from hlsd.ingest.errors import UnknownSource
from hlsd.ingest.names import validate_stream_id
from hlsd.streams.changes import ChangeSignal

__all__ = ["NAME_TTL", "LiveMixSources", "Source", "utcnow"]

NAME_TTL = 2.0
"""Seconds a source's stream name and streaming flag are believed without asking the
database again: how late another node's change may be seen by the playback path."""
MAX_NAMES = 4096
"""Source ids whose answer is kept."""
MAX_ID_LENGTH = 36
"""A source id is a UUID (`Source.id`); anything longer names no source."""


class _Known(NamedTuple):
    """What the playback path needs of a source id: its stream, if it has one now."""

    name: str | None
    """None: no such source."""
    streaming: bool


class LiveMixSources:
    def __init__(self, sessions: Sessions, *, ttl: float = NAME_TTL,
                 max_names: int = MAX_NAMES, any_name: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`any_name`: ``POST /v1/playlist`` takes any valid stream name (an edge: its
        sources are defined on the control and matched there by name)."""
        self._sessions = sessions
        self._any_name = any_name
        self.names: Cache[str, _Known] = Cache("livemix-sources", max_entries=max_names,
                                               ttl=ttl, clock=clock)
        """Source id → stream name and streaming flag (for `/metrics`)."""
        self._writes = 0
        """Changes made here: a lookup that began before one does not keep its answer."""
        self.changes = ChangeSignal()
        """Released by every change made on this node to a source's streaming flag or to
        its recordings (`changed`): the edge links tell their edges at once rather than
        at their next read."""

    # -- the LiveMix API's verbs -----------------------------------------------------------

    async def create(self, *, name: str, segment_length: int,
                     description: str | None = None) -> Source:
        """A new source, not streaming. Its name is a stream id (the HTTP ingest rule:
        `MalformedPush` otherwise); a name taken is `Conflict`."""
        validate_stream_id(name)
        source = await repo.create_source(self._sessions, name=name,
                                          segment_length=segment_length,
                                          description=description)
        self._learn(source)
        return source

    async def list(self) -> Sequence[Source]:
        return await repo.list_sources(self._sessions)

    async def get(self, source_id: str) -> Source:
        """The source, or `NotFound`."""
        return await repo.get_source(self._sessions, source_id)

    async def by_name(self, name: str) -> Source:
        """The source of that name (what ``POST /v1/playlist`` names), or `NotFound`."""
        return await repo.get_source_by_name(self._sessions, name)

    async def stream_of(self, name: str) -> str:
        """The stream ``POST /v1/playlist`` feeds for a ``Video-Source-Name``: the
        defined source's (`UnknownSource` without one) or, on an edge, any valid stream
        name (`MalformedPush` for an invalid one)."""
        if self._any_name:
            validate_stream_id(name)
            return name
        try:
            return (await self.by_name(name)).name
        except NotFound:
            raise UnknownSource(f"video source {name!r} is not defined "
                                "(POST /v1/source)") from None

    async def set_streaming(self, source_id: str, streaming: bool) -> Source:
        with self._changing(source_id):
            source = await repo.set_streaming(self._sessions, source_id, streaming)
        self._learn(source)
        self.changed()
        return source

    def changed(self) -> None:
        """A source's streaming flag, or one of its recordings, changed on this node."""
        self.changes.changed()

    async def delete(self, source_id: str) -> None:
        """Delete it (its recordings stay); `NotFound` if there is none."""
        with self._changing(source_id):
            await repo.delete_source(self._sessions, source_id)
        self._writes += 1
        self.names.put(source_id, _Known(None, streaming=False))
        self.changed()

    # -- the playback path ------------------------------------------------------------------

    async def streaming_name(self, source_id: str) -> str | None:
        """The stream name of a source that is streaming, else None (no such source, or
        not streaming); at most `ttl` seconds old."""
        if not source_id or len(source_id) > MAX_ID_LENGTH:
            return None
        known = self.names.get(source_id)
        if known is None:
            writes = self._writes
            try:
                source = await repo.get_source(self._sessions, source_id)
            except NotFound:
                known = _Known(None, streaming=False)
            else:
                known = _Known(source.name, source.streaming)
            if writes == self._writes:  # else a change made here meanwhile may be newer
                self.names.put(source_id, known)
        return known.name if known.streaming else None

    def _learn(self, source: Source) -> None:
        """What a change made here committed: the newest answer there is. (Counted after
        the commit, so a lookup that read the row before it does not overwrite it.)"""
        self._writes += 1
        self.names.put(source.id, _Known(source.name, source.streaming))

    @contextlib.contextmanager
    def _changing(self, source_id: str) -> Iterator[None]:
        """A change that fails may still have been committed (the connection lost at
        the commit): what is known of the source is forgotten, to be asked again."""
        try:
            yield
        except BaseException:
            self._writes += 1
            self.names.pop(source_id)
            raise
