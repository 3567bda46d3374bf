"""hlsd's websocket client (`hlsd.wscdn.client`, what relays pull with): the protocol
against a real listener, and answers that are no websocket upgrade."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from hlsd.wscdn.client import Disconnected, HandshakeFailed, connect
from tests._support.hlsd_server import HlsdServer, free_port


@pytest.fixture(scope="module")
def listen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    with HlsdServer({"websocket": {"listen": f"127.0.0.1:{port}"}},
                    tmp_dir=tmp_path_factory.mktemp("client")):
        yield port


async def test_pull_of_a_stream_nobody_has(listen: int) -> None:
    ws = await connect(f"ws://127.0.0.1:{listen}/ws?x=1", open_timeout=5, write_timeout=5,
                       max_binary=1 << 20)
    try:
        await ws.send_text("PULL:stream=nobody")  # masked, or the listener would refuse
        assert await ws.receive(5) == "OK"
        assert await ws.receive(5) == "CLOSE"
    finally:
        await ws.close()
    with pytest.raises(Disconnected):
        await ws.receive(5)


async def test_no_upgrade_is_a_failed_handshake(listen: int) -> None:
    with pytest.raises(HandshakeFailed, match="404"):
        await connect(f"ws://127.0.0.1:{listen}/elsewhere", open_timeout=5,
                      write_timeout=5, max_binary=1024)


async def test_a_wrong_accept_key_is_a_failed_handshake() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: wrong\r\n\r\n")
        await writer.drain()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(HandshakeFailed, match="Accept"):
            await connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5, write_timeout=5,
                          max_binary=1024)
