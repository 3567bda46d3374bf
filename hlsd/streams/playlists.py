"""The media playlist of a live rendition, as a model (`hlsd.hls`) to render once per
change.

A rendition fed whole segments gets the classic live playlist. Once it has parts (its
part target is set), the same URL serves the Low-Latency HLS playlist, which classic
players still play (they skip the tags they do not know; EXTINF lists whole segments
only):
- EXT-X-PART-INF and EXT-X-SERVER-CONTROL: blocking reload, PART-HOLD-BACK of three
  part targets, HOLD-BACK of three target durations, delta updates back to six target
  durations (CAN-SKIP-UNTIL; CAN-SKIP-DATERANGES too: there are none to skip, so a v2
  update lists none removed);
- EXT-X-PART tags for the parts that end within three target durations of the end
  (rfc8216bis §6.2.2), then for the segment being produced, after its
  EXT-X-PROGRAM-DATE-TIME (and discontinuity, map);
- one EXT-X-PRELOAD-HINT for the next part (never after ENDLIST);
- EXT-X-RENDITION-REPORTs of the other renditions, given by the stream.
A delta update (``_HLS_skip``) replaces the segments that end more than the Skip
Boundary before the end of the last whole segment by EXT-X-SKIP (rfc8216bis §6.2.5.1);
when there are none, the whole playlist answers. Durations are measured as the playlist
writes them, in milliseconds.
"""

from __future__ import annotations

import enum
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from hlsd.hls import (
    InitSection,
    MediaPlaylist,
    MediaSegment,
    PartialSegment,
    PartInf,
    PendingSegment,
    PreloadHint,
    Rendered,
    RenditionReport,
    ServerControl,
    Skip,
    render_media,
    rendered,
)
from hlsd.streams._parts import millis

if TYPE_CHECKING:
    from hlsd.streams.rendition import LiveRendition
    from hlsd.streams.segment import InitSegment, Part

__all__ = ["HOLD_BACK_TARGETS", "PART_HOLD_BACK_PARTS", "PART_TARGETS", "SKIP_TARGETS",
           "RenderedPlaylists", "Reports", "Skipping", "media_model"]

HOLD_BACK_TARGETS = 3
"""HOLD-BACK, in target durations (at least three: rfc8216bis §4.4.3.8)."""
PART_HOLD_BACK_PARTS = 3
"""PART-HOLD-BACK, in part targets (at least two, three recommended)."""
SKIP_TARGETS = 6
"""CAN-SKIP-UNTIL, the Skip Boundary, in target durations (at least six)."""
PART_TARGETS = 3
"""Segments ending within this many target durations of the end keep their EXT-X-PART
tags (rfc8216bis §6.2.2: removed past three)."""


class Skipping(enum.Enum):
    """What ``_HLS_skip`` asks for (rfc8216bis §6.2.5.1)."""

    NONE = "none"
    """The whole playlist."""
    YES = "YES"
    """A delta update that skips old segments."""
    V2 = "v2"
    """One that skips old EXT-X-DATERANGE tags too (and says which were removed)."""


class Reports(Protocol):
    """Where a rendition's EXT-X-RENDITION-REPORTs come from (its stream)."""

    @property
    def version(self) -> int:
        """Changes whenever any report may have (a change in any rendition)."""
        ...

    def reports(self, rendition: LiveRendition) -> tuple[RenditionReport, ...]:
        """The reports `rendition`'s playlist carries: one per other rendition."""
        ...


class RenderedPlaylists:
    """A rendition's playlists as sent, each rendered when first asked for after a
    change (the rendition `clear`s them at every change: a part, a segment, the end)."""

    __slots__ = ("_made", "_plain")

    def __init__(self) -> None:
        self._plain: Rendered | None = None
        """The playlist without skip or reports (the classic one without parts)."""
        self._made: dict[Skipping, tuple[int, Rendered]] = {}
        """With parts, per `Skipping`: the reports' version it carries, and it."""

    def clear(self) -> None:
        self._plain = None
        self._made.clear()

    def of(self, rendition: LiveRendition, skip: Skipping,
           reports: Reports | None) -> Rendered:
        """`rendition`'s playlist (it has a segment); with `reports`, made again
        whenever their version moves too. Without parts, `skip` and `reports` are
        ignored: the classic playlist has neither."""
        if rendition.part_target is None or (skip is Skipping.NONE and reports is None):
            if self._plain is None:
                self._plain = rendered(render_media(media_model(rendition)))
            return self._plain
        version = reports.version if reports is not None else -1
        made = self._made.get(skip)
        if made is None or made[0] != version:
            text = render_media(media_model(
                rendition, skip, reports.reports(rendition) if reports is not None else ()))
            made = self._made[skip] = (version, rendered(text))
        return made[1]


def media_model(rendition: LiveRendition, skip: Skipping = Skipping.NONE,
                reports: tuple[RenditionReport, ...] = ()) -> MediaPlaylist:
    """The playlist of `rendition` (which has a segment) as it is now."""
    target = rendition.target_duration
    assert target is not None
    segments = rendition.segments
    part_target = rendition.part_target
    low_latency = part_target is not None
    opened = rendition.open_segment if low_latency else None
    # Milliseconds from each segment's end to the end of the last whole one, as the
    # playlist writes durations: what a delta update skips is measured so, and (with
    # the open segment's parts after it) which parts are still listed.
    after: list[int] = [0] * len(segments)
    total = 0
    for n in range(len(segments) - 1, -1, -1):
        after[n] = total
        total += millis(segments[n].duration)
    pending_ms = sum(millis(p.duration) for p in opened.parts) if opened is not None else 0
    items: list[MediaSegment] = []
    current: InitSegment | None = None
    for n, seg in enumerate(segments):
        init = None
        if seg.init is not None and seg.init is not current:
            init = InitSection(uri=seg.init.name)
            current = seg.init
        parts = (_recent(seg.parts, after[n] + pending_ms, PART_TARGETS * 1000 * target)
                 if low_latency and seg.parts else ())
        items.append(MediaSegment(uri=seg.name, duration=seg.duration,
                                  discontinuity=seg.discontinuity,
                                  program_date_time=seg.program_date_time, init=init,
                                  parts=parts))
    playlist = MediaPlaylist(
        target_duration=target, segments=tuple(items),
        media_sequence=rendition.media_sequence,
        discontinuity_sequence=rendition.discontinuity_sequence,
        endlist=rendition.ended, independent_segments=True,
    )
    if part_target is None:
        return playlist  # classic: exactly what it always was
    pending = None
    if opened is not None and opened.parts:
        pending = PendingSegment(
            parts=_parts(opened.parts), discontinuity=opened.discontinuity,
            program_date_time=opened.program_date_time,
            init=(InitSection(uri=opened.init.name)
                  if opened.init is not None and opened.init is not current else None))
    skipped = None
    if skip is not Skipping.NONE and not rendition.ended:
        count = sum(1 for n in range(len(segments))
                    if after[n] > SKIP_TARGETS * 1000 * target)
        if count:  # with nothing to skip, the whole playlist answers
            skipped = Skip(skipped_segments=count,
                           recently_removed_dateranges=() if skip is Skipping.V2 else None)
            first = segments[count]
            kept = items[count:]
            if first.init is not None and kept[0].init is None:
                # The first segment left names the init section in force.
                kept[0] = replace(kept[0], init=InitSection(uri=first.init.name))
            items = kept
    return MediaPlaylist(
        target_duration=target, segments=tuple(items),
        media_sequence=playlist.media_sequence,
        discontinuity_sequence=playlist.discontinuity_sequence,
        endlist=rendition.ended, independent_segments=True,
        part_inf=PartInf(part_target=part_target),
        server_control=ServerControl(
            can_block_reload=True, can_skip_until=SKIP_TARGETS * target,
            can_skip_dateranges=True, hold_back=HOLD_BACK_TARGETS * target,
            part_hold_back=PART_HOLD_BACK_PARTS * part_target),
        skip=skipped, pending=pending,
        preload_hints=() if rendition.ended else (PreloadHint(uri=rendition.next_part_name),),
        rendition_reports=reports,
    )


def _parts(parts: tuple[Part, ...] | list[Part]) -> tuple[PartialSegment, ...]:
    return tuple(PartialSegment(uri=p.name, duration=p.duration, independent=p.independent)
                 for p in parts)


def _recent(parts: tuple[Part, ...], after: int, limit: int) -> tuple[PartialSegment, ...]:
    """The parts of a segment that end at most `limit` ms before the end of the playlist,
    `after` ms after the segment's end (rfc8216bis §6.2.2: older ones are removed, in
    order)."""
    kept = len(parts)
    while kept and after <= limit:  # `after`: how long after part kept - 1 ends
        kept -= 1
        after += millis(parts[kept].duration)
    return _parts(parts[kept:])
