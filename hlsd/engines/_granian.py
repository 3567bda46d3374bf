"""granian: the default engine (fastest at serving segments and playlists), and the one
that speaks HTTP/2 (with ``tls:``)."""

from __future__ import annotations

from typing import Any

from granian import Granian
from granian.constants import HTTPModes, Interfaces, SSLProtocols
from granian.http import HTTP1Settings, HTTP2Settings
from granian.log import LogLevels

from hlsd.config import Settings
from hlsd.engines import TARGET

__all__ = ["http2_settings", "http_mode", "run_granian"]


def http2_settings() -> HTTP2Settings:
    """HTTP/2 connections (granian with ``tls.http2``); flow-control windows and send
    buffers stay granian's (1 MiB and 400 KiB per stream)."""
    return HTTP2Settings(
        # LL-HLS holds a blocking playlist reload and a preload hint or two per rendition
        # open at once; RFC 9113 recommends allowing no fewer than 100, and
        # `http.max_requests_per_ip` bounds a client's requests over all its connections.
        max_concurrent_streams=100,
        # granian's default is 16 MiB of headers per request; hlsd's longest header
        # values are a token or a query of a few kilobytes.
        max_headers_size=64 * 1024,
        # HTTP/2 has no idle deadline (hyper has none to give): a connection whose client
        # went away unheard (a phone changing networks) is found by a PING sent after
        # 30 s without a frame from it and unanswered for 20 s. Players answer PINGs on
        # their own and send requests every target duration, so this costs them nothing.
        keep_alive_interval=30_000,  # milliseconds
        keep_alive_timeout=20,  # seconds
    )


def http_mode(settings: Settings) -> HTTPModes:
    """HTTP/1 unless TLS lets ALPN choose.

    In "auto" mode granian reads the first bytes of a connection to tell HTTP/1 from
    HTTP/2 (hyper-util's auto connection, whatever ALPN said), with no deadline: the
    header-read deadline starts only after them (hyperium/hyper#3962). Without TLS no
    player speaks HTTP/2 anyway (h2c), so a connection that never sends a byte must
    meet the HTTP/1 deadline. With TLS the same wait follows the handshake, which is
    what ``tls.http2: false`` is for; granian's TLS layer bounds the handshake itself
    (10 s).
    """
    tls = settings.tls
    return HTTPModes.auto if tls.enabled and tls.http2 else HTTPModes.http1


def run_granian(settings: Settings, log_config: dict[str, Any]) -> None:
    # hyper's header-read timeout also ends an idle keep-alive connection (it runs from
    # the end of one response until the next request's headers), so it is the shorter
    # of the two deadlines here.
    http, tls = settings.http, settings.tls
    deadline = min(http.header_timeout, http.keep_alive_timeout)
    Granian(
        TARGET, factory=True,
        address=settings.host, port=settings.port, interface=Interfaces.ASGI,
        http=http_mode(settings),
        # A worker that dies is started again (uvicorn does so too): with several, the
        # node goes on serving (`hlsd.node`).
        workers=settings.workers, backlog=2048, respawn_failed_workers=True,
        http1_settings=HTTP1Settings(header_read_timeout=int(deadline * 1000)),
        http2_settings=http2_settings(),
        ssl_cert=tls.cert, ssl_key=tls.key,
        # TLS 1.2 too (granian's default is 1.3 only): the TVs and older Android devices
        # that play HLS; rustls offers only forward-secret AEAD suites on either.
        ssl_protocol_min=SSLProtocols.tls12,
        log_level=LogLevels(settings.log_level), log_dictconfig=log_config,
    ).serve()
