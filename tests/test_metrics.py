"""`/metrics` reads every registered cache at scrape time, whenever it was made."""

from pathlib import Path

from hlsd.infra.cache import Cache
from hlsd.infra.disk_budget import DiskBudget
from hlsd.infra.disk_cache import DiskLRU
from hlsd.metrics import Metrics


def _value(text: str, line: str) -> float:
    found = [row for row in text.splitlines() if row.startswith(line + " ")]
    assert found, line
    return float(found[0].rsplit(" ", 1)[1])


def test_every_registered_cache_is_in_the_scrape(tmp_path: Path) -> None:
    metrics = Metrics()
    assert b'cache="hot"' not in metrics.render()
    hot: Cache[str, bytes] = metrics.caches.new("hot", max_entries=2, max_bytes=100, size=len)
    disk = metrics.caches.add(DiskLRU(tmp_path / "d", name="disk", max_bytes=50,
                                      max_entries=5))
    budget = metrics.caches.budget(DiskBudget("tempdir", 1000, enforced=True))
    for key in "abc":
        hot.put(key, b"x" * 10)
    (tmp_path / "f").write_bytes(b"y" * 7)
    disk.put("k", tmp_path / "f")
    budget.reserve(300)
    text = metrics.render().decode()
    assert _value(text, 'hlsd_cache_bytes{cache="hot"}') == 20
    assert _value(text, 'hlsd_cache_entries{cache="hot"}') == 2
    assert _value(text, 'hlsd_cache_evictions_total{cache="hot"}') == 1
    assert _value(text, 'hlsd_cache_limit_bytes{cache="hot"}') == 100
    assert _value(text, 'hlsd_cache_limit_entries{cache="hot"}') == 2
    assert _value(text, 'hlsd_cache_bytes{cache="disk"}') == 7
    assert _value(text, 'hlsd_cache_entries{cache="disk"}') == 1
    assert _value(text, 'hlsd_cache_bytes{cache="tempdir"}') == 300
    assert _value(text, 'hlsd_cache_limit_bytes{cache="tempdir"}') == 1000
