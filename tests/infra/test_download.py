import asyncio
import time
from pathlib import Path

import pytest

from hlsd.infra.bounded import TooLarge
from hlsd.infra.disk_budget import DiskBudget, DiskFull
from hlsd.infra.download import (
    DownloadFailed,
    DownloadNotFound,
    DownloadTimedOut,
    Fetched,
    Fetcher,
    Head,
    make_client,
)
from hlsd.infra.guarded_http import FetchRefused
from hlsd.infra.outbound import FetchPolicy
from tests._support.polling import eventually
from tests._support.servers import Upstream


def _fetcher(tmp: Path, *, deadline: float = 10, read: float = 5,
             budget: DiskBudget | None = None) -> Fetcher:
    client = make_client(connect_timeout=2, read_timeout=read, max_redirects=2)
    return Fetcher(client, tmp, deadline=deadline,
                   budget=budget or DiskBudget("tempdir", 10**9, enforced=True))


async def test_fetches_a_whole_body_at_the_url_as_given(tmp_path: Path) -> None:
    with Upstream() as up:
        up.add_bytes("/m/a b/c", b"media-bytes")
        fetched = await _fetcher(tmp_path).fetch(f"{up.url}/m/a%20b%2Fc", max_bytes=100)
        assert fetched is not None and fetched.path.read_bytes() == b"media-bytes"
        assert up.requests[0].raw_path == "/m/a%20b%2Fc"


async def test_status_and_size_failures_leave_no_temp_files(tmp_path: Path) -> None:
    budget = DiskBudget("tempdir", 10**9, enforced=True)
    fetcher = _fetcher(tmp_path, budget=budget)
    with Upstream() as up:
        up.add_status("/404", 404)
        up.add_status("/500", 500)
        up.add_bytes("/big", b"x" * 5000)
        up.add_endless("/endless")
        with pytest.raises(DownloadNotFound):
            await fetcher.fetch(f"{up.url}/404", max_bytes=100)
        assert await fetcher.fetch(f"{up.url}/404", max_bytes=100, optional=True) is None
        with pytest.raises(DownloadFailed, match="500"):
            await fetcher.fetch(f"{up.url}/500", max_bytes=100)
        with pytest.raises(TooLarge, match="the media is larger than 100 bytes"):
            await fetcher.fetch(f"{up.url}/big", max_bytes=100, what="the media")
        with pytest.raises(TooLarge, match="larger"):  # no length declared: counted
            await fetcher.fetch(f"{up.url}/endless", max_bytes=300_000)
    assert list(tmp_path.iterdir()) == []
    assert budget.used == 0


async def test_slow_and_unreachable_upstreams(tmp_path: Path) -> None:
    with Upstream() as up:
        up.add_delay("/slow", 5)
        up.add_drip("/drip", b"x" * 1000, chunk=10, interval=0.2)
        with pytest.raises(DownloadTimedOut):
            await _fetcher(tmp_path, read=0.5).fetch(f"{up.url}/slow", max_bytes=100)
        with pytest.raises(DownloadTimedOut):
            await _fetcher(tmp_path, deadline=1.0).fetch(f"{up.url}/drip", max_bytes=10_000)
        port = up.port
    with pytest.raises(DownloadFailed, match="unreachable"):
        await _fetcher(tmp_path).fetch(f"http://127.0.0.1:{port}/gone", max_bytes=100)
    assert list(tmp_path.iterdir()) == []


async def test_the_temp_dir_ceiling_stops_a_download(tmp_path: Path) -> None:
    budget = DiskBudget("tempdir", 1000, enforced=True)
    with Upstream() as up:
        up.add_bytes("/a", b"x" * 5000)
        with pytest.raises(DiskFull):
            await _fetcher(tmp_path, budget=budget).fetch(f"{up.url}/a", max_bytes=10**6)
    assert budget.used == 0 and list(tmp_path.iterdir()) == []


async def test_cancelled_fetch_cleans_up(tmp_path: Path) -> None:
    with Upstream() as up:
        up.add_drip("/drip", b"x" * 100_000, chunk=1000, interval=0.05)
        task = asyncio.ensure_future(_fetcher(tmp_path).fetch(f"{up.url}/drip",
                                                              max_bytes=10**6))
        await eventually(lambda: any(tmp_path.iterdir()))  # the download is under way
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert list(tmp_path.iterdir()) == []


async def test_a_cancel_stops_a_stalled_download_at_once(tmp_path: Path) -> None:
    # the thread sits in a socket read that would last seconds: the cancel cuts it
    budget = DiskBudget("tempdir", 10**9, enforced=True)
    with Upstream() as up:
        up.add_drip("/stall", b"x" * 10_000, chunk=1000, interval=5.0)
        task = asyncio.ensure_future(_fetcher(tmp_path, read=10, budget=budget).fetch(
            f"{up.url}/stall", max_bytes=10**6))
        await eventually(lambda: budget.used == 1000)  # the first chunk is in
        assert len(list(tmp_path.iterdir())) == 1
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 0.5
        assert budget.used == 0 and list(tmp_path.iterdir()) == []


async def test_the_deadline_cuts_a_stalled_read(tmp_path: Path) -> None:
    with Upstream() as up:
        up.add_drip("/stall", b"x" * 10_000, chunk=1000, interval=5.0)
        up.add_delay("/late", 5.0)
        for path in ("/stall", "/late"):
            started = time.monotonic()
            with pytest.raises(DownloadTimedOut):
                await _fetcher(tmp_path, deadline=0.5, read=10).fetch(f"{up.url}{path}",
                                                                      max_bytes=10**6)
            assert time.monotonic() - started < 1.5
    assert list(tmp_path.iterdir()) == []


async def test_concurrent_downloads_share_the_budget_exactly(tmp_path: Path) -> None:
    body = bytes(range(256)) * 1200  # 300 KB
    budget = DiskBudget("tempdir", 1_000_000, enforced=True)  # room for three
    fetcher = _fetcher(tmp_path, budget=budget)
    with Upstream() as up:
        up.add_bytes("/a", body)
        results = await asyncio.gather(
            *(fetcher.fetch(f"{up.url}/a", max_bytes=10**6) for _ in range(8)),
            return_exceptions=True)
    done = [r for r in results if isinstance(r, Fetched)]
    refused = [r for r in results if isinstance(r, DiskFull)]
    assert len(done) + len(refused) == 8 and 1 <= len(done) <= 3
    assert budget.used == len(body) * len(done)
    assert all(r.path.read_bytes() == body for r in done)
    for r in done:
        fetcher.release(r)
    assert budget.used == 0 and list(tmp_path.iterdir()) == []


async def test_a_head_from_an_upstream_that_honours_ranges(tmp_path: Path) -> None:
    body = bytes(range(256)) * 40
    with Upstream() as up:
        up.add_bytes("/a", body, headers={"ETag": '"v1"'})
        head = await _fetcher(tmp_path).fetch_head(f"{up.url}/a", max_bytes=10**6, head=1000)
        assert isinstance(head, Head)
        assert (head.size, head.data, head.validator) == (len(body), body[:1000], '"v1"')
        assert up.requests[-1].header("range") == "bytes=0-999"
        with pytest.raises(TooLarge, match="larger"):  # the total in Content-Range
            await _fetcher(tmp_path).fetch_head(f"{up.url}/a", max_bytes=5000, head=1000)
        whole = await _fetcher(tmp_path).fetch_head(f"{up.url}/a", max_bytes=10**6,
                                                    head=len(body))
        assert isinstance(whole, Fetched) and whole.path.read_bytes() == body
        whole.path.unlink()
    assert list(tmp_path.iterdir()) == []


async def test_a_head_falls_back_to_the_whole_body_in_the_same_request(tmp_path: Path) -> None:
    body = b"y" * 50_000
    with Upstream() as up:
        up.add_drip("/no-ranges", body, chunk=10_000, interval=0.0)  # 200, ignores Range
        up.add_bytes("/empty", b"")  # 416 for any range
        up.add_status("/missing", 404)
        got = await _fetcher(tmp_path).fetch_head(f"{up.url}/no-ranges", max_bytes=10**6,
                                                  head=1000)
        assert isinstance(got, Fetched) and got.path.read_bytes() == body
        assert up.count("/no-ranges") == 1
        empty = await _fetcher(tmp_path).fetch_head(f"{up.url}/empty", max_bytes=10**6,
                                                    head=1000)
        assert isinstance(empty, Fetched) and empty.size == 0
        with pytest.raises(DownloadNotFound):
            await _fetcher(tmp_path).fetch_head(f"{up.url}/missing", max_bytes=100, head=10)


async def test_a_fetcher_over_the_guarded_client_refuses_and_shares_the_budget(
        tmp_path: Path) -> None:
    budget = DiskBudget("tempdir", 10**9, enforced=True)
    trusted = _fetcher(tmp_path, budget=budget)
    guarded = trusted.using(make_client(connect_timeout=2, read_timeout=5, max_redirects=2,
                                        policy=FetchPolicy()))
    with Upstream() as up:
        up.add_bytes("/m/a", b"media-bytes")
        with pytest.raises(FetchRefused, match="loopback"):
            await guarded.fetch(f"{up.url}/m/a", max_bytes=100)
        assert up.requests == [] and budget.used == 0
        fetched = await trusted.fetch(f"{up.url}/m/a", max_bytes=100)  # the operator's URL
        assert fetched is not None and budget.used == len(b"media-bytes")
        guarded.release(fetched)  # one budget: either fetcher gives it back
        assert budget.used == 0
