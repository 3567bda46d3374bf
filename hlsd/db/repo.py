"""Repository functions the API and services call.

Each call is one transaction on a session of its own, taken from `sessions`
(`engine.session_factory`). Rows come back as detached model instances: plain
snapshots, safe to read after the call, never written back by mutating them.
Missing rows raise `NotFound`; a taken source name raises `Conflict`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hlsd.db.errors import Conflict, NotFound
from hlsd.db.models import RecordedSegment, RecordedVariant, Recording, Source, new_id
from hlsd.db.timestamps import require_aware, utcnow

Sessions = async_sessionmaker[AsyncSession]

# --- sources ---------------------------------------------------------------------------


async def create_source(
    sessions: Sessions, *, name: str, segment_length: int, description: str | None = None
) -> Source:
    now = utcnow()
    source = Source(
        id=new_id(),
        name=name,
        segment_length=segment_length,
        description=description,
        streaming=False,
        created_at=now,
        updated_at=now,
    )
    try:
        async with sessions.begin() as session:
            session.add(source)
    except IntegrityError:
        if await _source_id_by_name(sessions, name) is not None:
            raise Conflict(f"a source named {name!r} already exists") from None
        raise
    return source


async def get_source(sessions: Sessions, source_id: str) -> Source:
    async with sessions() as session:
        source = await session.get(Source, source_id)
    if source is None:
        raise NotFound("source", source_id)
    return source


async def get_source_by_name(sessions: Sessions, name: str) -> Source:
    async with sessions() as session:
        source = await session.scalar(select(Source).where(Source.name == name))
    if source is None:
        raise NotFound("source", name)
    return source


async def list_sources(sessions: Sessions) -> Sequence[Source]:
    async with sessions() as session:
        return (await session.scalars(select(Source).order_by(Source.created_at, Source.id))).all()


async def set_streaming(sessions: Sessions, source_id: str, streaming: bool) -> Source:
    async with sessions.begin() as session:
        source = (
            await session.scalars(
                update(Source)
                .where(Source.id == source_id)
                .values(streaming=streaming, updated_at=utcnow())
                .returning(Source)
            )
        ).one_or_none()
    if source is None:
        raise NotFound("source", source_id)
    return source


async def report_source(sessions: Sessions, source_id: str, *, rr_target: str,
                        local_time: datetime, others_silent_since: datetime) -> bool:
    """An edge's report on a source: its name, its clock, and now as when it came; taken
    only from the edge that holds the source, or when no other edge has reported it
    since `others_silent_since` (one condition in the update, so two control nodes never
    both give a source to two edges). False when it was not taken, or there is no such
    source."""
    async with sessions.begin() as session:
        found = await session.scalar(
            update(Source)
            .where(Source.id == source_id,
                   or_(Source.rr_target.is_(None), Source.rr_target == rr_target,
                       Source.reported_at.is_(None),
                       Source.reported_at < others_silent_since))
            .values(rr_target=rr_target, local_time=require_aware(local_time, "local_time"),
                    reported_at=utcnow())
            .returning(Source.id)
        )
    return found is not None


async def sources_by_id(sessions: Sessions, source_ids: Collection[str]) -> dict[str, Source]:
    """The sources of those ids that exist."""
    if not source_ids:
        return {}
    async with sessions() as session:
        rows = await session.scalars(select(Source).where(Source.id.in_(list(source_ids))))
        return {source.id: source for source in rows}


async def delete_source(sessions: Sessions, source_id: str) -> None:
    """Delete a source. Its recordings stay, with `source_id` set to NULL."""
    async with sessions.begin() as session:
        deleted = await session.scalar(
            delete(Source).where(Source.id == source_id).returning(Source.id)
        )
    if deleted is None:
        raise NotFound("source", source_id)


async def _source_id_by_name(sessions: Sessions, name: str) -> str | None:
    async with sessions() as session:
        return await session.scalar(select(Source.id).where(Source.name == name))


# --- recordings ------------------------------------------------------------------------


async def create_recording(
    sessions: Sessions,
    *,
    stream: str,
    storage_prefix: str,
    source_id: str | None = None,
    alias: str | None = None,
    description: str | None = None,
    start_ts: datetime | None = None,
    recording_id: str | None = None,
    feed: str | None = None,
) -> Recording:
    """A new active recording of `stream`, from `start_ts` (default now); `feed` says
    what brings its segments (`Recording.feed`).

    `recording_id` lets the caller derive `storage_prefix` from the id beforehand.
    A `source_id` that does not exist raises `NotFound`.
    """
    now = utcnow()
    recording = Recording(
        id=recording_id or new_id(),
        source_id=source_id,
        stream=stream,
        alias=alias,
        description=description,
        start_ts=now if start_ts is None else require_aware(start_ts, "start_ts"),
        end_ts=None,
        active=True,
        storage_prefix=storage_prefix,
        created_at=now,
        updated_at=now,
        feed=feed,
    )
    try:
        async with sessions.begin() as session:
            session.add(recording)
    except IntegrityError:
        if source_id is not None and await _missing(sessions, Source, source_id):
            raise NotFound("source", source_id) from None
        if recording_id is not None and not await _missing(sessions, Recording, recording_id):
            raise Conflict(f"a recording with id {recording_id!r} already exists") from None
        raise
    return recording


async def get_recording(sessions: Sessions, recording_id: str) -> Recording:
    async with sessions() as session:
        recording = await session.get(Recording, recording_id)
    if recording is None:
        raise NotFound("recording", recording_id)
    return recording


async def list_recordings(sessions: Sessions) -> Sequence[Recording]:
    """Every recording, oldest start first."""
    async with sessions() as session:
        query = select(Recording).order_by(Recording.start_ts, Recording.id)
        return (await session.scalars(query)).all()


async def list_source_recordings(sessions: Sessions, source_id: str) -> Sequence[Recording]:
    """The recordings of one source, oldest start first; `NotFound` for an unknown source."""
    async with sessions() as session:
        if await session.get(Source, source_id) is None:
            raise NotFound("source", source_id)
        query = (
            select(Recording)
            .where(Recording.source_id == source_id)
            .order_by(Recording.start_ts, Recording.id)
        )
        return (await session.scalars(query)).all()


async def list_active_recordings(
    sessions: Sessions, stream: str | None = None
) -> Sequence[Recording]:
    """The recordings under way, of `stream` or of every stream (what the recorder must
    feed)."""
    async with sessions() as session:
        query = select(Recording).where(Recording.active)
        if stream is not None:
            query = query.where(Recording.stream == stream)
        query = query.order_by(Recording.start_ts, Recording.id)
        return (await session.scalars(query)).all()


async def recordings_by_id(
    sessions: Sessions, recording_ids: Collection[str]
) -> dict[str, Recording]:
    """The recordings of those ids that exist."""
    if not recording_ids:
        return {}
    async with sessions() as session:
        rows = await session.scalars(
            select(Recording).where(Recording.id.in_(list(recording_ids))))
        return {recording.id: recording for recording in rows}


async def active_fed_recordings(
    sessions: Sessions, source_ids: Collection[str], feed: str
) -> Sequence[Recording]:
    """The active recordings of those sources that `feed` brings the segments of (the
    recordings an edge holding the sources must send)."""
    if not source_ids:
        return []
    async with sessions() as session:
        query = (
            select(Recording)
            .where(Recording.active, Recording.feed == feed,
                   Recording.source_id.in_(list(source_ids)))
            .order_by(Recording.start_ts, Recording.id)
        )
        return (await session.scalars(query)).all()


async def list_stream_recordings(sessions: Sessions, stream: str) -> Sequence[Recording]:
    """The recordings of one stream, oldest start first."""
    async with sessions() as session:
        query = (
            select(Recording)
            .where(Recording.stream == stream)
            .order_by(Recording.start_ts, Recording.id)
        )
        return (await session.scalars(query)).all()


async def stop_recording(
    sessions: Sessions, recording_id: str, *, end_ts: datetime | None = None
) -> Recording:
    """Mark a recording stopped at `end_ts` (default now). Stopping a stopped
    recording changes nothing and returns it as it is."""
    end = utcnow() if end_ts is None else require_aware(end_ts, "end_ts")
    async with sessions.begin() as session:
        stopped = (
            await session.scalars(
                update(Recording)
                .where(Recording.id == recording_id, Recording.active)
                .values(active=False, end_ts=end, updated_at=utcnow())
                .returning(Recording)
            )
        ).one_or_none()
    return stopped if stopped is not None else await get_recording(sessions, recording_id)


async def delete_recording(sessions: Sessions, recording_id: str) -> Recording:
    """Delete a recording and its segment rows; returns the row deleted, whose
    `storage_prefix` names the objects the caller should now remove."""
    async with sessions.begin() as session:
        deleted = (
            await session.scalars(
                delete(Recording).where(Recording.id == recording_id).returning(Recording)
            )
        ).one_or_none()
    if deleted is None:
        raise NotFound("recording", recording_id)
    return deleted


# --- recorded segments -----------------------------------------------------------------


async def add_variant(
    sessions: Sessions,
    recording_id: str,
    *,
    name: str,
    position: int,
    bandwidth: int | None = None,
    average_bandwidth: int | None = None,
    codecs: str | None = None,
    resolution: tuple[int, int] | None = None,
    frame_rate: float | None = None,
) -> None:
    """Record a variant of a recording; one already there is left as it was."""
    values = {
        "recording_id": recording_id,
        "name": name,
        "position": position,
        "bandwidth": bandwidth,
        "average_bandwidth": average_bandwidth,
        "codecs": codecs,
        "width": resolution[0] if resolution else None,
        "height": resolution[1] if resolution else None,
        "frame_rate": frame_rate,
    }
    try:
        async with sessions.begin() as session:
            await session.execute(
                _insert(session, RecordedVariant)
                .values(values)
                .on_conflict_do_nothing(index_elements=["recording_id", "name"])
            )
    except IntegrityError:
        if await _missing(sessions, Recording, recording_id):
            raise NotFound("recording", recording_id) from None
        raise


async def list_variants(sessions: Sessions, recording_id: str) -> Sequence[RecordedVariant]:
    """The variants of a recording in order of appearance."""
    async with sessions() as session:
        query = (
            select(RecordedVariant)
            .where(RecordedVariant.recording_id == recording_id)
            .order_by(RecordedVariant.position)
        )
        return (await session.scalars(query)).all()


async def append_segment(
    sessions: Sessions,
    recording_id: str,
    *,
    variant: str = "",
    sequence: int,
    duration: float,
    program_date_time: datetime,
    object_key: str,
    size: int,
    discontinuity: bool = False,
    init_key: str | None = None,
) -> bool:
    """Record a committed segment. True if it was new; False if (recording, variant,
    sequence) was already there, which is left as it was (the first write wins). An
    unknown recording raises `NotFound`."""
    values = {
        "recording_id": recording_id,
        "variant": variant,
        "sequence": sequence,
        "duration": duration,
        "program_date_time": require_aware(program_date_time, "program_date_time"),
        "object_key": object_key,
        "size": size,
        "discontinuity": discontinuity,
        "init_key": init_key,
        "committed_at": utcnow(),
    }
    try:
        async with sessions.begin() as session:
            statement = (
                _insert(session, RecordedSegment)
                .values(values)
                .on_conflict_do_nothing(index_elements=["recording_id", "variant", "sequence"])
                .returning(RecordedSegment.sequence)
            )
            inserted = await session.scalar(statement)
    except IntegrityError:
        if await _missing(sessions, Recording, recording_id):
            raise NotFound("recording", recording_id) from None
        raise
    return inserted is not None


async def has_segment_at(
    sessions: Sessions, recording_id: str, *, variant: str, program_date_time: datetime
) -> bool:
    """Whether the recording holds a segment of `variant` that begins at that time (how a
    segment sent again is known)."""
    async with sessions() as session:
        found = await session.scalar(
            select(RecordedSegment.sequence).where(
                RecordedSegment.recording_id == recording_id,
                RecordedSegment.variant == variant,
                RecordedSegment.program_date_time
                == require_aware(program_date_time, "program_date_time"),
            ).limit(1)
        )
    return found is not None


async def list_segments(
    sessions: Sessions, recording_id: str, *, variant: str | None = None
) -> Sequence[RecordedSegment]:
    """The segments of a recording (of one variant, or all) in (variant, sequence)
    order; `NotFound` for an unknown recording."""
    async with sessions() as session:
        if await session.get(Recording, recording_id) is None:
            raise NotFound("recording", recording_id)
        query = select(RecordedSegment).where(RecordedSegment.recording_id == recording_id)
        if variant is not None:
            query = query.where(RecordedSegment.variant == variant)
        query = query.order_by(RecordedSegment.variant, RecordedSegment.sequence)
        return (await session.scalars(query)).all()


async def next_sequences(sessions: Sessions, recording_id: str) -> dict[str, int]:
    """Per variant, the sequence number the next segment of a recording takes (how a
    recording carries on after a restart)."""
    async with sessions() as session:
        rows = await session.execute(
            select(RecordedSegment.variant, func.max(RecordedSegment.sequence))
            .where(RecordedSegment.recording_id == recording_id)
            .group_by(RecordedSegment.variant)
        )
        return {variant: int(last) + 1 for variant, last in rows}


async def total_duration(sessions: Sessions, recording_id: str) -> float:
    """How long a recording lasts, in seconds: its longest variant's summed durations."""
    async with sessions() as session:
        if await session.get(Recording, recording_id) is None:
            raise NotFound("recording", recording_id)
        per_variant = (
            select(func.sum(RecordedSegment.duration).label("total"))
            .where(RecordedSegment.recording_id == recording_id)
            .group_by(RecordedSegment.variant)
            .subquery()
        )
        total = await session.scalar(select(func.max(per_variant.c.total)))
    return float(total or 0.0)


def _insert(session: AsyncSession, table: type[RecordedSegment] | type[RecordedVariant]) -> Any:
    """INSERT with the dialect's ON CONFLICT support."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def _missing(sessions: Sessions, model: type[Source] | type[Recording], key: str) -> bool:
    async with sessions() as session:
        return await session.get(model, key) is None
