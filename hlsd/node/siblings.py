"""The links between the worker processes of one node, over unix sockets in its run
folder: each worker listens on its own (``w-<pid>.sock``) and follows every other one.

Following a worker means taking a snapshot of each stream it publishes, then every
write it makes (`hlsd.node.ops`), applied to this worker's hub as it comes
(`hlsd.node.mirror`). Workers find each other by the sockets in the folder, looked at
every half second, so one the engine starts again (after a crash) is followed as soon
as it listens; a socket whose process is gone is removed. A follower that falls
`MAX_BEHIND` bytes behind is cut off: it follows again, from a snapshot, rather than
holding a growing buffer in the publishing worker.

The same sockets carry the requests other workers hand the leader
(`hlsd.node.forward`): one frame each way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from hlsd.infra.retry import Backoff, Failures
from hlsd.node._frames import FrameError, Header, encode, read_frame
from hlsd.node._spool import SPOOL, unspool
from hlsd.node.mirror import Mirror, MirrorError
from hlsd.node.ops import Replication, snapshot_frame
from hlsd.node.role import NodeRole, leader_id
from hlsd.streams import StreamHub

__all__ = ["LeaderUnreachable", "RequestHandler", "Siblings"]

log = logging.getLogger(__name__)

MAX_BEHIND = 64 << 20
"""Bytes a follower may leave unread before it is cut off (and follows again)."""
SCAN_EVERY = 0.5
"""Seconds between two looks for workers to follow."""
FIRST_SNAPSHOTS = 10.0
"""Seconds a starting worker waits for the others' streams before it serves."""
_BACKOFF = Backoff(first=0.5, cap=30.0)
"""Between two tries to follow a worker whose link broke on what it sent."""
LEADER_WAIT = 5.0
"""Seconds a request for the leader waits for one (the engine starting a new one)."""

RequestHandler = Callable[[Header, bytes], Awaitable[tuple[Header, bytes]]]


class LeaderUnreachable(Exception):
    """No leader answered within `LEADER_WAIT` (it died and none has started yet)."""


class Siblings:
    def __init__(self, *, role: NodeRole, hub: StreamHub, replication: Replication) -> None:
        assert role.run_dir is not None
        self._role = role
        self._run_dir: Path = role.run_dir
        self._hub = hub
        self._replication = replication
        self._mirror = Mirror(hub)
        self._spool_dir = role.run_dir / SPOOL
        self._server: asyncio.AbstractServer | None = None
        self._following: dict[str, asyncio.Task[None]] = {}
        self._caught_up: set[str] = set()
        """The workers whose snapshots this one has applied, while it follows them."""
        self._scanner: asyncio.Task[None] | None = None
        self._handler: RequestHandler | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._failures: dict[str, Failures] = {}
        """Links to a worker that broke on a bad frame or write, in a row."""

    async def start(self, handler: RequestHandler) -> None:
        """Listen, follow the workers already there (their snapshots applied before
        this one serves), then keep looking for new ones."""
        self._handler = handler
        path = self._role.socket_path(self._role.worker_id)
        path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._accept, path=str(path))
        path.chmod(0o600)
        ready = [self._follow(worker) for worker in self._siblings()]
        if ready:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FIRST_SNAPSHOTS):
                    await asyncio.gather(*(event.wait() for event in ready))
        self._scanner = asyncio.create_task(self._scan(), name="node-siblings")

    async def close(self) -> None:
        tasks = [t for t in (self._scanner, *self._following.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for writer in list(self._connections):
            writer.close()
        if self._server is not None:
            self._server.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._replication.close()
        self._role.socket_path(self._role.worker_id).unlink(missing_ok=True)

    def health(self) -> dict[str, object]:
        """``node`` in ``/api/health``: which worker answered, whether it leads, and how
        many others it follows, caught up with their snapshots (``workers`` - 1 when
        all is well)."""
        return {"worker": self._role.worker_id, "workers": self._role.workers,
                "leader": self._role.leader, "following": len(self._caught_up)}

    # -- following the others -----------------------------------------------------------

    def _siblings(self) -> list[str]:
        own = self._role.worker_id
        found = []
        for path in self._run_dir.glob("w-*.sock"):
            worker = path.name[2:-5]
            if worker != own and worker not in self._following:
                found.append(worker)
        return found

    async def _scan(self) -> None:
        while True:
            await asyncio.sleep(SCAN_EVERY)
            for worker in self._siblings():
                self._follow(worker)
            self._mirror.prune()
            self._replication.prune(self._hub)

    def _follow(self, worker: str) -> asyncio.Event:
        ready = asyncio.Event()
        task = asyncio.create_task(self._follow_one(worker, ready), name=f"follow-{worker}")
        self._following[worker] = task
        task.add_done_callback(lambda _: self._following.pop(worker, None))
        return ready

    async def _follow_one(self, worker: str, ready: asyncio.Event) -> None:
        path = self._role.socket_path(worker)
        try:
            reader, writer = await asyncio.open_unix_connection(str(path))
        except OSError:
            ready.set()
            if not _alive(worker):
                path.unlink(missing_ok=True)  # its process is gone
            return
        pause = 0.0
        try:
            writer.write(encode({"hello": "follow", "worker": self._role.worker_id}))
            while True:
                header, blobs = await read_frame(reader)
                if header.get("op") == "ready":
                    self._caught_up.add(worker)
                    ready.set()
                else:
                    self._mirror.apply(header, unspool(self._spool_dir, header, blobs),
                                       source=worker)
        except (asyncio.IncompleteReadError, ConnectionError):
            log.info("worker %s: gone; its streams end here when their idle time passes",
                     worker)
            self._failures.pop(worker, None)
        except (FrameError, MirrorError, OSError, ValueError) as exc:
            log.warning("worker %s: %s; following it again from a snapshot", worker, exc)
            pause = self._failures.setdefault(worker, Failures(_BACKOFF)).failed()
        finally:
            self._caught_up.discard(worker)
            ready.set()
            writer.close()
        await asyncio.sleep(pause)  # before it is followed again: a fault that repeats

    # -- serving the others -------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            hello, _ = await read_frame(reader)
            if hello.get("hello") == "follow":
                await self._feed(reader, writer)
            elif hello.get("hello") == "request":
                await self._answer(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, FrameError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _feed(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Snapshots, then every write, until the follower goes (it sends nothing)."""
        transport = writer.transport

        def outlet(frame: bytes) -> None:
            if transport.get_write_buffer_size() > MAX_BEHIND:
                log.warning("a worker fell %d bytes behind this one's streams: cut off",
                            MAX_BEHIND)
                transport.abort()
                self._replication.remove_outlet(outlet)
            else:
                writer.write(frame)

        # What this worker publishes, and the copies it holds of streams whose worker
        # it no longer follows (gone: the follower may be the one their publisher
        # reaches next).
        orphans = [snapshot_frame(stream) for stream in self._mirror.orphans(self._caught_up)
                   if not self._replication.publishes(stream)]
        for header, blobs in (*self._replication.snapshots(self._hub), *orphans):
            writer.write(encode(header, blobs))
        writer.write(encode({"op": "ready"}))
        self._replication.add_outlet(outlet)  # in the same step: nothing between is lost
        try:
            await reader.read()
        finally:
            self._replication.remove_outlet(outlet)

    async def _answer(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        assert self._handler is not None
        header, blobs = await read_frame(reader)
        answer, body = await self._handler(header, blobs[0] if blobs else b"")
        writer.write(encode(answer, (body,)))
        await writer.drain()

    # -- asking the leader --------------------------------------------------------------

    async def ask_leader(self, header: Header, body: bytes) -> tuple[Header, bytes]:
        """`header` and `body` answered by the leader's handler. `LeaderUnreachable`
        when none takes it within `LEADER_WAIT` (it died and the engine has not started
        the next), or when the leader goes while it holds the request: it is sent once,
        as it may have been acted on."""
        try:
            async with asyncio.timeout(LEADER_WAIT):
                reader, writer = await self._connect_leader()
                try:
                    writer.write(encode({"hello": "request"}))
                    writer.write(encode(header, (body,)))
                    answer, blobs = await read_frame(reader)
                    return answer, blobs[0] if blobs else b""
                finally:
                    writer.close()
        except (TimeoutError, OSError, asyncio.IncompleteReadError, FrameError):
            raise LeaderUnreachable("no leader worker answered") from None

    async def _connect_leader(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to the leader's socket, tried again until one listens."""
        while True:
            leader = leader_id(self._run_dir)
            if leader is not None:
                with contextlib.suppress(OSError):
                    return await asyncio.open_unix_connection(
                        str(self._role.socket_path(leader)))
            await asyncio.sleep(0.1)


def _alive(worker: str) -> bool:
    try:
        os.kill(int(worker), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True
