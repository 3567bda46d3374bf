"""uvicorn: the engine for websocket fan-out nodes (a shorter tail at 1,000 spectators).

uvicorn has no header-read deadline: a connection that never finishes its headers (or
never sends a byte) is held for as long as the client likes. `GuardedHttpTools` adds
one, from the connection's start and from the first byte of each later request; the
idle time between requests is uvicorn's own keep-alive timeout.

With ``tls:`` uvicorn serves HTTPS and ``wss://``, HTTP/1.1 only (it has no HTTP/2).
The header deadline then starts once the TLS handshake is done; the handshake itself
is bounded by asyncio's own 60 s.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

from hlsd.config import Settings
from hlsd.engines import TARGET

log = logging.getLogger(__name__)

TLS_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
"""TLS 1.2 suites: the forward-secret AEAD ones, those granian's rustls offers, whatever
uvicorn's version defaults to (older ones took any suite OpenSSL calls TLSv1). TLS 1.3
has its own suites, all of that kind."""


class HlsdUvicornConfig(uvicorn.Config):
    """uvicorn's config plus the header-read deadline, which reaches every worker
    process with the config itself."""

    def __init__(self, app: str, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.header_timeout = header_timeout


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on each request's headers."""

    alpn_protocols = ["http/1.1"]
    """What TLS offers a client in ALPN (read by uvicorn's TLS set-up, where it has one):
    a client that offers HTTP/2 too is told plainly that this is HTTP/1.1."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self._header_timeout: float = getattr(config, "header_timeout", 10.0)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_header_timer()  # the next request on a kept-alive connection

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self._header_timeout,
                                                      self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


WORKER_HEALTHCHECK = 30
"""Seconds a worker process may take to answer the supervisor's ping."""


def run_uvicorn(settings: Settings, log_config: dict[str, Any]) -> None:
    http, tls = settings.http, settings.tls
    if tls.enabled and tls.http2:
        log.warning("uvicorn serves HTTP/1.1 only: HTTP/2, which Apple's players need for "
                    "LL-HLS, needs server: granian")
    config = HlsdUvicornConfig(
        TARGET, factory=True, host=settings.host, port=settings.port,
        workers=settings.workers, log_level=settings.log_level, log_config=log_config,
        access_log=False, http=GuardedHttpTools, header_timeout=http.header_timeout,
        timeout_keep_alive=max(1, math.ceil(http.keep_alive_timeout)),
        # hlsd decides who the client is (trusted_proxies), the same on every engine:
        # uvicorn's own reading of X-Forwarded-For is off.
        proxy_headers=False,
        # A websocket fragment may be as large as the CDN allows, no larger.
        ws_max_size=settings.websocket.max_binary_message + 4096,
        ssl_certfile=tls.cert, ssl_keyfile=tls.key, ssl_ciphers=TLS_CIPHERS,
        # A worker still importing on a busy machine is not hung: 5 s (uvicorn's default)
        # had it killed and started again, which a busy machine makes slower still.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK)
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.Server(config).run()
