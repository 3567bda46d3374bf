"""Repository functions for assets. A state change is a compare-and-set: it names the
states it may come from, and raises `Conflict` when the asset is in none of them (a
cancel or another worker got there first)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import delete, select, update

from hlsd.db.errors import Conflict, NotFound
from hlsd.db.models import AssetRow, new_id
from hlsd.db.repo import Sessions
from hlsd.db.timestamps import utcnow

__all__ = ["create_asset", "delete_asset", "get_asset", "list_assets", "move",
           "set_progress"]


async def create_asset(sessions: Sessions, *, state: str, source_kind: str,
                       source_ref: str | None = None, title: str | None = None,
                       upload_id: str | None = None, size: int | None = None,
                       access: str = "public", asset_id: str | None = None) -> AssetRow:
    row = AssetRow(id=asset_id or new_id(), state=state, source_kind=source_kind,
                   source_ref=source_ref, title=title, upload_id=upload_id, size=size,
                   access=access, progress=0.0, attempt=0)
    async with sessions.begin() as session:
        session.add(row)
    return row


async def get_asset(sessions: Sessions, asset_id: str) -> AssetRow:
    async with sessions() as session:
        row = await session.get(AssetRow, asset_id)
    if row is None:
        raise NotFound("asset", asset_id)
    return row


async def list_assets(sessions: Sessions, *, limit: int = 100, offset: int = 0,
                      states: Collection[str] | None = None) -> Sequence[AssetRow]:
    query = select(AssetRow).order_by(AssetRow.created_at.desc(), AssetRow.id)
    if states:
        query = query.where(AssetRow.state.in_(list(states)))
    async with sessions() as session:
        return (await session.execute(query.limit(limit).offset(offset))).scalars().all()


async def move(sessions: Sessions, asset_id: str, *, from_states: Collection[str], to: str,
               if_attempt: int | None = None, **fields: Any) -> AssetRow:
    """Set `state` to `to` (and `fields`) if the asset is in one of `from_states` (and,
    given `if_attempt`, its run is that one: a run another took over moves nothing)."""
    where = [AssetRow.id == asset_id, AssetRow.state.in_(list(from_states))]
    if if_attempt is not None:
        where.append(AssetRow.attempt == if_attempt)
    async with sessions.begin() as session:
        result = await session.execute(
            update(AssetRow).where(*where).values(state=to, updated_at=utcnow(), **fields))
        if result.rowcount == 0:  # type: ignore[attr-defined]
            row = await session.get(AssetRow, asset_id)
            if row is None:
                raise NotFound("asset", asset_id)
            raise Conflict(f"asset {asset_id} is {row.state}")
    return await get_asset(sessions, asset_id)


async def set_progress(sessions: Sessions, asset_id: str, progress: float, *,
                       attempt: int) -> bool:
    """Record progress of the run numbered `attempt`. False when that run is no longer
    wanted (cancelled, deleted, failed, or taken over by a later run): its report is
    dropped, and the run should stop."""
    async with sessions.begin() as session:
        result = await session.execute(
            update(AssetRow)
            .where(AssetRow.id == asset_id, AssetRow.state == "processing",
                   AssetRow.attempt == attempt)
            .values(progress=progress, updated_at=utcnow()))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_asset(sessions: Sessions, asset_id: str) -> AssetRow:
    async with sessions.begin() as session:
        row = await session.get(AssetRow, asset_id)
        if row is None:
            raise NotFound("asset", asset_id)
        await session.execute(delete(AssetRow).where(AssetRow.id == asset_id))
    return row


async def update_if(sessions: Sessions, asset_id: str, *, states: Collection[str],
                    **fields: Any) -> bool:
    """Set `fields` if the asset is in one of `states`; whether it was."""
    async with sessions.begin() as session:
        result = await session.execute(
            update(AssetRow).where(AssetRow.id == asset_id, AssetRow.state.in_(list(states)))
            .values(updated_at=utcnow(), **fields))
    return bool(result.rowcount)  # type: ignore[attr-defined]
