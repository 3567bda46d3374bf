"""Per-address limits on connections (websockets) and requests in progress (HTTP): how
many at once, and how fast new ones may be opened (a token bucket). Exempt addresses are
plain IPs or CIDR ranges (hls-websocket-cdn's whitelist silently ignored plain IPs)."""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

_MAX_TRACKED = 100_000
"""Addresses whose bucket is remembered; full, idle buckets are dropped first."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConnectionLimits:
    def __init__(self, *, max_open: int, per_second: float, burst: int,
                 exempt: tuple[str, ...], clock: Callable[[], float] = time.monotonic) -> None:
        self._max_open = max_open
        self._rate = per_second
        self._capacity = float(max(burst, per_second, 1))
        self._clock = clock
        self._everyone_exempt = "*" in exempt
        self._exempt: list[Network] = []
        for entry in exempt:
            if entry == "*":
                continue
            try:
                self._exempt.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                log.warning("rate_limit_exempt: %r is not an address or range; ignored", entry)
        self._open: dict[str, int] = {}
        self._buckets: dict[str, tuple[float, float]] = {}  # address → (tokens, updated)

    def _is_exempt(self, address: str) -> bool:
        if self._everyone_exempt:
            return True
        if not self._exempt:
            return False  # the common case, without parsing an address per request
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._exempt)

    def admit(self, address: str) -> str | None:
        """None if `address` may open a connection (it then holds one until `release`),
        else why not."""
        if not self._is_exempt(address):
            if self._max_open and self._open.get(address, 0) >= self._max_open:
                return f"at most {self._max_open} connections per address"
            if self._rate and not self._take_token(address):
                return f"at most {self._rate:g} new connections per second per address"
        self._open[address] = self._open.get(address, 0) + 1
        return None

    def release(self, address: str) -> None:
        left = self._open.get(address, 0) - 1
        if left > 0:
            self._open[address] = left
        else:
            self._open.pop(address, None)

    def _take_token(self, address: str) -> bool:
        now = self._clock()
        tokens, updated = self._buckets.get(address, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - updated) * self._rate)
        if tokens < 1:
            self._buckets[address] = (tokens, now)
            return False
        self._buckets[address] = (tokens - 1, now)
        if len(self._buckets) > _MAX_TRACKED:
            self._forget_full(now)
        return True

    def _forget_full(self, now: float) -> None:
        for address, (tokens, updated) in list(self._buckets.items()):
            if tokens + (now - updated) * self._rate >= self._capacity:
                del self._buckets[address]
