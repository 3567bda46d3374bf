"""Running the ASGI app on a server engine (granian or uvicorn), with the connection
bounds of `http:` applied the same way on both, and a port that is already taken
refused before either starts.

Connection bounds split by where they can live: a header-read deadline and an idle
keep-alive deadline belong to the engine (it alone sees a connection before its first
request); requests in progress per address and the body deadline are middleware
(`infra.admission`), the same on both engines.

With ``tls:``, both engines serve HTTPS and ``wss://`` themselves, its files checked
first (`check_tls_files`); granian also HTTP/2, chosen by ALPN, uvicorn HTTP/1.1 only.
"""

from __future__ import annotations

import errno
import logging
import resource
import socket
from typing import Any

from hlsd.config import ServerEngine, Settings
from hlsd.engines._tls import TlsFilesError, check_tls_files

__all__ = ["PortInUse", "TlsFilesError", "check_tls_files", "ensure_port_free", "serve"]

log = logging.getLogger(__name__)

TARGET = "hlsd.app:app_from_environment"
"""The app factory each worker process calls (settings from ``HLSD_CONFIG``)."""


class PortInUse(Exception):
    """The address to listen on is taken: by another hlsd, or anything else."""


def ensure_port_free(host: str, port: int) -> None:
    """Raise `PortInUse` if something listens on (`host`, `port`).

    granian binds with SO_REUSEPORT, so a second server on a taken port starts "ready"
    and the kernel splits requests between two servers holding different data. Binding
    here without SO_REUSEPORT fails while anything listens there, whatever its options.
    """
    if port == 0:
        return
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise PortInUse(f"cannot listen on {host}:{port}: {exc}") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(
                    f"port {port} on {host} is already in use (another hlsd, or another "
                    "server); stop it, or choose another port (--port, or port: in the "
                    "config)") from None
            raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def serve(settings: Settings, log_config: dict[str, Any]) -> None:
    """Run the server until it is stopped; `PortInUse` before anything starts."""
    ensure_port_free(settings.host, settings.port)
    _raise_open_files_limit()
    if settings.server is ServerEngine.GRANIAN:
        from hlsd.engines._granian import run_granian

        run_granian(settings, log_config)
    else:
        from hlsd.engines._uvicorn import run_uvicorn

        run_uvicorn(settings, log_config)


def _raise_open_files_limit() -> None:
    """Every connection is a file descriptor: take what the hard limit allows, so a
    burst of connections meets the limits above, not EMFILE for everyone."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.debug("open files limit stays at %d: %s", soft, exc)
