"""``hlsd edge`` as a real process against a fake control (`tests/_support/edge_control`):
the link dials out with its key, forwards live segments while streaming is on, sends a
recording's cached segments (reach-back) until acknowledged, resends what was not
acknowledged after a dropped link and after a kill -9, and keeps its cache bounded."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from hlsd.cluster.edge_protocol import Name, iso
from tests._support import media as fx
from tests._support.edge_control import FakeControl, Received
from tests._support.hlsd_server import HlsdEdge
from tests._support.polling import wait_until

KEY = "edge-key-1"
CACHE = 1 << 20


@contextmanager
def camera(edge_url: str, folder: Path, name: str, seconds: float,
           size: str = "320x240") -> Iterator[subprocess.Popen[bytes]]:
    """ffmpeg as LiveMix's README runs it: HLS files in `folder`, each playlist POSTed
    to the edge's /v1/playlist (at `edge_url`) with a file:// prefix."""
    folder.mkdir(parents=True, exist_ok=True)
    pub = subprocess.Popen([
        fx.FFMPEG, "-hide_banner", "-v", "error", "-re",
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25", "-t", str(seconds),
        "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-sc_threshold", "0",
        "-pix_fmt", "yuv420p", "-f", "hls", "-hls_time", "1", "-hls_list_size", "5",
        "-hls_segment_filename", str(folder / "vid%d.ts"),
        "-headers", f"Video-Source-Name: {name}\r\nMPEG-TS-URI-Prefix: file://{folder}\r\n",
        "-method", "POST", f"{edge_url}/v1/playlist"])
    try:
        yield pub
    finally:
        pub.kill()
        pub.wait(10)


def health(edge: HlsdEdge) -> dict[str, Any]:
    return httpx.get(edge.url + "/api/health", timeout=5).json()["edge"]  # type: ignore[no-any-return]


def names(received: list[Received]) -> list[str]:
    return [r.meta.name for r in received]


def test_a_wrong_key_is_refused_and_health_says_so(tmp_path: Path) -> None:
    with FakeControl(key=KEY) as control, \
            HlsdEdge(control.url, "not-the-key", tmp_dir=tmp_path) as edge:
        wait_until(lambda: control.refused >= 2, 30, "the edge dials again after a refusal")
        state = health(edge)
        assert state["control"] == control.url and state["state"] != "connected"
        assert "\nhlsd_edge_link_up 0.0\n" in httpx.get(edge.url + "/metrics").text
        assert not control.hellos
        assert "not-the-key" not in edge.log_text()


def test_live_recording_reach_back_reconnect_and_kill_9(tmp_path: Path) -> None:
    segments = tmp_path / "camera"
    cfg = {"livemix": {"file_roots": [str(segments)]}, "live": {"window": 4}}
    with FakeControl(key=KEY, report_interval=0.5) as control, \
            HlsdEdge(control.url, KEY, cfg, tmp_dir=tmp_path / "edge") as edge:
        hello = control.wait_hello()
        assert hello.fields["edge"] == "edge-test" and hello.fields["protocol"] == 1
        wait_until(lambda: health(edge)["state"] == "connected", 10, "connected in health")
        assert health(edge)["node"] == "fake"
        metrics = httpx.get(edge.url + "/metrics").text
        assert "\nhlsd_edge_link_up 1.0\n" in metrics
        assert "\nhlsd_edge_live_dropped_total 0.0\n" in metrics

        with camera(edge.url, segments, "cam", seconds=10) as pub:
            # The edge asks for the source of the stream it takes, then reports it.
            wait_until(lambda: any(r.fields["source_id"] == "src-cam"
                                   and r.fields["rr_target_id"] == "edge-test"
                                   for r in control.reports), 30, "a status report")
            assert control.segments == []  # nothing streams until the control says so
            answer = control.request(Name.CHANGE_STREAM_STATE, {
                "source_id": "src-cam", "source_name": "cam", "new_state": 1})
            assert answer.fields["success"] is True
            live = wait_until(lambda: len(control.received(lambda r: r.meta.live)) >= 2
                              and control.received(lambda r: r.meta.live), 30, "live")
            assert all(r.meta.source_id == "src-cam" and r.meta.source_name == "cam"
                       and r.data[0] == 0x47 and r.meta.content_type == "video/mp2t"
                       for r in live)
            assert [r.meta.sequence for r in live] == sorted(r.meta.sequence for r in live)
            # A recording that began a minute ago reaches back into the cache.
            control.auto_ack = False
            control.request(Name.START_RECORDING, {"source_name": "cam", "session": {
                "id": "rec-1", "source": "src-cam",
                "start_ts": iso(datetime.now(UTC) - timedelta(minutes=1))}})
            assert pub.wait(30) == 0

        def recorded(connection: int) -> list[Received]:
            return control.received(lambda r: "rec-1" in r.meta.recordings
                                    and r.connection == connection)

        cached = wait_until(lambda: health(edge)["cache"]["segments"], 10)
        wait_until(lambda: len(recorded(1)) >= cached, 30, "every cached segment recorded")
        first = recorded(1)
        assert first[0].meta.sequence == 0  # from the very first segment the edge took
        starts = [r.meta.start for r in first]
        assert starts == sorted(starts) and len(set(names(first))) == len(first)
        control.request(Name.STOP_RECORDING, {"session_id": "rec-1",
                                              "end_time": iso(datetime.now(UTC))})
        wanted = names(first)

        # The control drops the link: the edge dials again and resends what is not
        # acknowledged; live-only segments are not resent (streaming is off until the
        # control says otherwise).
        control.drop()
        control.wait_hello(2)
        assert control.hellos[1].fields["recordings"] == ["rec-1"]
        wait_until(lambda: set(names(recorded(2))) >= set(wanted), 30, "resent after a drop")
        assert not control.received(lambda r: r.connection == 2 and r.meta.live)

        # Half acknowledged, then kill -9: the other half comes again after the restart.
        half = recorded(2)[:len(wanted) // 2]
        control.ack([r.meta.seq for r in half])
        book = edge.data_dir / "edge" / "recordings.json"
        wait_until(lambda: len(json.loads(book.read_text())["recordings"][0]["acked"])
                   >= len(half), 10, "the acks saved")
        edge.kill()
        edge.start()
        control.wait_hello(3)
        rest = set(wanted) - set(names(half))
        wait_until(lambda: set(names(recorded(3))) >= rest, 30, "resent after kill -9")
        assert not set(names(recorded(3))) & set(names(half))
        assert health(edge)["state"] == "connected"


def test_the_cache_holds_its_bounds_and_survives_a_restart(tmp_path: Path) -> None:
    segments = tmp_path / "camera"
    cfg = {"livemix": {"file_roots": [str(segments)]},
           "edge": {"cache_bytes": "1MiB", "cache_seconds": 8}}
    with FakeControl(key=KEY) as control, \
            HlsdEdge(control.url, KEY, cfg, tmp_dir=tmp_path / "edge") as edge:
        folder = edge.data_dir / "edge" / "cache"
        largest = 0

        def on_disk() -> int:
            return sum(p.stat().st_size for p in folder.glob("*.seg"))

        with camera(edge.url, segments, "big", seconds=7, size="1280x720") as pub:
            while pub.poll() is None:
                largest = max(largest, *(p.stat().st_size for p in segments.glob("*.ts")),
                              0)
                # Written, then the oldest evicted: one segment over, at most.
                assert on_disk() <= CACHE + largest
                with suppress(subprocess.TimeoutExpired):
                    pub.wait(0.2)
        state = health(edge)
        assert state["cache"]["evicted"] > 0 and state["cache"]["bytes"] <= CACHE
        metrics = httpx.get(edge.url + "/metrics", timeout=5).text
        assert 'hlsd_cache_limit_bytes{cache="edge-segments"} 1.048576e+06' in metrics
        assert 'hlsd_cache_evictions_total{cache="edge-segments"}' in metrics
        held = state["cache"]["segments"]
        edge.restart()
        assert 0 < health(edge)["cache"]["segments"] <= held
        # The age bound: everything goes once older than cache_seconds.
        wait_until(lambda: health(edge)["cache"]["segments"] == 0, 40, "aged out")
        assert on_disk() == 0 and not list(folder.glob("init-*"))
        assert control.connections >= 2
