"""A fake control node for edge tests: a `websockets` server speaking the edge link
protocol v1 through `hlsd.cluster.edge_protocol`, in its own thread and event loop.

    with FakeControl(key="k") as control:
        edge = HlsdEdge(control.url, "k", cfg, tmp_dir=...)
        control.wait_hello()
        control.request(Name.CHANGE_STREAM_STATE, {...})

It answers `hello` (and `start_recording` again for active recordings the edge names,
as the spec says), `get_video_source` from `sources` (a name it does not know gets an
id made up from the name), records every media frame, acknowledges them unless
`auto_ack` is off, and can drop the connection.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from hlsd.cluster import edge_protocol as wire
from tests._support.hlsd_server import free_port
from tests._support.polling import wait_until

T = TypeVar("T")


@dataclass
class Received:
    meta: wire.SegmentMeta
    data: bytes
    connection: int


@dataclass
class FakeControl:
    key: str
    report_interval: float = 1.0
    auto_ack: bool = True
    port: int = field(default_factory=free_port)
    sources: dict[str, str] = field(default_factory=dict)
    hellos: list[wire.Message] = field(default_factory=list)
    segments: list[Received] = field(default_factory=list)
    inits: list[wire.InitMeta] = field(default_factory=list)
    reports: list[wire.Message] = field(default_factory=list)
    acked: set[int] = field(default_factory=set)
    refused: int = 0
    connections: int = 0
    active: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Recording sessions started through `start_recording`, by id."""
    stopped: dict[str, str] = field(default_factory=dict)
    """Recordings stopped through `stop_recording`: their end times."""

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Server | None = None
        self._ws: ServerConnection | None = None
        self._pending: dict[str, asyncio.Future[wire.Message]] = {}
        self._ids = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{wire.PATH}"

    def __enter__(self) -> FakeControl:
        self._thread.start()
        self._call(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _call(self, coro: Any, timeout: float = 15.0) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    # -- what tests call -------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._ws is not None

    def wait_hello(self, count: int = 1, timeout: float = 30) -> wire.Message:
        wait_until(lambda: len(self.hellos) >= count and self.connected, timeout,
                   f"hello #{count}")
        return self.hellos[count - 1]

    def request(self, name: wire.Name, fields: dict[str, Any]) -> wire.Message:
        if name is wire.Name.START_RECORDING:
            self.active[fields["session"]["id"]] = fields
        elif name is wire.Name.STOP_RECORDING:
            self.active.pop(fields["session_id"], None)
            self.stopped[fields["session_id"]] = fields["end_time"]
        return self._call(self._request(name, fields))  # type: ignore[no-any-return]

    def ack(self, seqs: list[int]) -> None:
        self._call(self._send(wire.Message(wire.Name.SEGMENT_ACK, {"seqs": seqs})))

    def drop(self) -> None:
        """Close the edge's connection (the control going away)."""
        self._call(self._drop())

    def received(self, predicate: Callable[[Received], bool] = lambda r: True
                 ) -> list[Received]:
        return [r for r in list(self.segments) if predicate(r)]

    # -- the server ------------------------------------------------------------------------

    async def _start(self) -> None:
        self._server = await serve(self._handle, "127.0.0.1", self.port,
                                   subprotocols=[wire.SUBPROTOCOL],  # type: ignore[list-item]
                                   process_request=self._authorize, max_size=64 << 20)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _authorize(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path != wire.PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, "not an edge endpoint\n")
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            self.refused += 1
            return Response(403, "Forbidden", Headers(), b"unknown edge key\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        number = self.connections
        self._ws = ws
        try:
            await self._read(ws, number)
        except ConnectionClosed:
            pass  # the edge went away (a kill -9, a restart): it dials again
        finally:
            if self._ws is ws:
                self._ws = None

    async def _read(self, ws: ServerConnection, number: int) -> None:
        async for frame in ws:
            if isinstance(frame, bytes):
                meta, data = wire.decode_binary(frame, 64 << 20)
                if isinstance(meta, wire.InitMeta):
                    self.inits.append(meta)
                    continue
                self.segments.append(Received(meta, data, number))
                if self.auto_ack:
                    self.acked.add(meta.seq)
                    await ws.send(wire.Message(wire.Name.SEGMENT_ACK,
                                               {"seqs": [meta.seq]}).encode())
                continue
            message = wire.decode_text(frame)
            if message.kind is wire.Kind.RESPONSE:
                future = self._pending.pop(message.request_id, None)
                if future is not None and not future.done():
                    future.set_result(message)
            elif message.name is wire.Name.HELLO:
                await self._hello(ws, message)
            elif message.name is wire.Name.GET_VIDEO_SOURCE:
                name = message.fields["target_name"]
                source_id = self.sources.setdefault(name, f"src-{name}")
                await ws.send(wire.Message(wire.Name.GET_VIDEO_SOURCE_RESP, {
                    "source": {"id": source_id, "name": name}},
                    message.request_id).encode())
            elif message.name is wire.Name.REPORT_VIDEO_SOURCE_STATUS:
                self.reports.append(message)

    async def _hello(self, ws: ServerConnection, message: wire.Message) -> None:
        self.hellos.append(message)
        await ws.send(wire.Message(wire.Name.HELLO_RESP, {
            "success": True, "report_interval": self.report_interval, "node": "fake"},
            message.request_id).encode())
        # As a control answers a hello: the recordings it names, started or stopped.
        for recording in message.fields.get("recordings", []):
            if recording in self.active:
                self._later(self._request(wire.Name.START_RECORDING, self.active[recording]))
            elif recording in self.stopped:
                self._later(self._request(wire.Name.STOP_RECORDING, {
                    "session_id": recording, "end_time": self.stopped[recording]}))

    def _later(self, coro: Any) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _request(self, name: wire.Name, fields: dict[str, Any]) -> wire.Message:
        self._ids += 1
        request_id = f"r{self._ids}"
        future: asyncio.Future[wire.Message] = self._loop.create_future()
        self._pending[request_id] = future
        await self._send(wire.Message(name, fields, request_id))
        return await asyncio.wait_for(future, 10)

    async def _send(self, message: wire.Message) -> None:
        if self._ws is None:
            raise ConnectionError("no edge is connected")
        await self._ws.send(message.encode())

    async def _drop(self) -> None:
        if self._ws is not None:
            await self._ws.close(1001, "going away")
