"""A hub's keepers: ingest's answer waits until every keeper kept what was committed."""

from __future__ import annotations

import asyncio

from hlsd.streams import ConsumerKind, HubEventKind, PublisherKind, StreamHub


def _hub() -> StreamHub:
    return StreamHub(window=3, policy="reject", idle_timeout=10,  # type: ignore[arg-type]
                     retention=60, max_streams=2)


def _commit(hub: StreamHub, n: int) -> None:
    producer = hub.producer("cam", "p", kind=PublisherKind.HTTP)
    producer.publish()
    for _ in range(n):
        producer.append("", duration=1.0, data=b"\x47" * 188)


async def test_without_a_keeper_the_hub_is_settled_at_once() -> None:
    hub = _hub()
    _commit(hub, 2)
    assert hub.commits == 2
    assert await hub.settled(0.0)


async def test_commits_carry_serials_and_settled_waits_for_every_keeper() -> None:
    hub = _hub()
    events = hub.watch(ConsumerKind.EDGE, events=(HubEventKind.COMMITTED,))
    first, second = hub.keeper(), hub.keeper()
    _commit(hub, 3)
    serials = [(await events.next_with_loss())[0].serial for _ in range(3)]
    assert serials == [1, 2, 3]

    waiting = asyncio.create_task(hub.settled(5.0))
    first.kept_up_to(3)
    second.kept_up_to(2)
    await asyncio.sleep(0)  # let it look: one commit is still not kept by the second
    assert not waiting.done()
    second.kept_up_to(3)
    assert await waiting
    _commit(hub, 1)  # a later commit: settled waits for it, not for what came before
    assert not await hub.settled(0.01)
    hub.drop_keeper(first)
    hub.drop_keeper(second)
    assert await hub.settled(0.0)


async def test_a_keeper_that_does_not_keep_up_is_a_timeout_not_a_hang() -> None:
    hub = _hub()
    keeper = hub.keeper()
    _commit(hub, 1)
    assert not await hub.settled(0.01)
    keeper.kept_up_to(1)
    assert await hub.settled(0.01)
