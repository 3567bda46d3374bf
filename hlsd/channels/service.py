"""Making and changing channels: resolve their sources, fix their ladder and target
duration, and store each change as a revision that takes over in the future.

No HTTP here: each refusal is a `ChannelError` of one kind (`hlsd.errors`), which `api/`
answers with its status.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from hlsd import errors
from hlsd.channels.asset_source import resolve_asset
from hlsd.channels.channel import ChannelSpec
from hlsd.channels.ladder import LadderError, shared_ladder, variant_map
from hlsd.channels.program import Program, ProgramVariant, SourceKind
from hlsd.channels.schedule import Item, Mode, Revision, ScheduleError, Source, lay_out
from hlsd.channels.sources import (
    InvalidSourcePath,
    SourceRefused,
    SourceUnavailable,
    SourceUnusable,
    resolve_library,
    resolve_url,
)
from hlsd.db import channels as repo
from hlsd.db.errors import Conflict, NotFound
from hlsd.db.repo import Sessions
from hlsd.hls.values import format_duration, rounded_seconds
from hlsd.infra.guarded_http import FetchRefused, check_url_resolving
from hlsd.infra.logs import clip
from hlsd.infra.outbound import FetchPolicy
from hlsd.storage import ObjectStore
from hlsd.vod.errors import SourceError
from hlsd.vod.packager import Packager

__all__ = ["ChannelConflict", "ChannelError", "ChannelInvalid", "ChannelNotFound",
           "ChannelService", "ItemRequest", "ScheduleRequest", "SourceForbidden",
           "target_duration", "valid_name"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_RESOLVE_AT_ONCE = 4


class ChannelError(errors.DomainError):
    """A change to channels that is refused."""


class ChannelNotFound(ChannelError, errors.NotFound):
    pass


class ChannelInvalid(ChannelError, errors.Invalid):
    """A name, schedule or source that cannot make a channel."""


class ChannelConflict(ChannelError, errors.Conflict):
    """A name taken, a node at its channel limit, a change that keeps losing its race."""


class SourceForbidden(ChannelError, errors.Forbidden):
    """A source URL that leads where hlsd does not fetch from (``fetch.allow``)."""


def valid_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None and ".." not in name


@dataclass(frozen=True, kw_only=True, slots=True)
class ItemRequest:
    source: Source
    start_us: int | None = None
    id: str | None = None
    """Keeps an existing item's id (and so its place in a loop) across a change."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ScheduleRequest:
    mode: Mode
    items: tuple[ItemRequest, ...]
    filler: Source | None = None
    window: float | None = None
    target_duration: int | None = None
    cut: bool = False
    """Take over at the next segment instead of after the item on air."""


class ChannelService:
    def __init__(self, *, sessions: Sessions, library: Path, client: httpx.AsyncClient,
                 store: ObjectStore, packagers: Mapping[SourceKind, Packager], window: float,
                 max_channels: int, max_items: int, max_playlist_bytes: int, refresh: float,
                 clock: Callable[[], float] = time.time,
                 policy: FetchPolicy | None = None) -> None:
        """`client` fetches URL sources (a guarded client, obeying `policy`, which then
        also refuses a source URL at once when it leads where channels may not fetch)."""
        self._sessions = sessions
        self._library = library
        self._client = client
        self._policy = policy
        self._packagers = packagers
        self._store = store
        self._window = window
        self._max_channels = max_channels
        self._max_items = max_items
        self._max_playlist_bytes = max_playlist_bytes
        self._refresh = refresh
        self._clock = clock

    def now_us(self) -> int:
        return round(self._clock() * 1_000_000)

    # -- reading ------------------------------------------------------------------

    async def get(self, name: str) -> ChannelSpec:
        try:
            row = await repo.get_channel(self._sessions, name)
        except NotFound:
            raise ChannelNotFound(f"no channel {name!r}") from None
        return ChannelSpec.from_json(row.name, row.version, json.loads(row.definition))

    async def list(self) -> list[ChannelSpec]:
        rows = await repo.list_channels(self._sessions)
        return await asyncio.to_thread(
            lambda: [ChannelSpec.from_json(r.name, r.version, json.loads(r.definition))
                     for r in rows])

    async def version(self, name: str) -> int | None:
        return await repo.channel_version(self._sessions, name)

    # -- changing -----------------------------------------------------------------

    async def create(self, name: str, request: ScheduleRequest) -> ChannelSpec:
        if not valid_name(name):
            raise ChannelInvalid("a channel name is 1 to 64 letters, digits, '_', '-' or "
                                 "'.', starting with a letter or digit")
        if await repo.count_channels(self._sessions) >= self._max_channels:
            raise ChannelConflict(f"this node holds its limit of {self._max_channels} "
                                  "channels (channels.max_channels)")
        items = self._items(request, ())
        programs = await self._resolve({i.source for i in items} | _filler(request))
        try:
            ladder = shared_ladder(list(programs.values()))
        except LadderError as exc:
            raise ChannelInvalid(str(exc)) from None
        needed = max(target_duration(p) for p in programs.values())
        target = request.target_duration or needed
        if target < needed:
            raise ChannelInvalid(f"target_duration {target} is shorter than the longest "
                                 f"segment (which needs {needed})")
        window_us = round(max(request.window or self._window, 3 * target) * 1_000_000)
        now = self.now_us()
        # The channel starts in the past, so that its first playlist is already full.
        # (A segment lasts up to 1.5 target durations: the one airing is not yet out.)
        revision = Revision(effective_us=now - window_us - 2 * target * 1_000_000,
                            opening_discontinuity=False, mode=request.mode, items=items,
                            filler=_filler_of(request),
                            start_item=items[0].id if items else None)
        spec = ChannelSpec(name=name, created_us=now, target_duration=target,
                           window_us=window_us, ladder=ladder, revisions=(revision,),
                           programs=programs)
        self._check(spec)
        try:
            row = await repo.create_channel(self._sessions, name=name,
                                            definition=json.dumps(spec.to_json()))
        except Conflict as exc:
            raise ChannelConflict(str(exc)) from None
        log.info("channel %r made: %d items, %d variants", clip(name), len(items), len(ladder))
        return replace(spec, version=row.version)

    async def update(self, name: str,
                     change: Callable[[ChannelSpec], ScheduleRequest]) -> ChannelSpec:
        """Replace the schedule with `change(spec)`, from the next item boundary (or
        segment, with `cut`). `change` sees the channel as stored, and is called again
        if another node changed it meanwhile, so no edit is lost."""
        for attempt in range(3):
            spec = await self.get(name)
            changed = await self._revised(spec, change(spec))
            try:
                version = await repo.replace_channel(
                    self._sessions, name=name, version=spec.version,
                    definition=json.dumps(changed.to_json()))
            except NotFound:
                raise ChannelNotFound(f"no channel {name!r}") from None
            except Conflict:
                log.info("channel %r changed on another node; retrying (%d)", clip(name),
                         attempt)
                continue
            return replace(changed, version=version)
        raise ChannelConflict(f"channel {name!r} keeps changing; try again")

    async def delete(self, name: str) -> None:
        try:
            await repo.delete_channel(self._sessions, name)
        except NotFound:
            raise ChannelNotFound(f"no channel {name!r}") from None

    async def _revised(self, spec: ChannelSpec, request: ScheduleRequest) -> ChannelSpec:
        current = spec.revisions[-1]
        items = self._items(request, current.items)
        wanted = {i.source for i in items} | _filler(request)
        programs = dict(spec.programs)
        programs.update(await self._resolve(s for s in wanted if s.key not in programs))
        for source in wanted:
            program = programs[source.key]
            try:
                variant_map(program, spec.ladder)
            except LadderError as exc:
                raise ChannelInvalid(str(exc)) from None
            if target_duration(program) > spec.target_duration:
                raise ChannelInvalid(f"{source.kind.value} {source.ref!r} has segments "
                                     f"longer than the channel's target duration "
                                     f"({spec.target_duration} s), which cannot change")
        now = self.now_us()
        safety = spec.target_duration * 1_000_000 + round(2 * self._refresh * 1_000_000)
        revisions = list(spec.revisions)
        timeline = spec.timeline()
        at = timeline.next_boundary(now + safety, clip=not request.cut)
        # A change not yet in effect is replaced, not stacked.
        while len(revisions) > 1 and revisions[-1].effective_us >= at:
            revisions.pop()
            timeline = replace(spec, revisions=tuple(revisions)).timeline()
            at = timeline.next_boundary(now + safety, clip=not request.cut)
        airing = timeline.on_air(at)
        assert airing is not None and airing.start_us == at
        previous = timeline.slot(airing.msn - 1).clip.item if airing.msn else None
        revision = Revision(effective_us=at, base_msn=airing.msn,
                            base_dsn=timeline.dsn(airing.msn), mode=request.mode,
                            items=items, filler=_filler_of(request),
                            start_item=_next_item(items, previous, airing.clip.item))
        horizon = now - 3 * spec.window_us
        while len(revisions) > 1 and revisions[1].effective_us < horizon:
            revisions.pop(0)  # long out of every window and every segment's availability
        revisions.append(revision)
        used = {s.key for r in revisions for s in r.sources()}
        changed = replace(spec, revisions=tuple(revisions),
                          programs={k: p for k, p in programs.items() if k in used})
        self._check(changed)
        return changed

    def _items(self, request: ScheduleRequest, existing: Sequence[Item]) -> tuple[Item, ...]:
        if not request.items and request.mode is Mode.LOOP:
            raise ChannelInvalid("a looping schedule needs at least one item")
        if len(request.items) > self._max_items:
            raise ChannelInvalid(f"at most {self._max_items} items (channels.max_items)")
        known = {i.id for i in existing}
        taken = {r.id for r in request.items if r.id is not None}
        unknown = taken - known
        if unknown:
            raise ChannelInvalid(f"no item {sorted(unknown)[0]!r} to keep")
        if len(taken) != sum(1 for r in request.items if r.id is not None):
            raise ChannelInvalid("an item id is given twice")
        counter = max((int(i.id[1:]) for i in existing if i.id[1:].isdigit()), default=0)
        items = []
        for n, req in enumerate(request.items):
            if (req.start_us is None) != (request.mode is Mode.LOOP):
                raise ChannelInvalid(f"item {n}: a 'timed' schedule gives every item a "
                                     "start, a 'loop' schedule none")
            if req.id is None:
                counter += 1
            items.append(Item(id=req.id or f"i{counter}", source=normalised(req.source),
                              start_us=req.start_us))
        return tuple(items)

    def _check(self, spec: ChannelSpec) -> None:
        try:
            for revision in spec.revisions:
                lay_out(revision, spec.programs,
                        slate_segment_frames=spec.slate_segment_frames)
        except ScheduleError as exc:
            raise ChannelInvalid(str(exc)) from None

    # -- sources --------------------------------------------------------------------

    async def _resolve(self, sources: Iterable[Source]) -> dict[str, Program]:
        limit = asyncio.Semaphore(_RESOLVE_AT_ONCE)

        async def one(source: Source) -> Program:
            async with limit:
                try:
                    program = await self._resolve_one(source)
                except SourceRefused as exc:
                    raise SourceForbidden(f"{source.kind.value} {source.ref!r}: {exc}"
                                          ) from None
                except (SourceUnavailable, SourceUnusable, InvalidSourcePath,
                        SourceError) as exc:
                    raise ChannelInvalid(f"{source.kind.value} {source.ref!r}: {exc}"
                                         ) from None
            return program

        programs = await asyncio.gather(*(one(s) for s in sources))
        return {p.key: p for p in programs}

    async def _resolve_one(self, source: Source) -> Program:
        if source.kind is SourceKind.URL:
            if self._policy is not None:  # at once, also for spellings httpx calls invalid
                try:
                    await check_url_resolving(self._policy, source.ref)
                except FetchRefused as exc:
                    raise SourceRefused(str(exc)) from None
            return await resolve_url(source.ref, client=self._client,
                                     max_playlist_bytes=self._max_playlist_bytes)
        if source.kind is SourceKind.LIBRARY:
            return await asyncio.to_thread(resolve_library, self._library, source.ref)
        if source.kind is SourceKind.ASSET:
            return await resolve_asset(source.ref, sessions=self._sessions, store=self._store)
        packager = self._packagers.get(source.kind)
        if packager is None:
            raise SourceUnavailable("on-demand upstream sources are not configured here "
                                    "(url.video)")
        index = (await packager.prepare(source.ref)).index
        return Program(kind=source.kind, ref=source.ref, variants=(ProgramVariant(
            bandwidth=index.peak_bandwidth, average_bandwidth=index.average_bandwidth,
            codecs=index.codecs, resolution=index.resolution, frame_rate=index.frame_rate,
            durations_us=tuple(round(s.duration * 1_000_000) for s in index.segments),
            uris=tuple(str(n) for n in range(len(index.segments)))),))


def _filler_of(request: ScheduleRequest) -> Source | None:
    return normalised(request.filler) if request.filler is not None else None


def _filler(request: ScheduleRequest) -> set[Source]:
    filler = _filler_of(request)
    return {filler} if filler is not None else set()


def normalised(source: Source) -> Source:
    """A library path that is no playlist names a media file, packaged on the fly."""
    if source.kind is SourceKind.LIBRARY and not source.ref.lower().endswith(".m3u8"):
        return Source(kind=SourceKind.FILE, ref=source.ref)
    return source


def target_duration(program: Program) -> int:
    """EXT-X-TARGETDURATION that covers every segment (RFC 8216 §4.3.3.1: each EXTINF,
    rounded to the nearest integer, is at most it)."""
    longest = max(max(v.durations_us) for v in program.variants)
    return max(1, rounded_seconds(format_duration(longest / 1_000_000)))


def _next_item(items: Sequence[Item], previous: str | None, following: str | None) -> str | None:
    """The item a loop goes on with: the one after the item that just ended, so an edit
    never replays or skips what is in order; else the one that was to come next."""
    ids = [i.id for i in items]
    if previous in ids:
        return ids[(ids.index(previous) + 1) % len(ids)]
    if following in ids:
        return following
    return ids[0] if ids else None
