"""The producer contract: how every ingest writes a live stream.

An ingest (HTTP push and LiveMix, a websocket PUSH, a relay from another node, a channel
fed to readers; RTMP, SRT and continuous HTTP next) gets a `Producer` from the hub
(`StreamHub.producer`) and writes only through it, never a rendition directly, as
MediaMTX's sources write through their stream. The handle owns the rules every ingest
used to repeat: the publish policy (`publish`, `restart`), the activity that keeps the
stream from idling out (`append` counts as activity; `touch` for a publisher that is
there without a segment), segments that do not fit the fixed target duration (not
taken, a discontinuity follows; the caller counts them), timing a segment that comes
without a PROGRAM-DATE-TIME, init sections, and ending only what the handle still
holds (a publisher whose stream was taken over cannot end the new publisher's session).

A segmenter that cuts parts (LL-HLS) writes them through the same handle
(`append_part`, then `close_segment` at each segment's end): parts count as activity,
the first fixes the rendition's part target as the first segment fixes its target
duration, and a part the playlist could not list is not taken (the caller counts it).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from hlsd.streams._parts import PartRefused
from hlsd.streams.rendition import LiveRendition, RenditionInfo, SegmentTooLong
from hlsd.streams.segment import InitSegment, Part, Segment
from hlsd.streams.stream import PublisherKind, Stream, StreamState

if TYPE_CHECKING:
    from hlsd.streams.hub import StreamHub

FRAGMENT_TARGET_HEADROOM = 1.5
"""The target duration of a fragment stream, as a multiple of its first fragment's."""


class NotPublishing(RuntimeError):
    """A producer wrote to a stream it does not hold (never published, ended, or taken
    over): ingest code checks `holds` first."""


class Producer(Protocol):
    """One publisher's handle on one live stream."""

    @property
    def name(self) -> str: ...

    @property
    def publisher(self) -> str:
        """Who publishes: what the publish policy compares."""
        ...

    @property
    def kind(self) -> PublisherKind:
        """What kind of ingest it is (the stream carries it while this one publishes)."""
        ...

    @property
    def stream(self) -> Stream | None:
        """The stream it publishes, for reading (a relay hands it to its spectators)."""
        ...

    @property
    def session(self) -> str:
        """The stream's publishing session now (it changes on a resume or takeover)."""
        ...

    @property
    def holds(self) -> bool:
        """Whether the stream is live and this publisher's."""
        ...

    @property
    def taken_over(self) -> bool:
        """Whether another publisher took the stream over from this one."""
        ...

    def publish(self) -> None:
        """Claim the stream under the hub's publish policy: create it, resume it after
        its end, or take it over (`StreamBusy` when the policy refuses). Again after an
        end (the publisher went quiet past the idle timeout), it resumes."""
        ...

    def restart(self) -> None:
        """A new publishing session by the same publisher (its numbering went back);
        the policy decides while the stream is active."""
        ...

    def describe(self, variant: str, info: RenditionInfo | None = None) -> None:
        """Declare `variant` (created if new), with what a master says of it."""
        ...

    def append(self, variant: str, *, duration: float, data: bytes, extension: str = "ts",
               program_date_time: datetime | None = None, target_hint: int | None = None,
               discontinuity: bool = False, init: InitSegment | None = None
               ) -> Segment | None:
        """Commit one whole segment of `variant`. Without `program_date_time` it is timed
        as it arrives (contiguous with the last one); without `target_hint` the first
        segment fixes the target duration with headroom (websocket fragments follow the
        encoder's GOP). `init`: the section it needs (EXT-X-MAP), named as the publisher
        names it. A variant its publisher ended (`end(variant)`) goes on, after a
        discontinuity. None when the segment is longer than the fixed target duration:
        not taken (the caller counts it), and a discontinuity follows."""
        ...

    def append_part(self, variant: str, *, duration: float, data: bytes,
                    program_date_time: datetime, independent: bool, part_target: float,
                    target_duration: int, extension: str = "m4s",
                    init: InitSegment | None = None) -> Part | None:
        """Add one LL-HLS part to the segment `variant` is producing, opening one at
        `program_date_time` if none is open. `independent`: it begins with a keyframe
        (INDEPENDENT=YES; a segment begins with one). `part_target` and
        `target_duration`: the first part of the variant fixes them (later values are
        ignored). `init`: the section it needs (EXT-X-MAP); a new one closes the open
        segment first. An independent part that would make the open segment longer
        than the target duration, or follow a short part (only a segment's last may
        last under 85 % of the part target), begins the next segment. None when the part
        cannot be taken: longer than the part target, of no duration, or not
        independent where a segment must begin (not taken: the caller counts it); the
        open segment ends there, and the next begins with an independent part, after a
        discontinuity."""
        ...

    def close_segment(self, variant: str) -> Segment | None:
        """The segment `variant` is producing is complete: it joins the window, the
        classic playlist and the readers. None when no part is open."""
        ...

    def discontinuity(self, variant: str) -> None:
        """The next segment of `variant` follows a break (something was lost)."""
        ...

    def touch(self) -> None:
        """The publisher is there (a playlist came, a relay is reconnecting), though no
        segment did: the stream does not idle out."""
        ...

    def end(self, variant: str | None = None) -> None:
        """ENDLIST: for one variant (its playlist said so), or for the whole stream (the
        publisher left: readers are told). Only while this handle holds the stream."""
        ...


class HubProducer:
    """The hub's `Producer`. A cheap handle: make one per publisher (a connection) or
    per request (HTTP push, where each playlist publishes again)."""

    def __init__(self, hub: StreamHub, name: str, publisher: str,
                 kind: PublisherKind) -> None:
        self._hub = hub
        self._name = name
        self._publisher = publisher
        self._kind = kind
        self._stream: Stream | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def publisher(self) -> str:
        return self._publisher

    @property
    def kind(self) -> PublisherKind:
        return self._kind

    @property
    def stream(self) -> Stream | None:
        return self._stream

    @property
    def session(self) -> str:
        return self._published().session

    @property
    def holds(self) -> bool:
        stream = self._stream
        return (stream is not None and stream.publisher == self._publisher
                and stream.state is StreamState.LIVE)

    @property
    def taken_over(self) -> bool:
        return self._stream is not None and self._stream.publisher != self._publisher

    def publish(self) -> None:
        self._stream = self._hub.claim(self._name, self._publisher, kind=self._kind)

    def adopt(self, session: str) -> None:
        """Publish as another worker of this node did, in its `session`
        (`StreamHub.adopt`: no policy, no bounds)."""
        self._stream = self._hub.adopt(self._name, self._publisher, kind=self._kind,
                                       session=session)

    def restart(self) -> None:
        self._hub.restart(self._published(), self._publisher, kind=self._kind)

    def describe(self, variant: str, info: RenditionInfo | None = None) -> None:
        rendition = self._held().rendition(variant)
        if info is not None:
            rendition.info = info

    def append(self, variant: str, *, duration: float, data: bytes, extension: str = "ts",
               program_date_time: datetime | None = None, target_hint: int | None = None,
               discontinuity: bool = False, init: InitSegment | None = None
               ) -> Segment | None:
        stream = self._held()
        rendition = stream.rendition(variant)
        if rendition.ended:
            rendition.resume(stream.session)  # it said ENDLIST, and then went on
        if not rendition.fits(duration):
            rendition.mark_discontinuity()
            return None
        if init is not None:
            rendition.set_init(init.name, init.data)
        if target_hint is None:
            target_hint = math.ceil(duration * FRAGMENT_TARGET_HEADROOM)
        if program_date_time is None:
            program_date_time = rendition.air_time(duration, self._hub.wall_clock())
        rendition.close_segment()  # parts before a whole segment: their segment ends
        segment = rendition.append(
            duration=duration, data=data, extension=extension, target_hint=target_hint,
            program_date_time=program_date_time, discontinuity=discontinuity)
        stream.touch()
        return segment

    def append_part(self, variant: str, *, duration: float, data: bytes,
                    program_date_time: datetime, independent: bool, part_target: float,
                    target_duration: int, extension: str = "m4s",
                    init: InitSegment | None = None) -> Part | None:
        stream = self._held()
        rendition = stream.rendition(variant)
        if rendition.ended:
            rendition.resume(stream.session)
        if init is not None:
            opened = rendition.open_segment
            if opened is not None and (opened.init is None or opened.init.data != init.data):
                rendition.close_segment()  # a new encoding begins a new segment
            rendition.set_init(init.name, init.data)
        try:
            part = rendition.append_part(
                duration=duration, data=data, program_date_time=program_date_time,
                extension=extension, independent=independent,
                target_duration=target_duration, part_target=part_target)
        except (PartRefused, SegmentTooLong):
            return None  # the rendition ended its segment there; a discontinuity follows
        stream.touch()
        return part

    def close_segment(self, variant: str) -> Segment | None:
        rendition = self._rendition(variant)
        if rendition is None:
            return None
        segment = rendition.close_segment()
        if segment is not None:
            assert self._stream is not None
            self._stream.touch()
        return segment

    def discontinuity(self, variant: str) -> None:
        rendition = self._rendition(variant)
        if rendition is not None:
            rendition.mark_discontinuity()

    def touch(self) -> None:
        if self.holds:
            assert self._stream is not None
            self._stream.touch()

    def end(self, variant: str | None = None) -> None:
        if not self.holds:
            return
        assert self._stream is not None
        if variant is None:
            self._stream.end()
        elif (rendition := self._rendition(variant)) is not None:
            rendition.end()

    def _rendition(self, variant: str) -> LiveRendition | None:
        """`variant` of the stream this handle holds, if it has one."""
        return self._stream.renditions.get(variant) if self.holds and self._stream else None

    def _published(self) -> Stream:
        if self._stream is None:
            raise NotPublishing(f"stream {self._name!r} was never published by this handle")
        return self._stream

    def _held(self) -> Stream:
        if not self.holds:
            raise NotPublishing(f"stream {self._name!r} is not {self._publisher!r}'s to write")
        assert self._stream is not None
        return self._stream
