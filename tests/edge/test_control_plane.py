"""Two real control nodes form one control plane (one PostgreSQL database, one Redis
registry, one object store) and a real ``hlsd edge`` dials one of them, with ffmpeg
publishing to the edge as LiveMix's README runs it: the source is defined and switched
on the other control; viewers on both play live; the edge's control is killed -9 and
comes back; a recording started on the other control reaches back into the edge's cache
across that restart and replays on both; switching streaming off there stops the
forwarding."""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from hlsd.cluster import edge_protocol as wire
from hlsd.hls.check import assert_valid
from tests._support.hlsd_server import HlsdEdge, HlsdServer, free_port
from tests._support.media import decode_errors
from tests._support.polling import wait_until
from tests._support.redis_server import redis_url
from tests.api.test_degraded import fresh_database
from tests.edge.test_edge import camera

KEY = "plane-key-1"
REPORT = 0.5
EDGE = "lan-plane"
NAME = "plane"
BACK = 20
"""Seconds in the past the recording starts."""
STOP_BOUND = 6.0
"""Seconds from streaming switched off on one control to the other's stream ending:
the re-read period (1 s), the edge's answer and the stream's end, on a busy box."""


def _ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json()  # type: ignore[no-any-return]


def _control(tmp_path: Path, name: str, shared: dict[str, Any]) -> HlsdServer:
    port = free_port()
    cfg = {**shared, "cluster": {**shared["cluster"], "node_id": name,
                                 "external_url": f"ws://127.0.0.1:{port}/ws"}}
    return HlsdServer(cfg, tmp_dir=tmp_path / name, port=port)


@contextmanager
def plane(tmp_path: Path) -> Iterator[tuple[HlsdServer, HlsdServer]]:
    """Controls A and B on one fresh database, one registry prefix, one object store."""
    with redis_url() as registry, fresh_database() as (host, port, user, db):
        shared: dict[str, Any] = {
            "database_url": f"postgresql://{user}@{host}:{port}/{db}",
            "livemix": {"edge_keys": [KEY], "report_interval": REPORT},
            "cluster": {"redis_url": registry, "registry_prefix": f"p{uuid.uuid4().hex[:8]}:",
                        "refresh_interval": "2s", "relay_connect_timeout": "2s"},
            "storage": {"dir": str(tmp_path / "objects")},
            "live": {"window": 6},
        }
        with _control(tmp_path, "a", shared) as a, _control(tmp_path, "b", shared) as b:
            yield a, b


def _segments(text: str) -> list[tuple[datetime, float]]:
    """(PROGRAM-DATE-TIME, duration) of each segment of a media playlist."""
    out = []
    pdt: datetime | None = None
    for line in text.splitlines():
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pdt = datetime.fromisoformat(line.split(":", 1)[1])
        elif line.startswith("#EXTINF:") and pdt is not None:
            out.append((pdt, float(line[8:].split(",")[0])))
            pdt = None
    return out


def _media(c: httpx.Client, url: str) -> str:
    """The media playlist at `url`, following a master playlist to its first variant."""
    r = c.get(url)
    if r.status_code != 200 or "#EXT-X-STREAM-INF" not in r.text:
        return r.text if r.status_code == 200 else ""
    variant = next(line for line in r.text.splitlines() if line and not line.startswith("#"))
    r = c.get(str(httpx.URL(url).join(variant)))
    return r.text if r.status_code == 200 else ""


def _newest(c: httpx.Client, url: str) -> datetime | None:
    segments = _segments(_media(c, url))
    return segments[-1][0] if segments else None


def _live_after(c: httpx.Client, url: str, after: datetime) -> str:
    """The media playlist at `url` once it lists a segment that starts after `after`."""
    def fresh() -> str:
        text = _media(c, url)
        segments = _segments(text)
        return text if segments and segments[-1][0] > after else ""
    return wait_until(fresh, 30, f"{url} has a segment after {after}")


def _live_urls(server: HlsdServer, sid: str) -> list[str]:
    return [f"{server.url}/live/{NAME}/index.m3u8", f"{server.url}/v1/vod/live/{sid}/vid.m3u8"]


def _decode_all(urls: list[str], seconds: float | None = None) -> None:
    with ThreadPoolExecutor(len(urls)) as pool:
        errors = list(pool.map(lambda u: decode_errors(u, 60, seconds=seconds), urls))
    assert errors == [""] * len(urls), dict(zip(urls, errors, strict=True))


def _source(c: httpx.Client, sid: str) -> dict[str, Any]:
    return _ok(c.get(f"/v1/source/{sid}"))["source"]  # type: ignore[no-any-return]


def test_an_edge_on_one_control_plays_records_and_stops_on_both(tmp_path: Path) -> None:
    folder = tmp_path / "camera"
    with plane(tmp_path) as (a, b), \
            httpx.Client(base_url=b.url, timeout=10) as on_b, \
            httpx.Client(timeout=10) as viewer:
        # 1. As LiveMix's README goes: the source is defined and switched on first (at
        # B), then the camera publishes to the edge, which is linked to A.
        sid = _ok(on_b.post("/v1/source", json={"name": NAME, "segment_len": 1}))[
            "source"]["id"]
        _ok(on_b.put(f"/v1/source/{sid}/streaming", params={"new_state": "true"}))
        edge = HlsdEdge(a.url.replace("http", "ws") + wire.PATH, KEY,
                        {"livemix": {"file_roots": [str(folder)]}}, name=EDGE,
                        tmp_dir=tmp_path / "edge")
        with edge, camera(edge.url, folder, NAME, seconds=120):
            _play_record_and_stop(a, b, edge, on_b, viewer, sid)


def _reported(on_b: httpx.Client, sid: str) -> dict[str, Any] | None:
    source = _source(on_b, sid)
    return source if source.get("rr_target") == EDGE and source["online"] else None


def _play_record_and_stop(a: HlsdServer, b: HlsdServer, edge: HlsdEdge, on_b: httpx.Client,
                          viewer: httpx.Client, sid: str) -> None:
    # The edge asked A for the source, already streaming: A tells it to forward.
    shown = wait_until(lambda: _reported(on_b, sid), 30, "B shows the edge's report")
    assert shown is not None and shown["streaming"] == 1
    urls = _live_urls(a, sid) + _live_urls(b, sid)
    for url in urls:  # B plays through the registry and a relay from A
        wait_until(lambda u=url: len(_segments(_media(viewer, u))) >= 3, 30,  # type: ignore[misc]
                   f"{url} lists 3 segments")
        assert_valid(_media(viewer, url), live=True)
    _decode_all(urls, seconds=2)

    # 2. A crashes: the edge cannot reach it, then dials it again once it is back.
    a.kill()
    wait_until(lambda: _health(edge)["state"] != "connected", 10,
               "the edge sees its link gone")
    a.start()
    restarted = datetime.now().astimezone()
    wait_until(lambda: _health(edge)["state"] == "connected", 30,
               "the edge linked to A again")
    for url in urls:
        assert_valid(_live_after(viewer, url, restarted), live=True)
    _decode_all(urls, seconds=2)
    assert _source(on_b, sid)["online"] is True

    # 3. A recording started on B reaches back into the edge's cache, across A's
    # restart, and is stored once: no duplicate, no gap.
    wait_until(lambda: _cache(edge)["segments"] >= BACK + 2, 30,
               f"the edge's cache holds more than {BACK} s")
    start = int(time.time()) - BACK
    rid = _ok(on_b.post(f"/v1/source/{sid}/recording", json={
        "start_time_epoch": start}))["recording"]["id"]
    began = datetime.now().astimezone()
    _live_after(viewer, urls[0], began + timedelta(seconds=3))
    _ok(on_b.post(f"/v1/recording/{rid}/stop"))
    end = datetime.fromisoformat(_ok(on_b.get(f"/v1/recording/{rid}"))["recording"][
        "end_ts"])

    def rows() -> list[dict[str, Any]]:
        got = _ok(on_b.get(f"/v1/recording/{rid}/segment"))["segments"]
        if got and _end(got[-1]) >= end:
            return got  # type: ignore[no-any-return]
        return []

    segments = wait_until(rows, 30, "every segment of the recording's range stored")
    starts = [datetime.fromisoformat(s["start"]) for s in segments]
    first = datetime.fromtimestamp(start).astimezone()
    assert first <= starts[0] < first + timedelta(seconds=1.5), (first, starts[0])
    assert starts[-1] < end
    assert len({s["name"] for s in segments}) == len(segments)
    for before, after in itertools.pairwise(segments):
        step = (datetime.fromisoformat(after["start"]) - datetime.fromisoformat(
            before["start"])).total_seconds()
        assert abs(step - before["length"]) <= 0.1, (before, after)
    assert sum(s["length"] for s in segments) >= BACK
    replays = [f"{n.url}/v1/vod/recording/{rid}/vid.m3u8" for n in (a, b)]
    for url in replays:
        text = _media(viewer, url)
        assert_valid(text)
        assert text.count("#EXTINF") == len(segments), text
    _decode_all(replays)

    # 4. Streaming switched off on B: the edge stops forwarding, A's stream ends.
    _ok(on_b.put(f"/v1/source/{sid}/streaming", params={"new_state": "false"}))
    switched = time.monotonic()
    wait_until(lambda: "#EXT-X-ENDLIST" in _media(viewer, urls[0])
               or _media(viewer, urls[0]) == "", STOP_BOUND + 5, "A's stream ends")
    assert time.monotonic() - switched < STOP_BOUND
    wait_until(lambda: "#EXT-X-ENDLIST" in _media(viewer, urls[2])
               or _media(viewer, urls[2]) == "", 10, "B's relay of it ends")
    last = _newest(viewer, urls[0])
    held = _cache(edge)["segments"]
    # The edge still takes (its cache grows) but A gets nothing new live.
    wait_until(lambda: _cache(edge)["segments"] >= held + 2, 15, "the edge goes on taking")
    assert _newest(viewer, urls[0]) == last
    assert re.search(r"\bedge " + re.escape(repr(EDGE)) + r" linked\b", a.log_text())


def _health(edge: HlsdServer) -> dict[str, Any]:
    """The edge's state in its /api/health."""
    return httpx.get(edge.url + "/api/health", timeout=5).json()["edge"]  # type: ignore[no-any-return]


def _cache(edge: HlsdServer) -> dict[str, Any]:
    return _health(edge)["cache"]  # type: ignore[no-any-return]


def _end(row: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(row["end"])
