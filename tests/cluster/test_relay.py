"""What keeps a relay open: a reader (a websocket spectator, a recording), or an HTTP
player that asked for a playlist within the inactivity period (HTTP players hold no
reader). And a node on its own never starts one."""

from __future__ import annotations

import asyncio

import pytest

from hlsd.cluster.registry import NoRegistry
from hlsd.cluster.relay import RelayConfig, Relays
from hlsd.metrics import Metrics
from hlsd.streams import ConsumerKind, Overflow, PublisherKind, PublishPolicy, StreamHub
from tests._support.clock import FakeClock

INACTIVITY = 30.0


def _relays(hub: StreamHub) -> Relays:
    return Relays(hub=hub, registry=NoRegistry(), metrics=Metrics(), config=RelayConfig(
        own_urls=("ws://127.0.0.1:1/ws",), node_id="n", relay_from=None, pull_secret=None,
        inactivity=INACTIVITY, connect_timeout=1, max_binary_message=1 << 20, heartbeat=30))


def _hub(clock: FakeClock) -> StreamHub:
    return StreamHub(window=3, policy=PublishPolicy.REJECT, idle_timeout=10, retention=60,
                     max_streams=10, clock=clock)


def test_readers_and_http_players_keep_a_relay_watched() -> None:
    clock = FakeClock()
    hub = _hub(clock)
    relays = _relays(hub)
    producer = hub.producer("cam", "relay:cam", kind=PublisherKind.RELAY)
    producer.publish()
    stream = producer.stream
    assert stream is not None and not relays.watched(stream)

    for kind in (ConsumerKind.SPECTATOR, ConsumerKind.RECORDER):
        reader = hub.reader(kind, capacity=2, overflow=Overflow.DROP)
        stream.add_reader(reader)
        assert relays.watched(stream)
        stream.remove_reader(reader)
        assert not relays.watched(stream)

    stream.played()  # an HTTP player's playlist request
    clock.advance(INACTIVITY)
    assert relays.watched(stream)
    clock.advance(0.1)
    assert not relays.watched(stream)


async def test_a_node_on_its_own_looks_nowhere() -> None:
    """No registry and no relay-from node: nothing to connect to, no relay started."""
    relays = _relays(_hub(FakeClock()))
    lookup = relays.find("cam", ())
    try:
        with pytest.raises(StopIteration) as answered:  # at once: it waits for nothing
            lookup.send(None)
    finally:
        lookup.close()
    assert answered.value.value is None
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("hlsd-relay-")]
