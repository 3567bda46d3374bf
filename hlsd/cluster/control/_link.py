"""One accepted edge websocket: bounded receives, and sends that never interleave and
never wait past a deadline."""

from __future__ import annotations

import asyncio
import contextlib

from starlette.websockets import WebSocket, WebSocketDisconnect

from hlsd.cluster import edge_protocol as wire

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL = 1002
CLOSE_REFUSED = 1008
CLOSE_TOO_BIG = 1009

WRITE_TIMEOUT = 30.0
"""Seconds a send may take before the link is given up."""


class LinkClosed(Exception):
    """The edge went away, or stayed silent past the read deadline."""


class FrameTooBig(wire.LinkProtocolError):
    """A frame over its bound: closed with 1009."""


class Link:
    def __init__(self, ws: WebSocket, *, max_binary: int) -> None:
        self.ws = ws
        self._max_binary = max_binary
        self._sending = asyncio.Lock()
        self.heard = asyncio.get_running_loop().time()
        """When the edge last sent a frame (on the loop's clock): a link silent for long
        gives way to a new one of the same name (the edge lost it and dialled again)."""

    async def receive(self) -> str | bytes:
        """The next frame, text or binary, within its bound. No read deadline: an edge
        with nothing to say (no sources) is silent, and a link it lost is replaced when
        it dials again."""
        message = await self.ws.receive()
        self.heard = asyncio.get_running_loop().time()
        if message["type"] == "websocket.disconnect":
            raise LinkClosed(f"closed by the edge ({message.get('code', 1005)})")
        text = message.get("text")
        if text is not None:
            if len(text) > wire.MAX_TEXT_BYTES:
                raise FrameTooBig(f"a text frame over {wire.MAX_TEXT_BYTES} bytes")
            return str(text)
        data = bytes(message.get("bytes") or b"")
        if len(data) > self._max_binary:
            raise FrameTooBig(f"a binary frame over {self._max_binary} bytes "
                              "(livemix.max_edge_segment)")
        return data

    async def send(self, message: wire.Message) -> None:
        """`LinkClosed` when the link is gone (a command racing the edge's close)."""
        async with self._sending:
            try:
                await asyncio.wait_for(self.ws.send_text(message.encode()), WRITE_TIMEOUT)
            except (WebSocketDisconnect, RuntimeError, OSError) as exc:
                raise LinkClosed(str(exc)) from exc

    async def close(self, code: int, reason: str = "") -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(code, reason[:120]), WRITE_TIMEOUT)
