"""A named live stream: its variants, its state and who publishes it."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from hlsd.hls import MasterPlaylist, Rendered, VariantStream, render_master, rendered
from hlsd.streams.reader import SegmentReader
from hlsd.streams.rendition import LiveRendition
from hlsd.streams.segment import Segment
from hlsd.streams.spill import SpillDir, folder_for

MASTER = "index.m3u8"

SegmentListener = Callable[["Stream", LiveRendition, Segment], None]
"""Called with each segment a stream commits, on the event loop: it must not block
(the recorder puts the segment on a bounded queue)."""


class StreamState(enum.Enum):
    LIVE = "live"
    ENDED = "ended"


class InvalidTransition(RuntimeError):
    pass


class Stream:
    """Renditions are keyed by their folder name; a single-variant stream has one, ``""``.

    URIs: a single variant plays at ``index.m3u8`` with segments beside it; several
    variants get a master at ``index.m3u8`` and ``<variant>/index.m3u8`` each.
    """

    def __init__(self, name: str, *, publisher: str, session: str, window: int,
                 clock: Callable[[], float] = time.monotonic, spill: SpillDir | None = None,
                 memory_per_variant: int | None = None, keep_for: float = 0.0,
                 listeners: tuple[SegmentListener, ...] = ()) -> None:
        self.name = name
        self.publisher = publisher
        self.session = session
        self.state = StreamState.LIVE
        self.renditions: dict[str, LiveRendition] = {}
        self.last_activity = clock()
        self.ended_at: float | None = None
        self._window = window
        self._clock = clock
        self._spill = spill
        self._memory_per_variant = memory_per_variant
        self._keep_for = keep_for
        self._listeners = listeners
        self._readers: list[SegmentReader] = []
        self._master: Rendered | None = None
        self._master_key: tuple[object, ...] | None = None

    def rendition(self, name: str) -> LiveRendition:
        rendition = self.renditions.get(name)
        if rendition is None:
            if self.state is not StreamState.LIVE:
                raise InvalidTransition(f"stream {self.name!r} has ended")
            rendition = LiveRendition(
                name=name, session=self.session, window=self._window, clock=self._clock,
                spill=self._spill, spill_folder=f"{folder_for(self.name)}/{name or '_'}",
                memory_limit=self._memory_per_variant, keep_for=self._keep_for,
                on_append=self._committed)
            self.renditions[name] = rendition
            self._master = None
        return rendition

    def listen(self, listeners: tuple[SegmentListener, ...]) -> None:
        self._listeners = listeners

    def add_reader(self, reader: SegmentReader) -> None:
        """Send `reader` every segment of its variant committed from now on."""
        self._readers.append(reader)

    def remove_reader(self, reader: SegmentReader) -> None:
        if reader in self._readers:
            self._readers.remove(reader)

    @property
    def readers(self) -> int:
        return len(self._readers)

    def default_variant(self) -> str:
        """The variant a single-rendition consumer (a websocket spectator) reads: the one
        of a single-variant stream, else the highest-bandwidth one."""
        if "" in self.renditions or not self.renditions:
            return ""
        return max(self.renditions.items(),
                   key=lambda item: item[1].info.bandwidth or item[1].peak_bandwidth())[0]

    def _committed(self, rendition: LiveRendition, segment: Segment) -> None:
        for listener in self._listeners:
            listener(self, rendition, segment)
        for reader in self._readers:
            if reader.variant == rendition.name:
                reader.offer(segment)

    def touch(self) -> None:
        self.last_activity = self._clock()

    def end(self) -> None:
        if self.state is StreamState.ENDED:
            raise InvalidTransition(f"stream {self.name!r} has already ended")
        self.state = StreamState.ENDED
        self.ended_at = self._clock()
        for rendition in self.renditions.values():
            rendition.end()
        for reader in self._readers:
            reader.close()
        self._readers.clear()

    def resume(self, *, publisher: str, session: str) -> None:
        """A publisher (the same after a restart, or a new one taking over) carries on."""
        self.state = StreamState.LIVE
        self.ended_at = None
        self.publisher = publisher
        self.session = session
        for rendition in self.renditions.values():
            rendition.resume(session)

    def close(self) -> None:
        """Release the memory and spill files of every rendition."""
        for rendition in self.renditions.values():
            rendition.close()
        if self._spill is not None:
            self._spill.remove_folder(folder_for(self.name))

    @property
    def multivariant(self) -> bool:
        return len(self.renditions) > 1 or "" not in self.renditions

    def master(self) -> Rendered | None:
        """The master playlist of a multivariant stream, re-rendered when a variant's
        attributes change."""
        variants = [(n, r) for n, r in sorted(self.renditions.items()) if r.segments]
        if not variants:
            return None
        key = tuple((n, r.info, r.peak_bandwidth() if r.info.bandwidth is None else 0)
                    for n, r in variants)
        if self._master is None or key != self._master_key:
            self._master = rendered(render_master(MasterPlaylist(
                variants=tuple(VariantStream(
                    uri=f"{n}/{MASTER}",
                    bandwidth=r.info.bandwidth or max(1, r.peak_bandwidth()),
                    average_bandwidth=r.info.average_bandwidth,
                    codecs=r.info.codecs, resolution=r.info.resolution,
                    frame_rate=r.info.frame_rate,
                ) for n, r in variants),
                independent_segments=True)))
            self._master_key = key
        return self._master
