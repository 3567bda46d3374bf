from datetime import UTC, datetime

import pytest

from hlsd.hls.check import assert_valid
from hlsd.streams import PublisherKind, PublishPolicy, Stream, StreamBusy, StreamHub, StreamState
from hlsd.streams.rendition import RenditionInfo
from tests._support.clock import FakeClock

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _hub(clock: FakeClock, policy: PublishPolicy = PublishPolicy.REJECT) -> StreamHub:
    return StreamHub(window=3, policy=policy, idle_timeout=10, retention=60, max_streams=2,
                     clock=clock)


def publish(hub: StreamHub, name: str, publisher: str,
            kind: PublisherKind = PublisherKind.HTTP) -> Stream:
    producer = hub.producer(name, publisher, kind=kind)
    producer.publish()
    assert producer.stream is not None
    return producer.stream


def test_reject_policy_refuses_a_second_active_publisher() -> None:
    clock = FakeClock(100.0)
    hub = _hub(clock)
    stream = publish(hub, "cam", "a")
    with pytest.raises(StreamBusy):
        publish(hub, "cam", "b")
    clock.now += 11  # the first publisher went quiet: the stream is free again
    assert publish(hub, "cam", "b") is stream and stream.publisher == "b"


def test_takeover_policy_switches_with_a_discontinuity() -> None:
    clock = FakeClock(100.0)
    hub = _hub(clock, PublishPolicy.TAKEOVER)
    stream = publish(hub, "cam", "a")
    r = stream.rendition("")
    r.append(duration=2, data=b"x", extension="ts", program_date_time=T0)
    publish(hub, "cam", "b")
    r.append(duration=2, data=b"x", extension="ts", program_date_time=T0)
    assert r.segments[-1].discontinuity


def test_idle_streams_end_and_are_forgotten_after_retention() -> None:
    clock = FakeClock(100.0)
    hub = _hub(clock)
    stream = publish(hub, "cam", "a")
    clock.now += 11
    hub.sweep()
    assert stream.state is StreamState.ENDED
    clock.now += 61
    hub.sweep()
    assert hub.get("cam") is None


def test_stream_count_is_bounded() -> None:
    hub = _hub(FakeClock(100.0))
    publish(hub, "a", "p")
    publish(hub, "b", "p")
    with pytest.raises(StreamBusy):
        publish(hub, "c", "p")


def test_master_of_several_variants() -> None:
    hub = _hub(FakeClock(100.0))
    stream = publish(hub, "cam", "a")
    for name, res in (("720p", (1280, 720)), ("360p", (640, 360))):
        r = stream.rendition(name)
        r.info = RenditionInfo(bandwidth=None, codecs="avc1.64001f,mp4a.40.2", resolution=res)
        r.append(duration=2, data=b"x" * 5000, extension="ts", program_date_time=T0)
    master = stream.master()
    assert master is not None
    text = master.body.decode()
    assert_valid(text)
    assert "360p/index.m3u8" in text and "720p/index.m3u8" in text and "BANDWIDTH=20000" in text
    assert stream.master() is master  # rendered once until something changes


def test_a_stream_carries_the_kind_of_its_current_publisher() -> None:
    clock = FakeClock(100.0)
    hub = _hub(clock)
    stream = publish(hub, "cam", "ws-1", PublisherKind.WEBSOCKET)
    assert stream.kind is PublisherKind.WEBSOCKET
    stream.end()
    assert publish(hub, "cam", "relay:cam", PublisherKind.RELAY) is stream
    assert stream.kind is PublisherKind.RELAY and stream.publisher == "relay:cam"
    # The same client, now through LiveMix's API: the same publisher, another kind.
    assert publish(hub, "cam", "relay:cam", PublisherKind.LIVEMIX).kind is PublisherKind.LIVEMIX
