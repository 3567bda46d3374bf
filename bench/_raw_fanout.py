"""A minimal websocket fan-out server on bare asyncio: the floor of fan-out on this machine.

``wscdn.py`` runs it as the anchor of its fan-out table: the same publisher, the same
spectators, the same fragments, the same core. It does the least a websocket CDN must do
and nothing else: the RFC 6455 handshake by hand, just enough of the hls-websocket-cdn
text protocol for the bench clients (``PUSH`` and ``PULL`` answered with ``OK``, no auth
check, no buffer, no initial fragments), and for each fragment (``F:…`` text, then one
binary frame from the publisher) it unmasks the payload, builds the outgoing bytes (the
same text message, then the binary frame) once, and calls ``transport.write`` on every
spectator's transport with that one bytes object. No queues, no slow-spectator policy,
no write deadlines, no heartbeats, no HTTP side: one kernel copy per spectator (plus
whatever the event loop's transport does with what the socket does not take at once).

    python bench/_raw_fanout.py --port P [--loop asyncio|uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
from urllib.parse import parse_qsl

try:
    from websockets.speedups import apply_mask as _c_apply_mask
except ImportError:  # pragma: no cover - the C helper ships with websockets' wheels
    _c_apply_mask = None  # type: ignore[assignment]

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE_OP, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA

# stream id -> the spectators' transports
_spectators: dict[str, set[asyncio.Transport]] = {}


def _unmask(data: bytes | bytearray, mask: bytes) -> bytes:
    if _c_apply_mask is not None:
        return _c_apply_mask(data, mask)
    n = len(data)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked, unfragmented server frame."""
    n = len(payload)
    if n < 126:
        header = bytes([0x80 | opcode, n])
    elif n < 1 << 16:
        header = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
    return header + payload


def _params(text: str) -> dict[str, str]:
    _, _, query = text.partition(":")
    return dict(parse_qsl(query, keep_blank_values=True))


class Peer(asyncio.Protocol):
    """One websocket: a publisher or a spectator, decided by its first text message."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.handshaken = False
        self.role = ""
        self.stream = ""
        self.pending_fragment: bytes | None = None  # the F text, waiting for its binary

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.role == "pull":
            _spectators.get(self.stream, set()).discard(self.transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.handshaken:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self._handshake(bytes(self.buffer[:end]))
            del self.buffer[:end + 4]
        while True:
            message = self._next_frame()
            if message is None:
                return
            self._on_frame(*message)

    def _handshake(self, request: bytes) -> None:
        key = b""
        for line in request.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept
                             + b"\r\n\r\n")
        self.handshaken = True

    def _next_frame(self) -> tuple[int, bytes] | None:
        """(opcode, unmasked payload) of the next whole frame in the buffer, or None."""
        buf = self.buffer
        if len(buf) < 2:
            return None
        opcode, masked, length = buf[0] & 0x0F, buf[1] & 0x80, buf[1] & 0x7F
        at = 2
        if length == 126:
            if len(buf) < 4:
                return None
            length, at = int.from_bytes(buf[2:4], "big"), 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length, at = int.from_bytes(buf[2:10], "big"), 10
        end = at + (4 if masked else 0) + length
        if len(buf) < end:
            return None
        if masked:
            mask = bytes(buf[at:at + 4])
            payload = _unmask(buf[at + 4:end], mask)
        else:
            payload = bytes(buf[at:end])
        del buf[:end]
        return opcode, payload

    def _on_frame(self, opcode: int, payload: bytes) -> None:
        if opcode == TEXT:
            self._on_text(payload.decode())
        elif opcode == BINARY:
            if self.role == "push" and self.pending_fragment is not None:
                # The floor: the outgoing bytes are built once per fragment, and every
                # spectator's transport is handed the same object.
                out = self.pending_fragment + frame(BINARY, payload)
                self.pending_fragment = None
                for transport in tuple(_spectators.get(self.stream, ())):
                    transport.write(out)
        elif opcode == CLOSE_OP:
            self.transport.write(frame(CLOSE_OP, payload[:2]))
            self.transport.close()
        elif opcode == PING:
            self.transport.write(frame(PONG, payload))

    def _on_text(self, text: str) -> None:
        kind = text.partition(":")[0].upper()
        if not self.role and kind in ("PUSH", "PULL"):
            self.role = kind.lower()
            self.stream = _params(text).get("stream", "")
            if self.role == "pull":
                _spectators.setdefault(self.stream, set()).add(self.transport)
            self.transport.write(frame(TEXT, b"OK"))
        elif self.role == "push" and kind == "F":
            self.pending_fragment = frame(TEXT, text.encode())
        elif self.role == "push" and kind == "CLOSE":
            closing = frame(TEXT, b"CLOSE")
            for transport in tuple(_spectators.get(self.stream, ())):
                transport.write(closing)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Peer, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(serve(args.port))
    else:
        asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
