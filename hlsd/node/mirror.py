"""The other side of `hlsd.node.ops`: another worker's writes, applied to this worker's
hub in the order they were made, through producers that publish as that worker did
(`HubProducer.adopt`: its hub applied the publish policy and the bounds already).

A mirror remembers which worker each stream came from. When that worker is gone, the
stream is an orphan until its publisher comes back through another worker: this worker
then hands its copy to the workers that start meanwhile (`orphans`), so that the one
the publisher reaches next carries on from it (same session, same numbering) rather
than beginning the stream again."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from hlsd.infra.logs import clip
from hlsd.node._frames import Header
from hlsd.streams import (
    HubProducer,
    InitSegment,
    PublisherKind,
    RenditionInfo,
    Stream,
    StreamHub,
    snapshot_from_wire,
)

__all__ = ["Mirror", "MirrorError"]


class MirrorError(ValueError):
    """An operation that cannot be read: the link it came on is closed (and made again,
    from a snapshot)."""


class Mirror:
    def __init__(self, hub: StreamHub) -> None:
        self._hub = hub
        self._producers: dict[str, HubProducer] = {}
        self._sources: dict[str, str] = {}
        """The worker each mirrored stream came from, by stream name."""

    def apply(self, header: Header, blobs: list[bytes], *, source: str) -> None:
        """A frame from worker `source`."""
        try:
            self._apply(header, blobs, source)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise MirrorError(f"an operation that cannot be applied: {exc!r}") from None

    def orphans(self, alive: Collection[str]) -> list[Stream]:
        """The mirrored streams whose worker is not one of `alive`."""
        return [stream for name, source in self._sources.items()
                if source not in alive and (stream := self._hub.get(name)) is not None]

    def _apply(self, header: Header, blobs: list[bytes], source: str) -> None:
        op = header["op"]
        if op == "snapshot":
            stream = self._hub.restore(snapshot_from_wire(header["snapshot"], blobs))
            self._producers.pop(stream.name, None)
            self._sources[stream.name] = source
            return
        name = str(header["stream"])
        self._sources[name] = source
        producer = self._producer(name, str(header["publisher"]),
                                  PublisherKind(header["kind"]), str(header["session"]),
                                  again=op == "publish")
        variant = header.get("variant")
        if op == "publish":
            return
        if op == "describe":
            info = header["info"]
            producer.describe(str(variant), None if info is None else _info(info))
        elif op == "append":
            pdt = header["pdt"]
            producer.append(
                str(variant), duration=float(header["duration"]), data=blobs[0],
                extension=str(header["extension"]),
                program_date_time=datetime.fromisoformat(pdt) if pdt else None,
                target_hint=header["target_hint"], discontinuity=bool(header["discontinuity"]),
                init=_init(header["init"], blobs))
        elif op == "part":
            producer.append_part(
                str(variant), duration=float(header["duration"]), data=blobs[0],
                program_date_time=datetime.fromisoformat(header["pdt"]),
                independent=bool(header["independent"]),
                part_target=float(header["part_target"]),
                target_duration=int(header["target_duration"]),
                extension=str(header["extension"]),
                init=_init(header["init"], blobs))
        elif op == "close":
            producer.close_segment(str(variant))
        elif op == "discontinuity":
            producer.discontinuity(str(variant))
        elif op == "touch":
            producer.touch()
        elif op == "end":
            producer.end(None if variant is None else str(variant))
        else:
            raise ValueError(f"no operation {clip(str(op))!r}")

    def _producer(self, name: str, publisher: str, kind: PublisherKind, session: str, *,
                  again: bool) -> HubProducer:
        """The producer writing `name` as the other worker does: published again on a
        publish, or when this hub's copy went its own way (it ended the stream on its own
        clock a moment before the other worker's write came)."""
        producer = self._producers.get(name)
        if (again or producer is None or producer.publisher != publisher
                or not producer.holds or producer.session != session):
            producer = HubProducer(self._hub, name, publisher, kind)
            producer.adopt(session)
            self._producers[name] = producer
        return producer

    def prune(self) -> None:
        """Forget the producers and sources of streams the hub forgot."""
        for name, producer in list(self._producers.items()):
            if self._hub.get(name) is not producer.stream:
                del self._producers[name]
        for name in [name for name in self._sources if self._hub.get(name) is None]:
            del self._sources[name]


def _init(name: Any, blobs: list[bytes]) -> InitSegment | None:
    """The init section a write named, its bytes the write's second blob."""
    return None if name is None else InitSegment(name=str(name), data=blobs[1])


def _info(fields: dict[str, Any]) -> RenditionInfo:
    resolution = fields.get("resolution")
    return RenditionInfo(
        bandwidth=fields.get("bandwidth"), average_bandwidth=fields.get("average_bandwidth"),
        codecs=fields.get("codecs"),
        resolution=(int(resolution[0]), int(resolution[1])) if resolution else None,
        frame_rate=fields.get("frame_rate"))
