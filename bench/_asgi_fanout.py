"""A bare ASGI websocket fan-out, no framework: the ceiling of fan-out through an engine's
ASGI websocket send on this machine.

``wscdn.py --ceiling`` runs it as a third row beside hlsd and the bare-asyncio floor
(`_raw_fanout.py`): the same clients, fragments and core, served by the same engine as
hlsd (granian or uvicorn) with nothing of hlsd's in the way. It does what `_raw_fanout.py`
does (``PUSH``/``PULL`` answered ``OK``, no auth, no buffer), except that every byte goes
out through the engine's ``websocket.send``: one shared message dict per fragment, one
task per spectator sending the ``F`` text and the binary frame. hlsd on an engine cannot
beat this row; when this row is already far from the floor, the cost is the engine's
websocket path, not hlsd's.

    python bench/_asgi_fanout.py --port P [--server granian|uvicorn]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# stream id -> each spectator's queue of (F text message, binary message)
_spectators: dict[str, set[asyncio.Queue[tuple[Message, Message]]]] = {}


async def app(scope: Message, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    first = (await receive()).get("text") or ""
    kind, _, query = first.partition(":")
    stream = dict(parse_qsl(query)).get("stream", "")
    await send({"type": "websocket.send", "text": "OK"})
    if kind.upper() == "PULL":
        await _spectate(stream, receive, send)
    elif kind.upper() == "PUSH":
        await _publish(stream, receive)


async def _spectate(stream: str, receive: Receive, send: Send) -> None:
    queue: asyncio.Queue[tuple[Message, Message]] = asyncio.Queue()
    _spectators.setdefault(stream, set()).add(queue)

    async def pump() -> None:
        while True:
            text, data = await queue.get()
            await send(text)
            await send(data)

    pumping = asyncio.create_task(pump())
    try:
        with contextlib.suppress(Exception):
            while (await receive())["type"] != "websocket.disconnect":
                pass
    finally:
        pumping.cancel()
        _spectators[stream].discard(queue)


async def _publish(stream: str, receive: Receive) -> None:
    pending: Message | None = None
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is not None:
            if text.upper().startswith("F:"):
                pending = {"type": "websocket.send", "text": text}
            elif text.upper() == "CLOSE":
                closing: Message = {"type": "websocket.send", "text": "CLOSE"}
                for queue in _spectators.get(stream, ()):
                    queue.put_nowait((closing, closing))
        elif pending is not None:
            # Built once per fragment, shared by every spectator, as the floor does.
            out: Message = {"type": "websocket.send", "bytes": message["bytes"]}
            for queue in _spectators.get(stream, ()):
                queue.put_nowait((pending, out))
            pending = None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server", choices=["granian", "uvicorn"], default="granian")
    args = parser.parse_args()
    if args.server == "granian":
        from granian import Granian
        from granian.constants import Interfaces
        from granian.log import LogLevels

        Granian("_asgi_fanout:app", address="127.0.0.1", port=args.port,
                interface=Interfaces.ASGI, log_level=LogLevels.warning, backlog=2048).serve()
    else:
        import uvicorn

        uvicorn.run("_asgi_fanout:app", host="127.0.0.1", port=args.port, log_level="warning",
                    access_log=False, ws_max_size=64 * 1024 * 1024)


if __name__ == "__main__":
    main()
