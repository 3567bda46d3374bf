from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests._support.fragments import ts_fragments
from tests._support.hlsd_server import HlsdServer, free_port

TRANSPORTS = ("main", "listener")
"""Where a test's websockets connect: ``/ws`` on the main port (through the engine), or
hlsd's own websocket listener (``websocket.listen``)."""

_ws_urls: dict[int, str] = {}


@pytest.fixture(scope="session")
def fragments(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    return ts_fragments(tmp_path_factory.mktemp("fragments"))


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def cdn_server(config: dict[str, Any], transport: str, **kwargs: Any) -> HlsdServer:
    """An `HlsdServer` whose CDN websocket (`ws_url`) is on `transport`; the listener on
    a port of its own (never the default, which another test's node may hold)."""
    websocket = dict(config.get("websocket", {}))
    listen = free_port() if transport == "listener" else None
    websocket["listen"] = f"127.0.0.1:{listen}" if listen else None
    server = HlsdServer({**config, "websocket": websocket}, **kwargs)
    _ws_urls[server.port] = (f"ws://127.0.0.1:{listen}/ws" if listen
                             else f"ws://127.0.0.1:{server.port}/ws")
    return server


def ws_url(server: HlsdServer) -> str:
    """The CDN websocket of a `cdn_server` (``/ws`` on the main port for any other)."""
    return _ws_urls.get(server.port, server.url.replace("http://", "ws://") + "/ws")


def write_joined(fragments: list[bytes], path: Path) -> Path:
    path.write_bytes(b"".join(fragments))
    return path
