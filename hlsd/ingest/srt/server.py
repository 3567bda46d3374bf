"""`SrtServer`: SRT publishers on one UDP port, each routed by its stream id into
`Publishers.open`, its MPEG-TS written into the session it gets.

A caller is judged before its connection exists, in libsrt's listen callback: the stream
id is parsed (`streamid`), the connection limit checked, and `Publishers.open` asked
(the key, the hub's policy), so a refused publisher gets a code it can show
(``SRT_REJX_UNAUTHORIZED`` for a wrong key, ``SRT_REJX_CONFLICT`` for a stream
published by someone else, …) instead of a connection closed under it. The callback
runs on libsrt's receiving thread for the port, and waits there for `open` on the event
loop (`_opening`).

The session opened there waits for the handshake to finish and ``srt_accept`` to return
the socket (one thread blocks in accept); a handshake that fails after the callback
(say, a caller with a passphrase: hlsd sets none) never gets there, so its session is
closed after `_HANDSHAKE_GRACE`. Every accepted publisher gets a reader thread and a
pump task (`_connection`). One log line tells each refusal, each publisher's start and
its end.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import socket
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass

from hlsd.infra.logs import clip
from hlsd.ingest.continuous import Container, IngestSession, Publishers, PublishRequest
from hlsd.ingest.srt import _libsrt
from hlsd.ingest.srt._connection import Connection
from hlsd.ingest.srt._libsrt import LibSrt, SockOpt, SrtError
from hlsd.ingest.srt._opening import CLOSING, Refusal, open_from_thread
from hlsd.ingest.srt.streamid import RejectCode, StreamIdRefused, parse_stream_id, redacted
from hlsd.streams import PublisherKind

__all__ = ["SrtServer"]

log = logging.getLogger("hlsd.ingest.srt")

_HANDSHAKE_GRACE = 5.0  # seconds a session opened in the callback waits for its socket
_CLOSE_WAIT = 2.0  # seconds close() lets the pumps finish before cancelling them
_BACKLOG = 16  # handshakes done and not yet accepted (the accept thread takes them at once)


class _State(enum.Enum):
    NEW = "new"
    LISTENING = "listening"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class _Pending:
    """A caller the callback let through, its session open, its socket not accepted yet."""

    session: IngestSession
    label: str


class SrtServer:
    """An SRT publish listener (see the module's doc)."""

    def __init__(self, publishers: Publishers, *, idle_timeout: float,
                 max_connections: int = 64, latency_ms: int = 120) -> None:
        if idle_timeout <= 0 or max_connections < 1 or latency_ms < 0:
            raise ValueError("idle_timeout > 0, max_connections >= 1, latency_ms >= 0")
        self._publishers = publishers
        self._idle_timeout = idle_timeout
        self._max_connections = max_connections
        self._latency_ms = latency_ms
        self._state = _State.NEW
        self._lock = threading.Lock()  # the fields below are shared with libsrt's threads
        self._pending: dict[int, _Pending] = {}
        self._connections: dict[int, Connection] = {}
        self._opening = 0
        self._lib: LibSrt | None = None
        self._listener = -1
        self._port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._accept_thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self._timers: dict[int, asyncio.TimerHandle] = {}

    @property
    def port(self) -> int:
        """The bound UDP port (the one asked for, or the system's pick for 0)."""
        return self._port

    async def start(self, host: str, port: int) -> None:
        """Listen on `host`:`port` (UDP). `OSError` when it cannot be bound,
        `SrtUnavailable` without libsrt."""
        if self._state is not _State.NEW:
            raise RuntimeError("an SrtServer starts once")
        lib = _libsrt.load()
        self._loop = asyncio.get_running_loop()
        infos = await self._loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM,
                                             flags=socket.AI_PASSIVE)
        family, address = infos[0][0], infos[0][4]
        self._state = _State.LISTENING
        self._lib = lib  # before srt_listen: the callback may run from then on
        try:
            await asyncio.to_thread(self._listen, lib, _libsrt.sockaddr(family, address))
        except BaseException:
            self._state = _State.CLOSED
            raise
        self._accept_thread = threading.Thread(target=self._accept_forever, args=(lib,),
                                               name="hlsd-srt-accept", daemon=True)
        self._accept_thread.start()
        log.debug("srt: listening on %s:%d (UDP)", host, self._port)

    def _listen(self, lib: LibSrt, address: bytes) -> None:
        lib.startup()
        try:
            sock = lib.create_socket()
            try:
                # Not shared with another listener of this process on the same port: a
                # taken port is an error, as it is for the other listeners.
                lib.set_int(sock, SockOpt.REUSEADDR, 0)
                lib.set_int(sock, SockOpt.LATENCY, self._latency_ms)
                lib.bind(sock, address)
                self._port = lib.sockname(sock)[1]
                lib.listen_callback(sock, self._on_caller)
                lib.listen(sock, _BACKLOG)
            except BaseException:
                lib.close(sock)
                raise
        except BaseException:
            lib.cleanup()
            raise
        self._listener = sock

    # -- libsrt's receiving thread: a caller's handshake -------------------------------

    def _on_caller(self, sock: int, _hsversion: int, peer: tuple[str, int] | None,
                   raw_id: bytes | None) -> int:
        stream_id = raw_id.decode(errors="replace") if raw_id is not None else ""
        where = f"{peer[0]}:{peer[1]}" if peer else "?"
        try:
            refusal = self._admit(sock, peer, where, stream_id)
        except Exception:
            log.exception("srt: judging a caller from %s failed", where)
            refusal = Refusal("the server failed", RejectCode.ISE)
        if refusal is None:
            return 0
        if self._lib is not None:
            self._lib.set_reject_reason(sock, refusal.code)
        # The stream id without its key: keys stay out of logs.
        log.info("srt: refused streamid=%s from %s (%d): %s", clip(redacted(stream_id)),
                 where, refusal.code, clip(refusal.message))
        return -1

    def _admit(self, sock: int, peer: tuple[str, int] | None, where: str,
               stream_id: str) -> Refusal | None:
        try:
            target = parse_stream_id(stream_id)
        except StreamIdRefused as e:
            return Refusal(e.message, e.code)
        with self._lock:
            if self._state is not _State.LISTENING:
                return Refusal(CLOSING, RejectCode.DOWN)
            if len(self._pending) + len(self._connections) + self._opening \
                    >= self._max_connections:
                return Refusal(f"this node takes {self._max_connections} SRT publishers "
                               f"at once", RejectCode.OVERLOAD)
            self._opening += 1
        try:
            assert self._loop is not None
            opened = open_from_thread(self._publishers, PublishRequest(
                stream=target.stream, key=target.key, host=peer[0] if peer else "",
                port=peer[1] if peer else 0, kind=PublisherKind.SRT,
                container=Container.MPEGTS), self._loop, late=self._close_late)
        finally:
            with self._lock:
                self._opening -= 1
        if isinstance(opened, Refusal):
            return opened
        label = f"{clip(target.stream)} from {where}"
        with self._lock:
            listening = self._state is _State.LISTENING
            if listening:
                self._pending[sock] = _Pending(opened, label)
        if listening and self._call_on_loop(self._expire_later, sock):
            return None
        with self._lock:
            self._pending.pop(sock, None)
        self._call_on_loop(self._close_session, opened, CLOSING)
        return Refusal(CLOSING, RejectCode.DOWN)

    def _close_late(self, session: IngestSession) -> None:
        self._call_on_loop(self._close_session, session,
                           "the SRT handshake was refused: the server answered late")

    def _call_on_loop(self, callback: Callable[..., None], *args: object) -> bool:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            return False
        return True

    # -- the event loop ------------------------------------------------------------------

    def _expire_later(self, sock: int) -> None:
        assert self._loop is not None
        self._timers[sock] = self._loop.call_later(_HANDSHAKE_GRACE, self._expire, sock)

    def _expire(self, sock: int) -> None:
        self._timers.pop(sock, None)
        with self._lock:
            pending = self._pending.pop(sock, None)
        if pending is not None:
            message = "the SRT handshake did not complete"
            log.info("srt: %s: %s", pending.label, message)
            self._close_session(pending.session, message)

    def _close_session(self, session: IngestSession, error: str) -> None:
        self._track(session.close(error))

    def _track(self, work: Coroutine[object, object, object]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _adopt(self, connection: Connection) -> None:
        log.info("srt: %s: publishing", connection.label)
        self._track(self._run(connection))

    async def _run(self, connection: Connection) -> None:
        try:
            await connection.pump()
        finally:
            with self._lock:
                self._connections.pop(connection.sock, None)

    # -- the accept thread -----------------------------------------------------------

    def _accept_forever(self, lib: LibSrt) -> None:
        assert self._loop is not None
        while True:
            try:
                sock, _peer = lib.accept(self._listener)
            except SrtError as e:
                with self._lock:
                    listening = self._state is _State.LISTENING
                if listening:  # not seen in practice: said once, never retried in a loop
                    log.error("srt: accept failed, no more SRT publishers are taken: %s",
                              e.strerror)
                return
            with self._lock:
                pending = self._pending.pop(sock, None)
                connection = None
                if pending is not None and self._state is _State.LISTENING:
                    connection = Connection(lib, sock, pending.session, label=pending.label,
                                            loop=self._loop, idle_timeout=self._idle_timeout)
                    self._connections[sock] = connection
            if connection is None:  # expired, or the server is closing
                lib.close(sock)
                if pending is not None:
                    self._call_on_loop(self._close_session, pending.session, CLOSING)
                continue
            connection.start()
            if not self._call_on_loop(self._adopt, connection):
                connection.stop(CLOSING)

    # -- closing ---------------------------------------------------------------------

    async def close(self) -> None:
        """Stop listening, close every connection; their sessions end with an error."""
        with self._lock:
            if self._state is not _State.LISTENING:
                self._state = _State.CLOSED
                return
            self._state = _State.CLOSING
        lib = self._lib
        assert lib is not None
        await asyncio.to_thread(lib.close, self._listener)  # wakes the accept thread
        if self._accept_thread is not None:
            await asyncio.to_thread(self._accept_thread.join)
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        with self._lock:
            pending = list(self._pending.values())
            self._pending.clear()
            connections = list(self._connections.values())
        for waiting in pending:
            self._close_session(waiting.session, CLOSING)
        await asyncio.gather(*(asyncio.to_thread(c.stop, CLOSING) for c in connections))
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=_CLOSE_WAIT)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await asyncio.gather(*(asyncio.to_thread(c.join, 1.0) for c in connections))
        await asyncio.to_thread(lib.cleanup)
        with self._lock:
            self._state = _State.CLOSED
        log.debug("srt: closed port %d", self._port)
