"""A real edge and a real control: a recording keeps every segment the edge acknowledged
within its range across a link cut by a TCP relay, a kill -9 of the edge and a kill -9
of the control (issue 15's "nothing lost")."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._support import media as fx
from tests._support.hlsd_server import HlsdEdge, HlsdServer, free_port
from tests._support.polling import wait_until
from tests._support.tcp_relay import TcpRelay
from tests.edge.test_edge import camera

KEY = "edge-key-nothing-lost"
PDT = re.compile(r"#EXT-X-PROGRAM-DATE-TIME:(\S+)")


def _json(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is True
    return body


def _ms(time: datetime) -> datetime:
    return time.replace(microsecond=time.microsecond // 1000 * 1000)


class EdgeWatch:
    """What the edge took: the PROGRAM-DATE-TIMEs its own live playlist has listed."""

    def __init__(self, edge: HlsdEdge, stream: str) -> None:
        self.edge = edge
        self.stream = stream
        self.taken: set[datetime] = set()

    def poll(self) -> int:
        try:
            answer = httpx.get(f"{self.edge.url}/live/{self.stream}/index.m3u8", timeout=2)
        except httpx.HTTPError:
            return len(self.taken)
        if answer.status_code == 200:
            self.taken |= {datetime.fromisoformat(t) for t in PDT.findall(answer.text)}
        return len(self.taken)

    def until(self, count: int, timeout: float, what: str) -> None:
        wait_until(lambda: self.poll() >= count, timeout, what)


class Acknowledged:
    """An HTTP proxy between the camera and the edge that keeps every playlist the edge
    answered 2xx: the segments the edge told its publisher it had taken."""

    def __init__(self, edge: HlsdEdge) -> None:
        self.playlists: list[str] = []
        owner = self

        class Forward(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self._body()
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() in ("video-source-name", "mpeg-ts-uri-prefix")}
                try:
                    answer = httpx.post(edge.url + self.path, content=body, headers=headers,
                                        timeout=15)
                    status = answer.status_code
                except httpx.HTTPError:
                    status = 502  # the edge is down (killed): nothing acknowledged
                if 200 <= status < 300:
                    owner.playlists.append(body.decode())
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def _body(self) -> bytes:
                if self.headers.get("transfer-encoding", "").lower() != "chunked":
                    return self.rfile.read(int(self.headers.get("content-length", 0)))
                out = b""
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    out += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()
                return out

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Forward)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def digests(self, folder: Path) -> set[str]:
        """The contents of every segment an acknowledged playlist named."""
        uris = {line for text in self.playlists for line in text.splitlines()
                if line and not line.startswith("#")}
        return {hashlib.sha256((folder / uri).read_bytes()).hexdigest() for uri in uris}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def control(tmp_path: Path) -> Iterator[HlsdServer]:
    with HlsdServer({"livemix": {"edge_keys": [KEY], "report_interval": 1}},
                    tmp_dir=tmp_path / "control") as server:
        yield server


def test_a_recording_keeps_every_segment_across_cuts_and_kills(
        control: HlsdServer, tmp_path: Path) -> None:
    folder = tmp_path / "camera"
    http = httpx.Client(base_url=control.url, timeout=10)
    source = _json(http.post("/v1/source", json={"name": "cam", "segment_len": 1}))
    source_id = source["source"]["id"]
    _json(http.put(f"/v1/source/{source_id}/streaming", params={"new_state": "true"}))
    with TcpRelay(("127.0.0.1", control.port)) as relay:
        relay.restore()
        config = {"livemix": {"file_roots": [str(folder)]}, "live": {"window": 6}}
        with HlsdEdge(f"ws://127.0.0.1:{relay.port}/v1/edge", KEY, config,
                      tmp_dir=tmp_path / "edge", name="lan-1") as edge, \
                contextlib.closing(Acknowledged(edge)) as acked, \
                camera(acked.url, folder, "cam", seconds=90) as pub:
            watch = EdgeWatch(edge, "cam")
            watch.until(3, 30, "the edge takes the camera")
            # The control sees the edge's source online, and plays it live.
            def online() -> dict[str, Any] | None:
                shown: dict[str, Any] = _json(http.get(f"/v1/source/{source_id}"))["source"]
                return shown if shown.get("online") else None

            shown = wait_until(online, 20, "the source online")
            assert shown["rr_target"] == "lan-1" and shown["local_time"]
            wait_until(lambda: http.get("/live/cam/index.m3u8").status_code == 200, 20,
                       "live on the control")
            assert fx.decode_errors(f"{control.url}/live/cam/index.m3u8", seconds=3) == ""

            # A recording that began before the camera did: reach-back from the cache.
            began = int((datetime.now(UTC) - timedelta(seconds=60)).timestamp())
            recording = _json(http.post(f"/v1/source/{source_id}/recording",
                                        json={"start_time_epoch": began}))["recording"]
            rid = recording["id"]

            # The link is cut; the edge takes on and caches; the link comes back.
            relay.cut()
            taken = watch.poll()
            watch.until(taken + 3, 30, "the edge takes while cut off")
            relay.restore()

            # kill -9 of the edge: what it took before is in its cache on disk.
            watch.until(watch.poll() + 2, 30, "more taken")
            edge.kill()
            edge.start()
            watch.until(watch.poll() + 3, 30, "the edge takes again after its restart")

            # kill -9 of the control: the recording is in its database.
            control.kill()
            control.start()
            watch.until(watch.poll() + 3, 30, "the edge takes while the control restarts")
            pub.terminate()  # the camera stops; what the edge took is what counts
            pub.wait(10)
            watch.poll()

            _json(http.post(f"/v1/recording/{rid}/stop"))
            stopped = _json(http.get(f"/v1/recording/{rid}"))["recording"]
            end = datetime.fromisoformat(stopped["end_ts"])
            # Everything the edge acknowledged is in its cache on disk, kill -9 or not.
            cache = edge.data_dir / "edge" / "cache"
            metas = [json.loads(meta.read_text()) for meta in cache.glob("*.json")
                     if not meta.name.startswith("init-")]
            held = {hashlib.sha256((cache / f"{m['cid']}.seg").read_bytes()).hexdigest()
                    for m in metas}
            assert acked.playlists and acked.digests(folder) <= held
            wanted = {_ms(datetime.fromisoformat(m["start"])) for m in metas}
            wanted = {t for t in wanted if t < end}

            def recorded() -> set[datetime]:
                listed = _json(http.get(f"/v1/recording/{rid}/segment"))["segments"]
                # to the millisecond, as playlists write PROGRAM-DATE-TIME
                return {_ms(datetime.fromisoformat(s["start"])) for s in listed}

            try:
                wait_until(lambda: recorded() >= wanted, 60, "every segment the edge took")
            except AssertionError:
                missing = sorted(wanted - recorded())
                raise AssertionError(f"lost {missing} of {sorted(wanted)}") from None
            listed = _json(http.get(f"/v1/recording/{rid}/segment"))["segments"]
            starts = [s["start"] for s in listed]
            assert len(starts) == len(set(starts)), "a segment recorded twice"
            # The control restarted: its replay answers once its database is up again.
            replay = f"/v1/vod/recording/{rid}/vid.m3u8"
            wait_until(lambda: http.get(replay).status_code == 200, 30, "the replay")
            assert fx.decode_errors(f"{control.url}{replay}") == ""
