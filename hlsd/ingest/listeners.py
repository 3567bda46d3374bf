"""Starting the listeners besides the HTTP port (RTMP, SRT, the websocket CDN's) the way
the HTTP port starts.

A listener left at its default (``rtmp.listen: ":1935"``) is a convenience: when its
port is taken (another node on this machine, another server) or the protocol's library
is missing, one warning says so and hlsd runs without it. A listener the operator set
explicitly must start, or the server does not: a clear error, as for the HTTP port.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Listener", "ListenerFailed", "Listening", "parse_listen", "start_listener"]

log = logging.getLogger(__name__)


class Listener(Protocol):
    async def start(self, host: str, port: int) -> None: ...

    @property
    def port(self) -> int: ...

    async def close(self) -> None: ...


class ListenerFailed(RuntimeError):
    """An explicitly configured listener could not start."""


@dataclass(frozen=True, slots=True)
class Listening:
    """What a listener's setting asks for."""

    protocol: str
    """``rtmp``, ``srt`` or ``websocket``: the setting is ``<protocol>.listen``."""
    listen: str
    explicit: bool


def parse_listen(listen: str, default_host: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[v6]:PORT`` or ``:PORT`` (on `default_host`); ValueError else."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{listen!r} is not HOST:PORT")
    host = host.strip("[]") or default_host
    return host, int(port_text)


async def start_listener(listener: Listener, listening: Listening, *,
                         default_host: str, unavailable: type[Exception] | None = None,
                         ) -> bool:
    """Start `listener` as `listening` says; False when a default one could not (warned
    once), `ListenerFailed` when an explicit one could not. `unavailable`: the error a
    listener raises when its protocol cannot run here at all (a missing library)."""
    setting = f"{listening.protocol}.listen"
    host, port = parse_listen(listening.listen, default_host)
    try:
        await listener.start(host, port)
    except OSError as exc:
        why = f"{listening.protocol.upper()} cannot listen on {host}:{port}: {exc.strerror or exc}"
    except Exception as exc:
        if unavailable is None or not isinstance(exc, unavailable):
            raise
        why = f"{listening.protocol.upper()} is unavailable: {exc}"
    else:
        log.info("%s listening on %s:%d", listening.protocol.upper(), host,
                 listener.port)
        return True
    if listening.explicit:
        raise ListenerFailed(f"{why} (set {setting}, or null to turn it off)")
    log.warning("%s; running without it (set %s to choose another address, or null)",
                why, setting)
    return False
