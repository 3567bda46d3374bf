"""hls-websocket-cdn's environment variables, read as aliases of hlsd's own keys, so its
docker-compose set-ups carry over one to one. hlsd's own keys stay the primary
interface: `config.Settings` ranks these below the ``HLSD_*`` variables and above the
config file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

_TRUE = ("yes", "true")
_FALSE = ("no", "false")

_SIMPLE = {
    "PUSH_SECRET": ("websocket", "push_secret"),
    "PULL_SECRET": ("websocket", "pull_secret"),
    "WEBSOCKET_PREFIX": ("websocket", "path"),
    "FRAGMENT_BUFFER_MAX_LENGTH": ("websocket", "fragment_buffer"),
    "MAX_BINARY_MESSAGE_SIZE": ("websocket", "max_binary_message"),
    "EXTERNAL_WEBSOCKET_URL": ("cluster", "external_url"),
    "PUB_REG_REFRESH_INTERVAL_SECONDS": ("cluster", "refresh_interval"),
    "RELAY_INACTIVITY_PERIOD_SEC": ("cluster", "relay_inactivity"),
}


def _flag(value: str | None) -> bool | None:
    if value is None or not value.strip():
        return None
    lowered = value.strip().lower()
    return True if lowered in _TRUE else False if lowered in _FALSE else None


def original_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings the original's variables in `environ` stand for (nested like the
    config file). Unset or empty variables say nothing, as the original's defaults."""
    out: dict[str, dict[str, Any]] = {}

    def put(section: str, key: str, value: Any) -> None:
        out.setdefault(section, {})[key] = value

    for name, (section, key) in _SIMPLE.items():
        value = environ.get(name)
        if value:
            put(section, key, value)
    if _flag(environ.get("PUB_REG_REDIS_ENABLED")):
        scheme = "rediss" if _flag(environ.get("PUB_REG_REDIS_USE_TLS")) else "redis"
        password = environ.get("PUB_REG_REDIS_PASSWORD", "")
        auth = f":{quote(password, safe='')}@" if password else ""
        host = environ.get("PUB_REG_REDIS_HOST") or "127.0.0.1"
        port = environ.get("PUB_REG_REDIS_PORT") or "6379"
        put("cluster", "redis_url", f"{scheme}://{auth}{host}:{port}/0")
    if _flag(environ.get("RELAY_FROM_ENABLED")) and environ.get("RELAY_FROM_URL"):
        put("cluster", "relay_from", environ["RELAY_FROM_URL"])
    if _flag(environ.get("RATE_LIMIT_ENABLED")):
        if environ.get("RATE_LIMIT_CONNECTIONS"):
            put("websocket", "max_connections_per_ip", environ["RATE_LIMIT_CONNECTIONS"])
        if environ.get("RATE_LIMIT_REQ_PER_SEC"):
            put("websocket", "connects_per_second", environ["RATE_LIMIT_REQ_PER_SEC"])
        if environ.get("RATE_LIMIT_REQ_BURST"):
            put("websocket", "connect_burst", environ["RATE_LIMIT_REQ_BURST"])
        whitelist = [part.strip() for part in environ.get("RATE_LIMIT_WHITELIST", "").split(",")]
        if any(whitelist):
            put("websocket", "rate_limit_exempt", [part for part in whitelist if part])
    return out
