"""BytePipe: an asyncio writer and a reader thread, bounded in bytes, ended by either."""

from __future__ import annotations

import asyncio
import threading

import pytest

from hlsd.infra.byte_pipe import BytePipe, PipeClosed
from tests._support.polling import eventually


class Reader:
    """A thread reading the pipe in `size` pieces until the end, recording what it saw."""

    def __init__(self, pipe: BytePipe, size: int = 1000, *, go: bool = True) -> None:
        self.pipe = pipe
        self.size = size
        self.data = bytearray()
        self.reads: list[int] = []
        self.most_unread = 0
        self.done = threading.Event()
        self.go = threading.Event()
        if go:
            self.go.set()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.go.wait()
        while True:
            self.most_unread = max(self.most_unread, self.pipe.unread)
            chunk = self.pipe.read(self.size)
            self.reads.append(len(chunk))
            if not chunk:
                break
            self.data += chunk
        self.done.set()


async def test_bytes_arrive_in_order_then_the_end() -> None:
    pipe = BytePipe(4096)
    reader = Reader(pipe, size=700)
    sent = b"".join(bytes([n % 251]) * (n % 97 + 1) for n in range(400))
    for at in range(0, len(sent), 333):
        await pipe.write(sent[at: at + 333])
    pipe.close()
    await asyncio.to_thread(reader.done.wait, 10)
    assert bytes(reader.data) == sent
    assert reader.reads[-1] == 0 and all(0 < n <= 700 for n in reader.reads[:-1])
    assert pipe.closed


async def test_a_writer_waits_while_the_reader_is_capacity_behind() -> None:
    pipe = BytePipe(1000)
    await pipe.write(b"a" * 600)
    blocked = asyncio.create_task(pipe.write(b"b" * 600))  # 1200 would pass the bound
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not blocked.done() and pipe.unread == 600
    assert await asyncio.to_thread(pipe.read, 500) == b"a" * 500
    await eventually(blocked.done, what="the writer let go once there was room")
    assert pipe.unread == 700


async def test_the_bound_holds_for_writes_bigger_than_it() -> None:
    pipe = BytePipe(1000)
    reader = Reader(pipe, size=300, go=False)
    big = bytes(range(256)) * 40  # 10240 bytes, ten times the capacity
    writing = asyncio.create_task(pipe.write(big))
    await eventually(lambda: pipe.unread == 1000, what="the pipe filled to its bound")
    assert not writing.done()
    reader.go.set()
    await writing
    pipe.close()
    await asyncio.to_thread(reader.done.wait, 10)
    assert bytes(reader.data) == big
    assert reader.most_unread <= 1000


async def test_abort_ends_a_waiting_writer_and_every_later_write() -> None:
    pipe = BytePipe(100)
    await pipe.write(b"x" * 100)
    waiting = asyncio.create_task(pipe.write(b"y"))
    await asyncio.sleep(0)
    assert not waiting.done()
    await asyncio.to_thread(pipe.abort, "unsupported video codec vp8")
    with pytest.raises(PipeClosed, match="vp8"):
        await waiting
    with pytest.raises(PipeClosed, match="vp8"):
        await pipe.write(b"z")
    assert pipe.read(10) == b"" and pipe.closed and pipe.unread == 0
    pipe.abort("again")  # idempotent: the first reason stays
    with pytest.raises(PipeClosed, match="vp8"):
        await pipe.write(b"z")


async def test_a_reader_blocked_on_an_empty_pipe_wakes_for_data_and_for_the_end() -> None:
    pipe = BytePipe(100)
    first = asyncio.create_task(asyncio.to_thread(pipe.read, 50))
    await asyncio.sleep(0)
    assert not first.done()  # nothing to read yet: it waits
    await pipe.write(b"hello")
    assert await first == b"hello"
    second = asyncio.create_task(asyncio.to_thread(pipe.read, 50))
    pipe.close()
    assert await second == b""
    with pytest.raises(PipeClosed):
        await pipe.write(b"late")


async def test_abort_wakes_a_blocked_reader() -> None:
    pipe = BytePipe(100)
    reading = asyncio.create_task(asyncio.to_thread(pipe.read, 50))
    await asyncio.sleep(0)
    pipe.abort("shutting down")
    assert await reading == b""


def test_it_is_a_file_pyav_reads_without_seeking() -> None:
    pipe = BytePipe(10)
    assert pipe.readable() and not pipe.seekable() and not pipe.writable()
    assert not hasattr(pipe, "seek") and not hasattr(pipe, "tell")
    with pytest.raises(ValueError):
        BytePipe(0)
