"""The edge's one outbound websocket to its control (``docs/EDGE.md``, protocol v1).

`EdgeLink.run` dials, says `hello`, and then runs three tasks on the connection until
it fails: the receiver (the control's requests, answers and acknowledgements), the
sender (media frames, as `EdgeNode.next_job` says, within the in-flight bounds: frames
and bytes sent and not acknowledged) and the reporter (`get_video_source` for each
stream the edge holds, `report_video_source_status` for each known source every
`report_interval`). After any close or failure it dials again with exponential backoff
and jitter; a connection that stayed up for `STABLE_AFTER` seconds starts the backoff
over. Liveness is the websocket's own pings.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from hlsd import __version__
from hlsd.cluster import edge_protocol as wire
from hlsd.edge._node import EdgeNode, Job
from hlsd.infra.logs import clip
from hlsd.infra.retry import Backoff, Failures

log = logging.getLogger(__name__)

BACKOFF = Backoff(first=0.5, cap=30.0, jitter=0.5)
STABLE_AFTER = 30.0
"""Seconds a connection must stay up for the backoff to start over."""
REQUEST_TIMEOUT = 10.0
MAX_IN_FLIGHT_FRAMES = 32
MAX_IN_FLIGHT_BYTES = 64 << 20
"""Media sent and not acknowledged: past either bound the sender waits for acks."""
MAX_REPORT_INTERVAL = 300.0


class LinkState(enum.StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class Refused(Exception):
    """The control answered `hello` with ``success: false``."""


@dataclass(frozen=True, kw_only=True)
class LinkConfig:
    control: str
    key: str
    name: str
    ping_interval: float = 10.0
    ping_timeout: float = 10.0
    open_timeout: float = 10.0
    backoff: Backoff = BACKOFF


class EdgeLink:
    def __init__(self, node: EdgeNode, config: LinkConfig,
                 on_state: Callable[[LinkState], None] = lambda state: None) -> None:
        """`on_state`: told each change of state (``/metrics``)."""
        self.node = node
        self.config = config
        self._on_state = on_state
        self.state = LinkState.DISCONNECTED
        self.since = time.time()
        self.control_node: str | None = None
        self.connections = 0
        self.in_flight: dict[int, Job] = {}
        self._seq = time.time_ns() // 1000
        """Link sequence numbers: microseconds at the start, one more per frame, so they
        increase across reconnects and restarts alike."""

    def health(self) -> dict[str, Any]:
        cache = self.node.cache
        return {"control": self.config.control, "name": self.config.name,
                "state": self.state.value,
                "since": datetime.fromtimestamp(self.since, UTC).isoformat(),
                "node": self.control_node, "connections": self.connections,
                "in_flight": len(self.in_flight), "recordings": len(self.node.book),
                "cache": {"segments": len(cache), "bytes": cache.bytes,
                          "max_bytes": cache.max_bytes, "evicted": cache.evicted}}

    def _set(self, state: LinkState) -> None:
        if state is not self.state:
            self.state, self.since = state, time.time()
            self._on_state(state)

    async def run(self) -> None:
        """Hold the link, dialling again after every failure. Runs until cancelled."""
        failures = Failures(self.config.backoff)
        while True:
            self._set(LinkState.CONNECTING)
            began = time.monotonic()
            try:
                await self._connect()
            except asyncio.CancelledError:
                raise
            except InvalidStatus as exc:
                log.warning("edge: the control refused the link (HTTP %d): %s",
                            exc.response.status_code,
                            clip((exc.response.body or b"").decode(errors="replace")))
            except (OSError, WebSocketException, TimeoutError, wire.LinkProtocolError,
                    Refused) as exc:
                log.warning("edge: link to %s lost: %s", self.config.control,
                            clip(str(exc) or type(exc).__name__))
            finally:
                self._set(LinkState.DISCONNECTED)
                self.node.link_down()
                self.in_flight.clear()
            if time.monotonic() - began >= STABLE_AFTER:
                failures.reset()
            delay = failures.failed()
            log.info("edge: dialling the control again in %.1f s", delay)
            await asyncio.sleep(delay)

    async def _connect(self) -> None:
        headers = {"Authorization": f"Bearer {self.config.key}"}
        async with connect(self.config.control, subprotocols=[wire.SUBPROTOCOL],  # type: ignore[list-item]
                           additional_headers=headers, max_size=wire.MAX_TEXT_BYTES,
                           open_timeout=self.config.open_timeout,
                           ping_interval=self.config.ping_interval,
                           ping_timeout=self.config.ping_timeout, close_timeout=2,
                           user_agent_header=f"hlsd/{__version__} edge") as ws:
            if ws.subprotocol != wire.SUBPROTOCOL:
                await ws.close(1002, f"{wire.SUBPROTOCOL} expected")
                raise wire.LinkProtocolError("the control chose no hlsd-edge.1 subprotocol")
            try:
                await _Session(self, ws).run()
            except asyncio.CancelledError:  # the edge stops: say so, not 1011
                with contextlib.suppress(Exception):
                    await asyncio.shield(ws.close(1001, "edge going away"))
                raise


class _Session:
    """One connection: its pending requests and the frames in flight."""

    def __init__(self, link: EdgeLink, ws: ClientConnection) -> None:
        self.link = link
        self.node = link.node
        self.ws = ws
        self.pending: dict[str, asyncio.Future[wire.Message]] = {}
        self.in_flight = link.in_flight
        self.pairs: set[tuple[str, int]] = set()
        self.bytes = 0
        self.inits: set[str] = set()
        self.interval = 5.0
        self.asked: dict[str, float] = {}

    async def run(self) -> None:
        receiver = asyncio.create_task(self._receive(), name="hlsd-edge-receive")
        tasks = [receiver]
        self.node.link_opening()
        try:
            answer = await self.request(wire.Message(wire.Name.HELLO, {
                "edge": self.link.config.name, "protocol": wire.VERSION,
                "local_timestamp": wire.iso(datetime.now(UTC)),
                "sources": self.node.names()[:wire.MAX_ITEMS],
                "recordings": self.node.book.ids()}))
            if answer.fields.get("success") is not True:
                raise Refused(f"hello refused: {clip(str(answer.fields.get('error')))}")
            interval = answer.fields.get("report_interval")
            if isinstance(interval, int | float) and not isinstance(interval, bool):
                self.interval = min(max(float(interval), 0.5), MAX_REPORT_INTERVAL)
            control = answer.fields.get("node")
            self.link.control_node = clip(control, 64) if isinstance(control, str) else None
            self.link.connections += 1
            self.node.link_up()
            self.link._set(LinkState.CONNECTED)
            log.info("edge %r: linked to %s (%s)", self.link.config.name,
                     self.link.config.control, self.link.control_node)
            tasks += [asyncio.create_task(self._send(), name="hlsd-edge-send"),
                      asyncio.create_task(self._report(), name="hlsd-edge-report")]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # its error ends the session
            raise ConnectionError("the control closed the link")
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for future in self.pending.values():
                future.cancel()

    async def request(self, message: wire.Message) -> wire.Message:
        request_id = secrets.token_hex(8)
        future: asyncio.Future[wire.Message] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        try:
            await self.ws.send(wire.Message(message.name, message.fields, request_id).encode())
            return await asyncio.wait_for(future, REQUEST_TIMEOUT)
        finally:
            self.pending.pop(request_id, None)

    # -- receiving -------------------------------------------------------------------------

    async def _receive(self) -> None:
        try:
            async for frame in self.ws:
                if isinstance(frame, bytes):
                    raise wire.LinkProtocolError("a control sends no binary frames")
                message = wire.decode_text(frame)
                if message.kind is wire.Kind.RESPONSE:
                    future = self.pending.get(message.request_id)
                    if future is not None and not future.done():
                        future.set_result(message)
                elif message.kind is wire.Kind.REQUEST:
                    await self.ws.send(self.node.handle(message).encode())
                elif message.name is wire.Name.SEGMENT_ACK:
                    self._acked(wire.seqs(message.fields.get("seqs")))
        except wire.LinkProtocolError as exc:
            log.warning("edge: the control broke the protocol: %s", clip(str(exc)))
            await self.ws.close(1002, clip(str(exc), 100))
            raise

    def _acked(self, seqs: tuple[int, ...]) -> None:
        for seq in seqs:
            job = self.in_flight.pop(seq, None)
            if job is None:
                continue
            self.bytes -= job.segment.size
            self.pairs.difference_update((r, job.segment.cid) for r in job.recordings)
            self.node.acked(job)
        self.node.wake.set()

    # -- sending ---------------------------------------------------------------------------

    async def _send(self) -> None:
        node = self.node
        while True:
            node.wake.clear()
            if self.in_flight and (len(self.in_flight) >= MAX_IN_FLIGHT_FRAMES
                                   or self.bytes >= MAX_IN_FLIGHT_BYTES):
                await node.wake.wait()
                continue
            job = node.next_job(self.pairs)
            if job is None:
                await node.wake.wait()
                continue
            if not job.live and not job.recordings:
                continue
            await self._send_job(job)

    async def _send_job(self, job: Job) -> None:
        segment, cache = job.segment, self.node.cache
        if segment.init is not None and segment.init not in self.inits:
            found = await asyncio.to_thread(cache.init, segment.init)
            if found is None:
                return
            init, data = found
            await self.ws.send(wire.encode_init(wire.InitMeta(
                init_id=init.init_id, source_name=init.stream, variant=init.variant,
                content_type=init.content_type), data))
            self.inits.add(segment.init)
        try:
            data = await asyncio.to_thread(cache.read, segment.cid)
        except OSError:
            return  # evicted meanwhile
        self.link._seq += 1
        seq = self.link._seq
        self.in_flight[seq] = job
        self.bytes += segment.size
        self.pairs.update((r, segment.cid) for r in job.recordings)
        await self.ws.send(wire.encode_segment(wire.SegmentMeta(
            seq=seq, source_name=segment.stream, name=segment.name, start=segment.start,
            length=max(segment.duration, 0.001), sequence=segment.sequence,
            variant=segment.variant, discontinuity=segment.discontinuity,
            content_type=segment.content_type, init=segment.init,
            source_id=self.node.source_ids.get(segment.stream, ""),
            recordings=job.recordings, live=job.live), data))

    # -- reporting -------------------------------------------------------------------------

    async def _report(self) -> None:
        node = self.node
        reported = -self.interval
        while True:
            node.new_names.clear()
            names = node.names()
            for name in names:
                now = time.monotonic()
                if name not in node.source_ids and \
                        now - self.asked.get(name, -self.interval) >= self.interval:
                    self.asked[name] = now
                    await self._ask(name)
            if time.monotonic() - reported >= self.interval:
                reported = time.monotonic()
                for name in names:
                    if source_id := node.source_ids.get(name):
                        await self.ws.send(wire.Message(
                            wire.Name.REPORT_VIDEO_SOURCE_STATUS, {
                                "source_id": source_id,
                                "rr_target_id": self.link.config.name,
                                "local_timestamp": wire.iso(datetime.now(UTC))}).encode())
            wait = max(0.05, reported + self.interval - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(node.new_names.wait(), wait)

    async def _ask(self, name: str) -> None:
        answer = await self.request(wire.Message(wire.Name.GET_VIDEO_SOURCE,
                                                 {"target_name": name}))
        if answer.name is wire.Name.GET_VIDEO_SOURCE_RESP:
            self.node.learn_source(name, answer.fields.get("source"))
