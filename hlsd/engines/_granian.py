"""granian: the default engine (fastest at serving segments and playlists)."""

from __future__ import annotations

from typing import Any

from granian import Granian
from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.log import LogLevels

from hlsd.config import Settings
from hlsd.engines import TARGET


def run_granian(settings: Settings, log_config: dict[str, Any]) -> None:
    # hyper's header-read timeout also ends an idle keep-alive connection (it runs from
    # the end of one response until the next request's headers), so it is the shorter
    # of the two deadlines here. HTTP/1 only: in "auto" mode granian first waits, with
    # no deadline, for the bytes that tell HTTP/1 from HTTP/2, so a connection that
    # never sends one is held forever (players speak HTTP/2 only over TLS, which a
    # proxy in front terminates).
    http = settings.http
    deadline = min(http.header_timeout, http.keep_alive_timeout)
    Granian(
        TARGET, factory=True,
        address=settings.host, port=settings.port, interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        workers=settings.workers, backlog=2048,
        http1_settings=HTTP1Settings(header_read_timeout=int(deadline * 1000)),
        log_level=LogLevels(settings.log_level), log_dictconfig=log_config,
    ).serve()
