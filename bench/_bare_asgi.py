"""A bare ASGI app, no framework: the ceiling of Python HTTP serving on this machine.

``serving.py`` runs it as a reference row: the same files, the same ASGI server, but no
FastAPI/Starlette, no token check, bodies held in memory (segments sent with
``http.response.pathsend`` where the server offers it). hlsd cannot beat it; the gap
between the two is what hlsd's own request path costs.

    python bench/_bare_asgi.py --root DIR --port P [--server granian|uvicorn] [--workers N]

serves every file under DIR at ``/<relative path>``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

ROOT_ENV = "BENCH_BARE_ASGI_ROOT"
SEGMENTS_ENV = "BENCH_BARE_ASGI_SEGMENTS"  # "pathsend" (default) or "memory"
_TYPES = {".ts": b"video/mp2t", ".m3u8": b"application/vnd.apple.mpegurl"}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_files: dict[str, tuple[str, bytes, list[tuple[bytes, bytes]]]] = {}


def _load(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            body = path.read_bytes()
            headers = [(b"content-type", _TYPES.get(path.suffix, b"application/octet-stream")),
                       (b"content-length", str(len(body)).encode())]
            _files["/" + path.relative_to(root).as_posix()] = (str(path), body, headers)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _load(Path(os.environ[ROOT_ENV]))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    entry = _files.get(scope["path"])
    if entry is None:
        await send({"type": "http.response.start", "status": 404,
                    "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
        return
    path, body, headers = entry
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if (path.endswith(".ts") and os.environ.get(SEGMENTS_ENV) != "memory"
            and "http.response.pathsend" in scope.get("extensions", {})):
        await send({"type": "http.response.pathsend", "path": path})
    else:
        await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server", choices=["granian", "uvicorn"], default="granian")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--segments", choices=["pathsend", "memory"], default="pathsend")
    args = parser.parse_args()
    os.environ[ROOT_ENV] = str(args.root.resolve())
    os.environ[SEGMENTS_ENV] = args.segments
    if args.server == "granian":
        from granian import Granian
        from granian.constants import Interfaces
        from granian.log import LogLevels

        Granian("_bare_asgi:app", address="127.0.0.1", port=args.port,
                interface=Interfaces.ASGI, workers=args.workers, log_level=LogLevels.warning,
                backlog=2048).serve()
    else:
        import uvicorn

        uvicorn.run("_bare_asgi:app", host="127.0.0.1", port=args.port,
                    workers=args.workers, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
