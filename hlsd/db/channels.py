"""Repository functions for channels: one row each, its definition a JSON document.

Writes are compare-and-set on `version`: `replace_channel` raises `Conflict` when
another node changed the channel since it was read, and the caller reads it again.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from hlsd.db.errors import Conflict, NotFound
from hlsd.db.models import ChannelRow
from hlsd.db.repo import Sessions
from hlsd.db.timestamps import utcnow

__all__ = ["channel_version", "count_channels", "create_channel", "delete_channel", "get_channel",
           "list_channels", "replace_channel"]


async def create_channel(sessions: Sessions, *, name: str, definition: str) -> ChannelRow:
    row = ChannelRow(name=name, version=1, definition=definition)
    try:
        async with sessions.begin() as session:
            session.add(row)
    except IntegrityError as exc:
        raise Conflict(f"channel {name!r} already exists") from exc
    return row


async def get_channel(sessions: Sessions, name: str) -> ChannelRow:
    async with sessions() as session:
        row = await session.get(ChannelRow, name)
    if row is None:
        raise NotFound("channel", name)
    return row


async def channel_version(sessions: Sessions, name: str) -> int | None:
    """The stored version (a cheap freshness check), None when there is no channel."""
    async with sessions() as session:
        return (await session.execute(
            select(ChannelRow.version).where(ChannelRow.name == name))).scalar_one_or_none()


async def count_channels(sessions: Sessions) -> int:
    async with sessions() as session:
        return (await session.execute(select(func.count()).select_from(ChannelRow))).scalar_one()


async def list_channels(sessions: Sessions) -> Sequence[ChannelRow]:
    async with sessions() as session:
        return (await session.execute(select(ChannelRow).order_by(ChannelRow.name))).scalars().all()


async def replace_channel(sessions: Sessions, *, name: str, version: int,
                          definition: str) -> int:
    """Store `definition` if the channel is still at `version`; returns the new one."""
    async with sessions.begin() as session:
        result = await session.execute(
            update(ChannelRow)
            .where(ChannelRow.name == name, ChannelRow.version == version)
            .values(version=version + 1, definition=definition, updated_at=utcnow()))
        if result.rowcount == 0:  # type: ignore[attr-defined]
            exists = await session.get(ChannelRow, name)
            if exists is None:
                raise NotFound("channel", name)
            raise Conflict(f"channel {name!r} changed meanwhile")
    return version + 1


async def delete_channel(sessions: Sessions, name: str) -> None:
    async with sessions.begin() as session:
        result = await session.execute(delete(ChannelRow).where(ChannelRow.name == name))
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound("channel", name)
