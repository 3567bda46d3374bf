"""The channels repository on SQLite and PostgreSQL: one JSON document per channel,
replaced by compare-and-set so that two nodes editing one channel never lose a change."""

from __future__ import annotations

import pytest

from hlsd.db import channels
from hlsd.db.errors import Conflict, NotFound

from .conftest import Db


async def test_create_read_replace_delete(db: Db) -> None:
    made = await channels.create_channel(db.sessions, name="news", definition='{"a": 1}')
    assert made.version == 1
    assert await channels.channel_version(db.sessions, "news") == 1
    assert await channels.replace_channel(db.sessions, name="news", version=1,
                                          definition='{"a": 2}') == 2
    row = await channels.get_channel(db.sessions, "news")
    assert (row.version, row.definition) == (2, '{"a": 2}')
    assert [r.name for r in await channels.list_channels(db.sessions)] == ["news"]
    assert await channels.count_channels(db.sessions) == 1
    await channels.delete_channel(db.sessions, "news")
    assert await channels.channel_version(db.sessions, "news") is None
    with pytest.raises(NotFound):
        await channels.get_channel(db.sessions, "news")


async def test_a_stale_write_is_refused_and_changes_nothing(db: Db) -> None:
    await channels.create_channel(db.sessions, name="c", definition="{}")
    await channels.replace_channel(db.sessions, name="c", version=1, definition='{"x": 1}')
    with pytest.raises(Conflict, match="changed meanwhile"):
        await channels.replace_channel(db.sessions, name="c", version=1,
                                       definition='{"lost": true}')
    assert (await channels.get_channel(db.sessions, "c")).definition == '{"x": 1}'
    with pytest.raises(Conflict, match="already exists"):
        await channels.create_channel(db.sessions, name="c", definition="{}")
    with pytest.raises(NotFound):
        await channels.replace_channel(db.sessions, name="gone", version=1, definition="{}")
    with pytest.raises(NotFound):
        await channels.delete_channel(db.sessions, "gone")
