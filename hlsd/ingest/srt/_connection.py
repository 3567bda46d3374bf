"""One SRT publisher's connection: a thread reads its socket, a task on the event loop
writes what it read into its `IngestSession`.

libsrt's receive blocks, so it runs in a thread of its own (one per publisher, bounded
by the server's connection limit). Between the two sides an `Inbox` holds a bounded
number of bytes: the loop is woken once per batch (when the inbox goes from empty to
not empty), and takes everything gathered meanwhile; while the session makes its writer
wait (backpressure) the bytes gather up to the bound, then the thread stops reading, and
libsrt's own receive buffer takes the rest (in live mode it drops what comes too late).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import threading
import time
from dataclasses import dataclass

from hlsd.infra.logs import clip
from hlsd.ingest.continuous import IngestSession, SessionEnded
from hlsd.ingest.srt._libsrt import ErrorCode, LibSrt, SockOpt, SrtError

__all__ = ["Batch", "Connection", "Inbox"]

log = logging.getLogger("hlsd.ingest.srt")

INBOX_BYTES = 512 * 1024
"""Bytes read ahead of the session per publisher (a second of a 4 Mbit/s stream)."""
_MESSAGE_BYTES = 1500  # a live-mode message is at most 1456 bytes (SRT_LIVE_MAX_PLSIZE)
_POLL_SECONDS = 1.0  # the longest a reader waits on its socket before looking at the clock


@dataclass(frozen=True, slots=True)
class Batch:
    data: bytes
    ended: bool
    """The reader is done: nothing follows `data`."""
    error: str | None
    """Why the reader ended, when it was no clean end."""


class Inbox:
    """Bytes from a reader thread to a task on `loop`, at most `limit` held."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int = INBOX_BYTES) -> None:
        self._loop = loop
        self._limit = limit
        self._cond = threading.Condition()
        self._buffer = bytearray()
        self._ended = False
        self._error: str | None = None
        self._stopped = False
        self._ready = asyncio.Event()

    def put(self, data: bytes) -> bool:
        """(thread) Add `data`, waiting while the inbox is full; False once stopped."""
        with self._cond:
            while len(self._buffer) >= self._limit and not self._stopped:
                self._cond.wait()
            if self._stopped:
                return False
            wake = not self._buffer
            self._buffer += data
        if wake:  # the loop took everything before: tell it there is more
            return self._wake()
        return True

    def end(self, error: str | None) -> None:
        """(thread) Nothing more comes; `error` says why, when it was no clean end."""
        with self._cond:
            self._ended = True
            self._error = error
        self._wake()

    def _wake(self) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._ready.set)
        except RuntimeError:  # the loop is closed: nobody reads any more
            self.stop()
            return False
        return True

    def stop(self) -> None:
        """(any thread) The reader is to give up: a waiting `put` returns False."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    async def take(self) -> Batch:
        """(loop) Everything gathered since the last take, once there is something."""
        await self._ready.wait()
        with self._cond:
            data = bytes(self._buffer)
            self._buffer.clear()
            # Cleared under the lock: a put after this finds the buffer empty and wakes
            # the loop again (a wake scheduled before it only makes a take return empty).
            self._ready.clear()
            self._cond.notify_all()
            return Batch(data, self._ended, self._error)


class Connection:
    """An accepted publisher: `start` its reader thread, then run `pump` on the loop."""

    def __init__(self, lib: LibSrt, sock: int, session: IngestSession, *, label: str,
                 loop: asyncio.AbstractEventLoop, idle_timeout: float) -> None:
        self.sock = sock
        self.session = session
        self.label = label
        self._lib = lib
        self._idle_timeout = idle_timeout
        self._inbox = Inbox(loop)
        self._lock = threading.Lock()
        self._closed = False
        self._stop_reason: str | None = None
        self._thread = threading.Thread(target=self._read, name=f"hlsd-srt-{sock}",
                                        daemon=True)

    def start(self) -> None:
        """(any thread) Start reading."""
        # The receive waits at most this long, so an idle publisher is noticed in time.
        wait = min(self._idle_timeout, _POLL_SECONDS)
        # A socket broken already refuses the option: the reader's first receive says so.
        with contextlib.suppress(SrtError):
            self._lib.set_int(self.sock, SockOpt.RCVTIMEO, max(10, int(wait * 1000)))
        self._thread.start()

    def stop(self, reason: str) -> None:
        """(any thread; blocks on libsrt) End this connection; the session is closed
        with `reason`."""
        with self._lock:
            self._stop_reason = self._stop_reason or reason
        self._inbox.stop()
        self.shut()

    def shut(self) -> None:
        """(any thread; blocks on libsrt) Close the socket, once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._lib.close(self.sock)

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _read(self) -> None:
        buffer = ctypes.create_string_buffer(_MESSAGE_BYTES)
        last = time.monotonic()
        error: str | None = None
        try:
            while True:
                try:
                    data = self._lib.receive(self.sock, buffer)
                except SrtError as e:
                    if e.code == ErrorCode.TIMEOUT:
                        if self._stopping():
                            break
                        if time.monotonic() - last >= self._idle_timeout:
                            error = f"the publisher sent nothing for {self._idle_timeout:g} s"
                            break
                        continue
                    # A publisher closing and one whose link broke (libsrt's peer idle
                    # timeout) look the same; MPEG-TS has no end marker: a clean end.
                    if e.code not in (ErrorCode.CONNLOST, ErrorCode.NOCONN,
                                      ErrorCode.INVSOCK) and not self._stopping():
                        error = f"SRT receive failed: {e.strerror}"
                    break
                if data:
                    last = time.monotonic()
                    if not self._inbox.put(data):
                        break
        finally:
            self._inbox.end(error)
            self.shut()

    def _stopping(self) -> bool:
        with self._lock:
            return self._stop_reason is not None

    async def pump(self) -> None:
        """(loop) Write what the reader gathers into the session until either ends;
        then the session is closed, with why when it was no clean end."""
        error: str | None = None
        try:
            while True:
                batch = await self._inbox.take()
                if batch.data:
                    await self.session.write(batch.data)
                if batch.ended:
                    error = batch.error
                    break
        except SessionEnded as e:
            error = str(e)
        except Exception as e:
            error = f"the session failed: {type(e).__name__}"
            log.exception("srt: %s: writing into the session failed", self.label)
        except asyncio.CancelledError:
            error = "the server is closing"
            raise
        finally:
            with self._lock:
                error = self._stop_reason or error
            self._inbox.stop()
            # Shielded: closing the session must finish even when the pump is cancelled.
            await asyncio.shield(self._finish(error))

    async def _finish(self, error: str | None) -> None:
        await asyncio.to_thread(self.shut)
        await self.session.close(error)
        if error is None:
            log.info("srt: %s: the publisher left", self.label)
        else:
            log.info("srt: %s: closed: %s", self.label, clip(error))
