"""What a worker's producers write, as operations the node's other workers apply to
their own hubs, so that every worker serves every live stream from its own memory.

Each operation is a `Producer` call with its inputs made explicit where the publishing
worker's hub filled them in (the session a publish began, the PROGRAM-DATE-TIME a
segment was given): applied in order to a hub in the same state, the same calls give
the same state, so segment and part URIs, sequence numbers and playlists are the same
on every worker. A worker that joins later starts from a snapshot
(`hlsd.streams.snapshot`) and applies what follows it.

Relays and channel feeds are not replicated: each worker resolves those itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from hlsd.node._frames import Header, encode
from hlsd.node._spool import SPOOL, Spool
from hlsd.node.role import NodeRole
from hlsd.streams import (
    HubProducer,
    InitSegment,
    Part,
    Producer,
    PublisherKind,
    RenditionInfo,
    Segment,
    Stream,
    StreamHub,
    snapshot_to_wire,
)

__all__ = ["LOCAL_KINDS", "ReplicatedProducer", "Replication", "snapshot_frame"]

LOCAL_KINDS = frozenset({PublisherKind.RELAY, PublisherKind.CHANNEL})
"""Producers each worker runs for itself."""


class Replication:
    """This worker's side: the streams its producers publish, and where their
    operations go (`outlets`, one per worker that follows this one)."""

    def __init__(self, spool: Spool | None = None) -> None:
        self._outlets: list[Callable[[bytes], None]] = []
        self._owned: dict[str, ReplicatedProducer] = {}
        self._spool = spool

    @classmethod
    def of(cls, role: NodeRole) -> Replication | None:
        """This worker's, with several (its large blobs through the run folder's
        spool); None with one."""
        if role.run_dir is None:
            return None
        return cls(Spool(role.run_dir / SPOOL, role.worker_id))

    def wrap(self, producer: HubProducer) -> Producer:
        """The hub's `replicate`: a producer whose writes the other workers apply."""
        if producer.kind in LOCAL_KINDS:
            return producer
        return ReplicatedProducer(producer, self)

    def published(self, producer: ReplicatedProducer) -> None:
        self._owned[producer.name] = producer

    def prune(self, hub: StreamHub) -> None:
        """Forget the streams this worker no longer publishes: taken over (here or by
        another worker), or gone from its hub."""
        for name, producer in list(self._owned.items()):
            stream = producer.stream
            if stream is None or stream.publisher != producer.publisher \
                    or hub.get(name) is not stream:
                del self._owned[name]

    def publishes(self, stream: Stream) -> bool:
        """Whether this worker publishes `stream` (its producer holds it, or held it
        until its end)."""
        producer = self._owned.get(stream.name)
        return producer is not None and producer.stream is stream \
            and stream.publisher == producer.publisher

    def snapshots(self, hub: StreamHub) -> list[tuple[Header, tuple[bytes, ...]]]:
        """What a worker that follows this one starts from: a snapshot of each stream
        this one publishes."""
        self.prune(hub)
        return [snapshot_frame(producer.stream) for producer in self._owned.values()
                if producer.stream is not None]

    def add_outlet(self, outlet: Callable[[bytes], None]) -> None:
        """A new follower, after its snapshots."""
        self._outlets.append(outlet)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()

    def remove_outlet(self, outlet: Callable[[bytes], None]) -> None:
        if outlet in self._outlets:
            self._outlets.remove(outlet)

    def send(self, header: Header, blobs: tuple[bytes, ...] = ()) -> None:
        if not self._outlets:
            return
        if self._spool is not None:
            header, blobs = self._spool.spool(header, blobs)
        frame = encode(header, blobs)  # once, for every follower
        for outlet in list(self._outlets):
            outlet(frame)


def snapshot_frame(stream: Stream) -> tuple[Header, tuple[bytes, ...]]:
    """The frame that gives a follower `stream` as it is now."""
    header, blobs = snapshot_to_wire(stream.snapshot())
    return {"op": "snapshot", "snapshot": header}, tuple(blobs)


class ReplicatedProducer:
    """A `Producer` whose every write, once its own hub took it, is sent to the node's
    other workers."""

    def __init__(self, inner: HubProducer, replication: Replication) -> None:
        self._inner = inner
        self._replication = replication

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def publisher(self) -> str:
        return self._inner.publisher

    @property
    def kind(self) -> PublisherKind:
        return self._inner.kind

    @property
    def stream(self) -> Stream | None:
        return self._inner.stream

    @property
    def session(self) -> str:
        return self._inner.session

    @property
    def holds(self) -> bool:
        return self._inner.holds

    @property
    def taken_over(self) -> bool:
        return self._inner.taken_over

    def publish(self) -> None:
        self._inner.publish()
        self._replication.published(self)
        self._send("publish")

    def restart(self) -> None:
        self._inner.restart()
        self._send("publish")

    def describe(self, variant: str, info: RenditionInfo | None = None) -> None:
        self._inner.describe(variant, info)
        self._send("describe", variant=variant,
                   info=None if info is None else asdict(info))

    def append(self, variant: str, *, duration: float, data: bytes, extension: str = "ts",
               program_date_time: datetime | None = None, target_hint: int | None = None,
               discontinuity: bool = False, init: InitSegment | None = None
               ) -> Segment | None:
        segment = self._inner.append(
            variant, duration=duration, data=data, extension=extension,
            program_date_time=program_date_time, target_hint=target_hint,
            discontinuity=discontinuity, init=init)
        # The time the hub gave it (a publisher that sends none is timed on arrival).
        when = segment.program_date_time if segment is not None else program_date_time
        self._send("append", _with_init(data, init), variant=variant,
                   init=init.name if init is not None else None,
                   duration=duration, extension=extension, target_hint=target_hint,
                   discontinuity=discontinuity,
                   pdt=when.isoformat() if when is not None else None)
        return segment

    def append_part(self, variant: str, *, duration: float, data: bytes,
                    program_date_time: datetime, independent: bool, part_target: float,
                    target_duration: int, extension: str = "m4s",
                    init: InitSegment | None = None) -> Part | None:
        part = self._inner.append_part(
            variant, duration=duration, data=data, program_date_time=program_date_time,
            independent=independent, part_target=part_target,
            target_duration=target_duration, extension=extension, init=init)
        self._send("part", _with_init(data, init), variant=variant,
                   init=init.name if init is not None else None,
                   duration=duration, pdt=program_date_time.isoformat(),
                   independent=independent, part_target=part_target,
                   target_duration=target_duration, extension=extension)
        return part

    def close_segment(self, variant: str) -> Segment | None:
        segment = self._inner.close_segment(variant)
        self._send("close", variant=variant)
        return segment

    def discontinuity(self, variant: str) -> None:
        self._inner.discontinuity(variant)
        self._send("discontinuity", variant=variant)

    def touch(self) -> None:
        self._inner.touch()
        self._send("touch")

    def end(self, variant: str | None = None) -> None:
        holds = self._inner.holds
        self._inner.end(variant)
        if holds:  # what it ended, it held
            self._send("end", variant=variant, held=True)

    def _send(self, op: str, blobs: tuple[bytes, ...] = (), *, held: bool = False,
              **fields: Any) -> None:
        """Tell the other workers, when the write reached a stream this producer holds
        (a write to one it does not hold changed nothing)."""
        inner = self._inner
        if not (held or inner.holds):
            return
        self._replication.send({"op": op, "stream": inner.name, "publisher": inner.publisher,
                                "kind": inner.kind.value, "session": inner.session,
                                **fields}, blobs)


def _with_init(data: bytes, init: InitSegment | None) -> tuple[bytes, ...]:
    """A write's blobs: its media, then its init section's bytes if it has one (sent with
    every write that names it: a kilobyte, and no state to keep in step on either side)."""
    return (data,) if init is None else (data, init.data)
