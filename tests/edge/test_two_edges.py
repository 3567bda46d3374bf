"""Real edges and a real control: two edges taking a camera of the same name (the first
keeps the source while it reports; the other takes it once the first goes quiet), and an
edge with a wrong key (refused, and nothing of it reaches the control)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests._support import media as fx
from tests._support.browser import describe, play_hls
from tests._support.hlsd_server import HlsdEdge, HlsdServer
from tests._support.polling import wait_until
from tests.edge.test_edge import camera

KEY = "edge-key-two"


def _source(http: httpx.Client, source_id: str) -> dict[str, Any]:
    answer = http.get(f"/v1/source/{source_id}")
    assert answer.status_code == 200, answer.text
    source: dict[str, Any] = answer.json()["source"]
    return source


def _health(edge: HlsdEdge) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(edge.url + "/api/health", timeout=5).json()["edge"]
    return state


def test_two_edges_with_one_camera_name_and_a_wrong_key(tmp_path: Path) -> None:
    config = {"livemix": {"edge_keys": [KEY], "report_interval": 0.5}}
    with HlsdServer(config, tmp_dir=tmp_path / "control") as control:
        http = httpx.Client(base_url=control.url, timeout=10)
        created = http.post("/v1/source", json={"name": "door", "segment_len": 1})
        source_id = created.json()["source"]["id"]
        http.put(f"/v1/source/{source_id}/streaming", params={"new_state": "true"})
        url = f"ws://127.0.0.1:{control.port}/v1/edge"

        def edge(name: str, key: str = KEY) -> HlsdEdge:
            roots = {"livemix": {"file_roots": [str(tmp_path / name / "camera")]}}
            return HlsdEdge(url, key, roots, tmp_dir=tmp_path / name / "node", name=name)

        with edge("lan-a") as a, camera(a.url, tmp_path / "lan-a" / "camera", "door", 60):
            wait_until(lambda: _source(http, source_id).get("rr_target") == "lan-a", 30,
                       "lan-a holds the source")
            wait_until(lambda: "EXTINF" in http.get("/live/door/index.m3u8").text, 30,
                       "live from lan-a")
            with edge("lan-b") as b, camera(b.url, tmp_path / "lan-b" / "camera", "door", 60), \
                    edge("intruder", key="not-the-key") as intruder:
                wait_until(lambda: _health(b)["state"] == "connected", 20, "lan-b linked")
                wait_until(lambda: "edge 'lan-b' refused source 'door'" in control.log_text(),
                           20, "lan-b told the source is lan-a's")
                assert _source(http, source_id)["rr_target"] == "lan-a"
                assert fx.decode_errors(f"{control.url}/live/door/index.m3u8",
                                        seconds=2) == ""
                # What the edge forwards plays in a browser, on LiveMix's playback URL.
                played = play_hls(f"{control.url}/v1/vod/live/{source_id}/vid.m3u8",
                                  seconds=2, timeout=40)
                assert played.played >= 2 and not played.fatal_errors, describe(played)
                # The wrong key: refused before the upgrade, and it keeps trying.
                assert _health(intruder)["state"] != "connected"
                assert "intruder" not in control.log_text()
                assert "not-the-key" not in control.log_text() + intruder.log_text()

                # lan-a goes dark: lan-b takes the source once lan-a has been quiet for
                # the offline bound, and the control plays lan-b's camera.
                a.kill()
                wait_until(lambda: _source(http, source_id).get("rr_target") == "lan-b", 30,
                           "lan-b takes the source")
                taken = http.get("/live/door/index.m3u8").text.count("EXTINF")
                wait_until(lambda: "#EXT-X-ENDLIST" not in (
                    text := http.get("/live/door/index.m3u8").text)
                    and text.count("EXTINF") >= 2 and _source(http, source_id)["online"],
                    30, f"live from lan-b (had {taken})")
                assert fx.decode_errors(f"{control.url}/live/door/index.m3u8",
                                        seconds=2) == ""
