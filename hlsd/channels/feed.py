"""Channels as hub streams, for the consumers that read streams segment by segment:
websocket spectators and recordings.

HTTP players never need this: their playlists are computed. A feed starts when a
websocket PULL or a recording asks for a channel by name, publishes each segment into
the hub as it airs (the same bytes HTTP players get, at the same air times), and ends
once nobody has read it for a while: an unwatched channel still costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from hlsd.channels.channel import Channel, Unknown, air_tick
from hlsd.channels.playout import Playout
from hlsd.channels.timeline import Slot
from hlsd.infra.logs import clip
from hlsd.streams import (
    Producer,
    PublisherKind,
    RenditionInfo,
    Stream,
    StreamBusy,
    StreamHub,
    StreamState,
)

__all__ = ["ChannelFeeds"]

log = logging.getLogger(__name__)

_PRIMED = 3
"""Segments already aired a new feed starts with (a spectator's first fragments, a
recording's reach-back)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ChannelFeeds:
    def __init__(self, *, hub: StreamHub, playout: Playout, wanted: Callable[[Stream], bool],
                 linger: float = 30.0) -> None:
        self._hub = hub
        self._playout = playout
        self._wanted = wanted
        self._linger = linger
        self._feeds: dict[str, asyncio.Task[None]] = {}

    async def find(self, name: str) -> Stream | None:
        """The hub stream of channel `name`, fed from now on; None if there is no such
        channel (or the hub has a live stream of that name from someone else)."""
        live = self._hub.get(name)
        if live is not None and live.state is StreamState.LIVE:
            return live if live.kind is PublisherKind.CHANNEL else None
        channel = await self._playout.channel(name)
        if channel is None:
            return None
        producer = self._hub.producer(name, f"channel:{name}", kind=PublisherKind.CHANNEL)
        try:
            producer.publish()
        except StreamBusy:
            return None
        now = self._playout.now_us()
        window = channel.timeline.window(now)
        last = -1
        if window is not None:
            primed = window.slots[-_PRIMED:]
            await self._append(producer, channel, primed)
            last = primed[-1].msn if primed else -1
        task = self._feeds.get(name)
        if task is None or task.done():
            self._feeds[name] = asyncio.create_task(self._run(name, producer, last),
                                                    name=f"hlsd-channel-feed-{name}")
        return producer.stream

    async def _run(self, name: str, producer: Producer, last: int) -> None:
        idle_since: float | None = None
        loop = asyncio.get_running_loop()
        try:
            while producer.holds:
                stream = producer.stream
                assert stream is not None
                channel = await self._playout.channel(name)
                if channel is None:
                    break  # deleted
                now = self._playout.now_us()
                airing = channel.timeline.on_air(now)
                if airing is None:
                    break
                due = [channel.timeline.slot(m) for m in range(max(last + 1, airing.msn - _PRIMED),
                                                               airing.msn)]
                if due:
                    await self._append(producer, channel, due)
                    last = due[-1].msn
                if self._wanted(stream):
                    idle_since = None
                elif idle_since is None:
                    idle_since = loop.time()
                elif loop.time() - idle_since > self._linger:
                    break
                # Wake when the segment on air has aired (it is then published).
                wait = (airing.start_us + airing.duration_us - now) / 1_000_000
                await asyncio.sleep(max(0.05, wait))
        except Exception:
            log.exception("channel feed %r failed", clip(name))
        finally:
            producer.end()  # if it is still the channel's
            log.info("channel feed %r: stopped", clip(name))

    async def _append(self, producer: Producer, channel: Channel,
                      slots: Sequence[Slot]) -> None:
        now = self._playout.now_us()
        for slot in slots:
            tick = air_tick(slot.start_us - slot.offset_us)
            for variant, rung in enumerate(channel.spec.ladder):
                try:
                    part = channel.segment(variant, slot.clip.key, tick, slot.index, now)
                except Unknown:
                    continue  # gone from availability while we were busy
                data = await self._playout.segment(
                    channel.cache_key(variant, slot.clip.key, tick, slot.index), part)
                if not producer.holds:
                    return  # ended, or taken over, while the segment was read
                producer.describe(str(variant), RenditionInfo(
                    bandwidth=rung.bandwidth, average_bandwidth=rung.average_bandwidth,
                    codecs=rung.codecs, resolution=rung.resolution,
                    frame_rate=rung.frame_rate))
                if producer.append(
                        str(variant), duration=slot.duration_us / 1_000_000, data=data,
                        program_date_time=_EPOCH + timedelta(microseconds=slot.start_us),
                        target_hint=channel.spec.target_duration,
                        discontinuity=slot.discontinuity) is None:
                    log.warning("channel feed %r: a segment longer than the channel's "
                                "target duration was left out", clip(channel.spec.name))
            producer.touch()

    async def close(self) -> None:
        for task in self._feeds.values():
            task.cancel()
        for task in self._feeds.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._feeds.clear()

    def sweep(self) -> None:
        for name, task in list(self._feeds.items()):
            if task.done():
                del self._feeds[name]
