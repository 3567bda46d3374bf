"""Verified (subject, token) pairs are remembered until the token expires, bounded."""

from hlsd.auth.grants import GrantCache
from hlsd.infra.cache import Caches
from tests._support.clock import FakeClock


def test_a_grant_lasts_until_its_token_expires() -> None:
    clock = FakeClock(1000.0)
    grants: GrantCache[str] = GrantCache(now=clock)
    grants.put("live/cam", "tok", until=1010.0, value="ok")
    assert grants.get("live/cam", "tok") == "ok"
    assert grants.get("live/cam", "other") is None and grants.get("live/x", "tok") is None
    clock.now = 1009.9
    assert grants.get("live/cam", "tok") == "ok"
    clock.now = 1010.0  # the token's expiry: verified again from then on
    assert grants.get("live/cam", "tok") is None


def test_grants_are_bounded_and_reported_when_registered() -> None:
    clock = FakeClock(0.0)
    caches = Caches()
    grants: GrantCache[int] = GrantCache(now=clock, max_entries=2, caches=caches,
                                         name="hls-grants")
    for n in range(3):
        grants.put("s", f"t{n}", until=100.0, value=n)
    assert grants.get("s", "t0") is None and grants.get("s", "t2") == 2
    (reported,) = list(caches)
    assert (reported.name, len(reported), reported.evictions) == ("hls-grants", 2, 1)
