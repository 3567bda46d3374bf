"""`hlsd check` on Low-Latency HLS, in process, against a scripted LL origin on a real
HTTP server (`tests/_support/ll_origin.py`): blocking reloads, parts and preload hints,
delta updates, and where each finding lands. hlsd's own LL server is checked end to end
elsewhere."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from hlsd.client.checker import Checker, CheckOptions
from hlsd.client.checker_lowlatency import directive_url, directives_of
from hlsd.client.checker_report import Finding, Report
from hlsd.client.cli_check import finding_line
from hlsd.hls.check import DeliveryDirectives, SkipRequest, Violation
from tests._support.clock import FakeClock
from tests._support.ll_origin import Faults, LowLatencyOrigin


def checker(**options: Any) -> Checker:
    clock = FakeClock()

    async def sleep(seconds: float) -> None:  # polled reloads: time only moves on
        clock.advance(seconds)

    return Checker(CheckOptions(**options), sleep=sleep, clock=clock)


def findings(report: Report) -> list[tuple[str, int]]:
    """(rule, fetch) of every finding."""
    return [(f.violation.rule, f.fetch) for p in report.playlists for f in p.findings]


def playlist_queries(origin: LowLatencyOrigin) -> list[str]:
    return [r.query for r in origin.upstream.requests if r.path == "/ll/index.m3u8"]


@pytest.fixture
def origin() -> Iterator[LowLatencyOrigin]:
    with LowLatencyOrigin() as server:
        yield server


async def test_a_good_stream_is_reloaded_blocking_part_by_part(
        origin: LowLatencyOrigin) -> None:
    report = await checker(reloads=3).check(origin.url("index.m3u8"))
    assert findings(report) == []
    (playlist,) = report.playlists
    assert (playlist.live, playlist.low_latency, playlist.fetches) == (True, True, 5)
    # Segment 108 has two parts out: the next ones are asked for, then the first part of
    # segment 109 once 108 is whole, then a delta update with the part after that.
    assert playlist_queries(origin) == [
        "", "_HLS_msn=108&_HLS_part=2", "_HLS_msn=108&_HLS_part=3",
        "_HLS_msn=109&_HLS_part=0", "_HLS_msn=109&_HLS_part=1&_HLS_skip=YES"]
    # The newest part at first, then each hinted part, asked for with each reload.
    parts = [r.path for r in origin.upstream.requests if r.path.startswith("/ll/part")]
    assert parts == ["/ll/part108.1.mp4", "/ll/part108.2.mp4", "/ll/part108.3.mp4",
                     "/ll/part109.0.mp4"]
    assert playlist.parts == 4


async def test_the_query_of_the_url_given_is_kept_in_order(origin: LowLatencyOrigin) -> None:
    report = await checker(reloads=1).check(origin.url("index.m3u8?token=abc&_HLS_msn=1"))
    assert findings(report) == []
    assert playlist_queries(origin) == [
        "token=abc&_HLS_msn=1", "_HLS_msn=108&_HLS_part=2&token=abc",
        "_HLS_msn=108&_HLS_part=3&_HLS_skip=YES&token=abc"]


def test_directives_go_into_the_query_in_utf8_order() -> None:
    asked = DeliveryDirectives(msn=7, part=0, skip=SkipRequest.V2)
    assert directive_url("http://h/a.m3u8", asked) == (
        "http://h/a.m3u8?_HLS_msn=7&_HLS_part=0&_HLS_skip=v2")
    assert directive_url("http://h/a.m3u8?token=x%20y&A=1&_HLS_skip=YES",
                         DeliveryDirectives(msn=7)) == (
        "http://h/a.m3u8?A=1&_HLS_msn=7&token=x%20y")


def test_the_directives_of_a_url_are_read() -> None:
    assert directives_of("http://h/a.m3u8?token=x&_HLS_part=2&_HLS_msn=7&_HLS_skip=v2") == (
        DeliveryDirectives(msn=7, part=2, skip=SkipRequest.V2))
    assert directives_of("http://h/a.m3u8?_HLS_part=2&_HLS_skip=no") == DeliveryDirectives()


async def test_a_url_given_that_asks_for_a_delta_gets_one(origin: LowLatencyOrigin) -> None:
    report = await checker(reloads=1).check(origin.url("index.m3u8?_HLS_skip=YES"))
    assert findings(report) == []  # a delta update answers it: no skip-unrequested
    assert playlist_queries(origin)[:2] == ["_HLS_skip=YES", "_HLS_msn=108&_HLS_part=2"]


async def test_reloads_are_bounded(origin: LowLatencyOrigin) -> None:
    report = await checker(reloads=1).check(origin.url("index.m3u8"))
    assert report.playlists[0].fetches == 3  # the first load, one blocking, one delta
    assert len(playlist_queries(origin)) == 3


async def test_a_server_that_does_not_block_is_found() -> None:
    with LowLatencyOrigin(Faults(blocking=False)) as origin:
        report = await checker(reloads=2).check(origin.url("index.m3u8"))
    # The same part asked for twice, answered early twice: one finding. The delta
    # request that follows asks for it a third time.
    assert findings(report) == [("blocking-reload-early", 2)]
    assert report.playlists[0].findings[0].violation.message == (
        "a blocking reload asked for MSN 108 part 2 but was answered with a playlist "
        "that ends at MSN 108 part 1")


async def test_a_live_edge_that_goes_back_is_found() -> None:
    with LowLatencyOrigin(Faults(rewind_at=2)) as origin:
        report = await checker(reloads=2).check(origin.url("index.m3u8"))
    assert ("last-part-decreased", 3) in findings(report)
    assert ("blocking-reload-early", 3) in findings(report)


async def test_a_hinted_part_that_fails_once_listed_is_found() -> None:
    with LowLatencyOrigin(Faults(hint_status=404)) as origin:
        report = await checker(reloads=1).check(origin.url("index.m3u8"))
    assert findings(report) == [("preload-hint-unavailable", 2)]
    violation = report.playlists[0].findings[0].violation
    assert violation.message == ("the hinted part part108.2.mp4 answered HTTP 404, but the "
                                 "playlist now lists it")
    assert violation.line is not None


async def test_a_part_listed_that_is_not_there_is_found() -> None:
    with LowLatencyOrigin(Faults(part_status=404, hint_status=404)) as origin:
        report = await checker(reloads=1).check(origin.url("index.m3u8"))
    assert findings(report) == [("part-unavailable", 1), ("preload-hint-unavailable", 2)]


async def test_a_hint_not_fulfilled_is_found() -> None:
    with LowLatencyOrigin(Faults(hint_prefix="next")) as origin:
        report = await checker(reloads=2).check(origin.url("index.m3u8"))
    # At each reload, and at the delta request.
    assert findings(report) == [("preload-hint-unfulfilled", fetch) for fetch in (2, 3, 4)]


async def test_a_server_that_ignores_skip_is_found() -> None:
    with LowLatencyOrigin(Faults(delta=False)) as origin:
        report = await checker(reloads=1).check(origin.url("index.m3u8"))
    assert findings(report) == [("delta-update-missing", 3)]


async def test_a_low_latency_playlist_that_cannot_block_is_polled() -> None:
    with LowLatencyOrigin(Faults(can_block=False)) as origin:
        report = await checker(reloads=2).check(origin.url("index.m3u8"))
    # The stream never moves (nothing asks for a part), which polling reports; the delta
    # update is asked for without blocking.
    assert findings(report) == [("can-block-reload-missing", 1), ("live-stalled", 3)]
    assert playlist_queries(origin) == ["", "", "", "_HLS_skip=YES"]
    assert not report.playlists[0].low_latency


async def test_the_script_running_out_is_a_503_reported(origin: LowLatencyOrigin) -> None:
    origin.last = origin.published + 1  # one more part, then nothing
    report = await checker(reloads=2).check(origin.url("index.m3u8"))
    assert ("playlist-unavailable", 3) in findings(report)


async def test_a_held_hint_is_no_fault_when_its_part_is_not_listed() -> None:
    # The blocking reload answers before the hinted part is out (the origin never
    # publishes it): the held request is let go.
    with LowLatencyOrigin(Faults(blocking=False)) as origin:
        started = asyncio.get_running_loop().time()
        report = await checker(reloads=1).check(origin.url("index.m3u8"))
        assert asyncio.get_running_loop().time() - started < 5  # not held to its end
    assert "preload-hint-unavailable" not in {rule for rule, _ in findings(report)}


def test_a_low_latency_finding_names_its_document() -> None:
    finding = Finding("http://h/a.m3u8", Violation("blocking-reload-early", "early"), fetch=3)
    assert finding_line(finding) == (
        "http://h/a.m3u8: error: early (rfc8216bis §6.2.5.2) [blocking-reload-early, reload 2]")
    assert finding.as_json()["reference"] == "rfc8216bis §6.2.5.2"
    apple = Finding("http://h/a.m3u8", Violation("can-block-reload-missing", "no", 5))
    assert finding_line(apple) == (
        "http://h/a.m3u8:5: error: no (Apple LL-HLS) [can-block-reload-missing]")
