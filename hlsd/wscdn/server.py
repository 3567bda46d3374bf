"""The hls-websocket-cdn endpoint: publishers PUSH fragments into the stream hub, and
spectators PULL them out of it, so a websocket stream also plays as HTTP HLS at
``/live/{stream}/`` and an HTTP-pushed stream can be pulled over the websocket.

Fixes over the original: `max_initial_fragments` past the buffer is clipped (never a
crash), every send has a write deadline, a slow spectator is skipped to live or
disconnected (counted either way) and never slows the publisher or anyone else, and a
second PUSH on a live id follows the hub's publish policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.websockets import WebSocket

from hlsd.auth import jwt as cdn_jwt
from hlsd.infra.client_address import client_of
from hlsd.infra.limits import ConnectionLimits
from hlsd.infra.logs import clip
from hlsd.metrics import Metrics
from hlsd.streams import (
    Committed,
    ConsumerKind,
    Producer,
    PublisherKind,
    Reader,
    ReaderClosed,
    Segment,
    SlowReaderPolicy,
    Stream,
    StreamBusy,
    StreamHub,
    StreamState,
)
from hlsd.wscdn import protocol
from hlsd.wscdn._connection import AsgiConnection, Connection, Disconnected
from hlsd.wscdn._transport_stream import TransportStreams
from hlsd.wscdn.protocol import Message, ProtocolError

log = logging.getLogger(__name__)

OnDemand = Callable[[str, tuple[str, ...]], Awaitable[Stream | None]]
"""Finds a stream the hub does not have live (`hlsd.cluster.resolver`: a channel, else
a relay), given the relay chain the request came through; None if nothing has it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class CdnConfig:
    push_secret: str | None
    pull_secret: str | None
    fragment_buffer: int
    max_initial_fragments: int
    max_binary_message: int
    heartbeat: float
    first_message_timeout: float
    write_timeout: float
    slow_spectators: SlowReaderPolicy
    max_connections_per_ip: int
    connects_per_second: float = 0.0
    connect_burst: int = 0
    rate_limit_exempt: tuple[str, ...] = ()


class WebsocketCdn:
    def __init__(self, *, hub: StreamHub, config: CdnConfig, metrics: Metrics,
                 node_id: str = "", on_demand: OnDemand | None = None) -> None:
        self._hub = hub
        self._config = config
        self._metrics = metrics
        self._on_demand = on_demand
        self._node_id = node_id
        self._transport = TransportStreams(metrics.caches)
        # Counted once per fragment per spectator: the labelled child is looked up once.
        self._fragments_out = metrics.ws_fragments.labels("out")
        self._limits = ConnectionLimits(
            max_open=config.max_connections_per_ip, per_second=config.connects_per_second,
            burst=config.connect_burst, exempt=config.rate_limit_exempt)
        if not config.push_secret:
            log.warning("websocket.push_secret (PUSH_SECRET) is empty: websocket pushes need "
                        "no token, and are taken from loopback clients only")
        if not config.pull_secret:
            log.warning("websocket.pull_secret (PULL_SECRET) is empty: anyone may pull "
                        "streams over the websocket")

    @property
    def config(self) -> CdnConfig:
        return self._config

    async def serve(self, ws: WebSocket) -> None:
        """One connection of the server engine (``/ws``), from accept to close."""
        peer = client_of(ws.scope).host
        refusal = self.admit(peer)
        if refusal is not None:
            await ws.close(1008, refusal)  # before the upgrade: the client sees HTTP 403
            return
        try:
            await ws.accept()
            await self.session(AsgiConnection(ws, write_timeout=self._config.write_timeout,
                                              max_binary=self._config.max_binary_message))
        finally:
            self.release(peer)

    def admit(self, peer: str) -> str | None:
        """None if `peer` may open a connection (it holds one until `release`), else why
        not (counted and logged); asked before the upgrade, on every transport."""
        refusal = self._limits.admit(peer)
        if refusal is not None:
            self._metrics.ws_refused.labels("rate_limit").inc()
            log.info("websocket from %s refused: %s", peer, refusal)
        return refusal

    def release(self, peer: str) -> None:
        self._limits.release(peer)

    async def session(self, conn: Connection) -> None:
        """One accepted connection, whatever its transport, until it ends (closed)."""
        heartbeat = asyncio.create_task(conn.heartbeat(self._config.heartbeat))
        try:
            first = protocol.parse(await conn.receive_text(self._config.first_message_timeout))
            if first.type == protocol.PUSH:
                await self._push(conn, first)
            elif first.type == protocol.PULL:
                await self._pull(conn, first)
            elif first.type != protocol.ERROR:
                raise protocol.error(protocol.EXPECTED_ACTION)
        except ProtocolError as exc:
            self._metrics.ws_refused.labels(exc.code.lower()).inc()
            log.info("websocket %d from %s: %s", conn.id, conn.peer, exc)
            await conn.send_error(exc)
        except TimeoutError:
            # Only sends have deadlines here (receives raise Disconnected).
            self._metrics.ws_write_timeouts.inc()
            log.info("websocket %d from %s: a send took longer than %.0fs; closed", conn.id,
                     conn.peer, self._config.write_timeout)
        except (Disconnected, OSError) as exc:
            log.debug("websocket %d from %s: %s", conn.id, conn.peer, clip(exc))
        except Exception:
            # A bug, not the client's doing: it still gets the protocol's error message.
            log.exception("websocket %d from %s failed", conn.id, conn.peer)
            self._metrics.ws_refused.labels(protocol.INTERNAL[0].lower()).inc()
            await conn.send_error(protocol.error(protocol.INTERNAL))
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await heartbeat
            await conn.close()

    # -- PUSH --------------------------------------------------------------------------

    async def _push(self, conn: Connection, first: Message) -> None:
        stream_id = protocol.stream_id(first)
        token = first.params.get("auth", "")
        secret = self._config.push_secret
        if secret:
            if not cdn_jwt.valid(token, secret, protocol.PUSH, stream_id):
                raise protocol.error(protocol.BAD_AUTH)
        elif not conn.local:
            raise protocol.error(protocol.BAD_AUTH)
        producer = self._hub.producer(stream_id, f"ws-{conn.id}", kind=PublisherKind.WEBSOCKET)
        try:
            producer.publish()
        except StreamBusy:
            raise protocol.error(protocol.ALREADY_PUSHING) from None
        log.info("websocket %d from %s: pushing %s", conn.id, conn.peer, clip(stream_id))
        self._metrics.ws_connections.labels("push").inc()
        try:
            await conn.send_text(protocol.OK)
            await self._receive_fragments(conn, producer)
        finally:
            self._metrics.ws_connections.labels("push").dec()
            producer.end()  # if still ours: spectators get CLOSE, HTTP players ENDLIST

    async def _receive_fragments(self, conn: Connection, producer: Producer) -> None:
        idle = 2 * self._config.heartbeat
        dropped = 0
        while True:
            message = protocol.parse(await conn.receive_text(idle))
            if message.type == protocol.FRAGMENT:
                duration = protocol.duration_of(message)
                data = await conn.receive_binary(idle)
                if producer.taken_over:
                    raise ProtocolError("PUSH_ERROR", "Another connection took this stream over")
                if not producer.holds:
                    # Silent past live.idle_timeout, it was ended; its publisher is back.
                    try:
                        producer.publish()
                    except StreamBusy:
                        raise ProtocolError("PUSH_ERROR", "Another connection took this "
                                            "stream over") from None
                if producer.append("", duration=duration, data=data) is None:
                    # The HLS window cannot carry it: dropped, counted, logged once.
                    self._metrics.live_lost.labels("too_long").inc()
                    if not dropped:
                        stream = producer.stream
                        target = stream.renditions[""].target_duration if stream else None
                        log.warning("stream %s: a fragment of %.3f s is longer than its "
                                    "target duration (%s s, fixed by its first fragment); "
                                    "dropped (and any more such)", clip(producer.name),
                                    duration, target)
                    dropped += 1
                    continue
                self._metrics.ws_fragments.labels("in").inc()
            elif message.type in (protocol.CLOSE, protocol.ERROR):
                return
            elif message.type in (protocol.PUSH, protocol.PULL):
                raise protocol.error(protocol.ACTION_TWICE)
            # H, OK and unknown types are ignored, as the original does.

    # -- PULL --------------------------------------------------------------------------

    async def _pull(self, conn: Connection, first: Message) -> None:
        stream_id = protocol.stream_id(first)
        secret = self._config.pull_secret
        if secret and not cdn_jwt.valid(first.params.get("auth", ""), secret, protocol.PULL,
                                        stream_id):
            raise protocol.error(protocol.BAD_AUTH)
        wanted = self._config.max_initial_fragments
        if "max_initial_fragments" in first.params:
            try:
                wanted = int(first.params["max_initial_fragments"])
            except ValueError:
                raise protocol.error(protocol.BAD_INITIAL) from None
        via = tuple(node for node in first.params.get("via", "").split(",") if node)
        if self._node_id and self._node_id in via:
            raise protocol.error(protocol.RELAY_LOOP)
        stream = self._hub.get(stream_id)
        if (stream is None or stream.state is not StreamState.LIVE) \
                and first.params.get("only_source") != "true" and self._on_demand is not None:
            stream = await self._on_demand(stream_id, via)
        if stream is None or stream.state is not StreamState.LIVE:
            # The original's "no such stream": OK, then CLOSE.
            await conn.send_text(protocol.OK)
            await conn.send_text(protocol.CLOSE)
            return
        # hlsd's relays name the nodes they come through: drops are counted apart.
        await self._spectate(conn, stream, wanted,
                             ConsumerKind.RELAY if via else ConsumerKind.SPECTATOR)

    async def _spectate(self, conn: Connection, stream: Stream, wanted: int,
                        kind: ConsumerKind) -> None:
        variant = stream.default_variant()
        rendition = stream.renditions.get(variant)
        buffered = rendition.history()[-self._config.fragment_buffer:] if rendition else ()
        count = len(buffered) if wanted < 0 else min(wanted, len(buffered))
        initial = buffered[len(buffered) - count:]
        reader = self._hub.reader(kind, capacity=self._config.fragment_buffer,
                                  overflow=self._config.slow_spectators.overflow)
        # Before any await: nothing between the buffer and live.
        stream.add_reader(reader, variant=variant)
        self._metrics.ws_connections.labels("pull").inc()
        try:
            await conn.send_text(protocol.OK)
            sender = asyncio.create_task(self._send_all(conn, reader, initial))
            listener = asyncio.create_task(self._listen(conn))
            done, pending = await asyncio.wait({sender, listener},
                                               return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for task in done:
                task.result()
        finally:
            stream.remove_reader(reader)
            self._metrics.ws_connections.labels("pull").dec()

    async def _send_all(self, conn: Connection, reader: Reader[Committed],
                        initial: tuple[Segment, ...]) -> None:
        for segment in initial:
            await conn.send_fragment(segment.duration, await self._transport.of(segment))
            self._fragments_out.inc()
        while True:
            try:
                committed = await reader.next()
            except ReaderClosed:
                if reader.overflowed:
                    self._metrics.ws_slow_disconnects.inc()
                    raise protocol.error(protocol.SLOW) from None
                await conn.send_text(protocol.CLOSE)
                return
            segment = committed.segment
            await conn.send_fragment(segment.duration, await self._transport.of(segment))
            self._fragments_out.inc()

    async def _listen(self, conn: Connection) -> None:
        """What a spectator may send: heartbeats, or an error that ends it."""
        while True:
            message = protocol.parse(await conn.receive_text(2 * self._config.heartbeat))
            if message.type == protocol.ERROR:
                return
            if message.type == protocol.FRAGMENT:
                raise protocol.error(protocol.FRAGMENT_NOT_PUSHING)
            if message.type == protocol.CLOSE:
                raise protocol.error(protocol.CLOSE_NOT_PUSHING)
            if message.type in (protocol.PUSH, protocol.PULL):
                raise protocol.error(protocol.ACTION_TWICE)
