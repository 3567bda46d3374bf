from __future__ import annotations

from hlsd.infra.limits import ConnectionLimits
from tests._support.clock import FakeClock


def test_open_connections_per_address() -> None:
    limits = ConnectionLimits(max_open=2, per_second=0, burst=0, exempt=())
    assert limits.admit("10.0.0.1") is None and limits.admit("10.0.0.1") is None
    assert "at most 2 connections" in (limits.admit("10.0.0.1") or "")
    assert limits.admit("10.0.0.2") is None  # another address is not affected
    limits.release("10.0.0.1")
    assert limits.admit("10.0.0.1") is None


def test_new_connections_per_second_with_a_burst() -> None:
    clock = FakeClock(0.0)
    limits = ConnectionLimits(max_open=0, per_second=2, burst=4, exempt=(), clock=clock)
    assert [limits.admit("1.2.3.4") for _ in range(5)][:4] == [None] * 4
    assert limits.admit("1.2.3.4") is not None
    clock.now += 1.0  # two more tokens
    assert limits.admit("1.2.3.4") is None and limits.admit("1.2.3.4") is None
    assert limits.admit("1.2.3.4") is not None


def test_exempt_addresses_and_ranges_plain_ips_included() -> None:
    limits = ConnectionLimits(max_open=1, per_second=0, burst=0,
                              exempt=("127.0.0.1", "10.0.0.0/8", "not-an-ip"))
    for address in ("127.0.0.1", "10.1.2.3"):
        assert limits.admit(address) is None and limits.admit(address) is None
    assert limits.admit("192.168.0.1") is None and limits.admit("192.168.0.1") is not None
    everyone = ConnectionLimits(max_open=1, per_second=0, burst=0, exempt=("*",))
    assert everyone.admit("8.8.8.8") is None and everyone.admit("8.8.8.8") is None
