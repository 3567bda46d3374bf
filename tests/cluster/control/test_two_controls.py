"""Two control nodes on one PostgreSQL database: what is changed on the node the edge is
not linked to reaches the edge within the re-read period."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from hlsd.cluster import edge_protocol as wire
from tests._support.hlsd_server import HlsdServer
from tests._support.polling import eventually
from tests.api.test_degraded import fresh_database
from tests.cluster.control.test_control import KEY, REPORT, _ok, edge_link


def test_changes_made_on_another_control_reach_the_edge(tmp_path: Path) -> None:
    with fresh_database() as (host, port, user, name):  # runs its own event loop
        url = f"postgresql://{user}@{host}:{port}/{name}"
        cfg = {"database_url": url,
               "livemix": {"edge_keys": [KEY], "report_interval": REPORT}}
        with HlsdServer(cfg, tmp_dir=tmp_path / "a") as a, \
                HlsdServer(cfg, tmp_dir=tmp_path / "b") as b, \
                httpx.Client(base_url=b.url, timeout=10) as other:
            asyncio.run(_edge_on_a_changes_on_b(a, other))


async def _edge_on_a_changes_on_b(a: HlsdServer, other: httpx.Client) -> None:
    sid = _ok(other.post("/v1/source", json={"name": "shared", "segment_len": 1}))[
        "source"]["id"]
    async with edge_link(a) as edge:
        await edge.hello("lan-shared", ["shared"])
        await eventually(lambda: edge.commands(wire.Name.CHANGE_STREAM_STATE))
        await edge.report(sid, "lan-shared")
        await eventually(lambda: other.get(f"/v1/source/{sid}").json()["source"]
                         .get("rr_target") == "lan-shared")
        _ok(other.put(f"/v1/source/{sid}/streaming", params={"new_state": "true"}))
        changed = time.monotonic()
        await eventually(lambda: edge.commands(wire.Name.CHANGE_STREAM_STATE)[-1][
            "new_state"] == 1, timeout=5)
        assert time.monotonic() - changed < 2.5
        start = datetime.now(UTC) - timedelta(seconds=30)
        rid = _ok(other.post(f"/v1/source/{sid}/recording", json={
            "start_time_epoch": int(start.timestamp())}))["recording"]["id"]
        await eventually(lambda: [c["session"]["id"] for c in
                                  edge.commands(wire.Name.START_RECORDING)] == [rid],
                         timeout=5)
        _ok(other.post(f"/v1/recording/{rid}/stop"))
        await eventually(lambda: edge.commands(wire.Name.STOP_RECORDING), timeout=5)
