"""Live streams on several worker processes, end to end, inherited by `test_granian` (2
workers) and `test_uvicorn` (3): real ffmpeg publishers over HTTP push, continuous HTTP,
RTMP and LiveMix, a websocket publisher, a channel, players on fresh connections landing
on whichever worker the kernel picks, LL-HLS blocking reloads, and a recording made
once."""

from __future__ import annotations

import asyncio
import hashlib
import re
import subprocess
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from hlsd.hls.check import assert_valid
from tests._support.browser import describe, play_hls
from tests._support.live_text import last_part, media_sequence, uris
from tests._support.media import FFMPEG, decode_errors, hls_folder
from tests._support.polling import wait_until
from tests._support.publisher import LivePublisher
from tests._support.wscdn import open_session, push
from tests.node._workers import (
    AUTH,
    KEY,
    SOURCE,
    Node,
    until_every_worker,
)


class LiveScenarios:
    """The scenarios; a test class per engine and worker count inherits them, beside a
    module fixture `node` of that many workers."""

    def test_a_pushed_stream_plays_on_every_worker_and_is_recorded_once(self, node: Node) -> None:
        stream = f"push-{node.workers}"
        with LivePublisher(f"{node.url}/ingest/{stream}", headers=AUTH, duration=40,
                           size="320x240", seconds_per_segment=1):
            playlist = f"/live/{stream}/index.m3u8"
            wait_until(lambda: uris(httpx.get(node.url + playlist).text)[2:] or None,
                       timeout=30, what="three segments")
            # The recording request may land on any worker: the leader records.
            with node.on_some_worker() as (client, _):
                started = client.post(f"/api/streams/{stream}/recordings")
            assert started.status_code == 201, started.text
            rid = started.json()["id"]
            fetched: dict[str, str] = {}

            def plays(client: httpx.Client) -> None:
                response = client.get(playlist)
                assert response.status_code == 200, response.text
                assert_valid(response.text, live=True)
                for uri in uris(response.text)[-2:]:
                    segment = client.get(f"/live/{stream}/{uri}")
                    assert segment.status_code == 200, (uri, segment.status_code)
                    digest = hashlib.sha256(segment.content).hexdigest()
                    # One URI, the same bytes, whichever worker served it.
                    assert fetched.setdefault(uri, digest) == digest
            at_start = media_sequence(httpx.get(node.url + playlist).text)
            # Hundreds of requests, each connection new: a playlist and what it names.
            until_every_worker(node, plays, at_least=100)
            wait_until(lambda: media_sequence(httpx.get(node.url + playlist).text) >= at_start + 4,
                       timeout=30, what="four more segments")
            until_every_worker(node, plays)
            with node.on_some_worker() as (client, _):
                final = client.get(playlist).text
                last = {uri: hashlib.sha256(client.get(f"/live/{stream}/{uri}").content).digest()
                        for uri in uris(final)}
                assert client.post(f"/api/recordings/{rid}/stop").status_code == 200
        with httpx.Client(base_url=node.url, timeout=15) as c:
            recordings = c.get(f"/api/streams/{stream}/recordings").json()["recordings"]
            assert [r["id"] for r in recordings] == [rid]  # one, not one per worker
            replay = c.get(f"/recordings/{rid}/index.m3u8").text
            recorded_uris = uris(replay)
            recorded = [hashlib.sha256(c.get(f"/recordings/{rid}/{uri}").content).digest()
                        for uri in recorded_uris]
        # Every segment exactly once: no repeats, none missing between the first and last.
        assert len(set(recorded)) == len(recorded) >= 4
        times = [datetime.fromisoformat(t) for t in
                 re.findall(r"#EXT-X-PROGRAM-DATE-TIME:(\S+)", replay)]
        durations = [float(d) for d in re.findall(r"#EXTINF:([\d.]+)", replay)]
        for before, after, duration in zip(times, times[1:], durations, strict=False):
            assert abs((after - before).total_seconds() - duration) < 0.1, replay
        kept = [digest for digest in last.values() if digest in recorded]
        assert len(kept) >= 3  # what the stream held at the stop is in the recording
        assert decode_errors(f"{node.url}/recordings/{rid}/index.m3u8") == ""


    def test_a_livemix_camera_plays_on_every_worker(self, node: Node) -> None:
        """LiveMix's sources are in the database every worker reads; its playlists go to the
        leader, and its segments are read from the folder the camera writes in."""
        folder = node.server.dir / "livemix"
        folder.mkdir(exist_ok=True)
        name = f"camera-{node.workers}"
        with httpx.Client(base_url=node.url, timeout=10, headers=AUTH) as c:
            sid = c.post("/v1/source", json={"name": name, "segment_len": 1}).json()["source"]["id"]
            assert c.put(f"/v1/source/{sid}/streaming",
                         params={"new_state": "true"}).status_code == 200
        camera = subprocess.Popen([
            FFMPEG, "-hide_banner", "-v", "error", "-re",
            "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "30",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-sc_threshold", "0",
            "-pix_fmt", "yuv420p", "-f", "hls", "-hls_time", "1", "-hls_list_size", "5",
            "-hls_segment_filename", str(folder / f"{name}-%d.ts"),
            "-headers", f"Video-Source-Name: {name}\r\nMPEG-TS-URI-Prefix: file://{folder}\r\n"
                        f"Authorization: Bearer {KEY}\r\n",
            "-method", "POST", f"{node.url}/v1/playlist"])
        try:
            url = f"/v1/vod/live/{sid}/vid.m3u8"
            wait_until(lambda: uris(httpx.get(node.url + url).text)[1:] or None,
                       timeout=30, what="two LiveMix segments")

            def plays(client: httpx.Client) -> None:
                response = client.get(url)
                assert response.status_code == 200, response.text
                assert_valid(response.text, live=True)
                for uri in uris(response.text)[-2:]:
                    segment = client.get(f"/v1/vod/live/{sid}/{uri}")
                    assert segment.status_code == 200 and segment.content[0] == 0x47
            until_every_worker(node, plays)
        finally:
            camera.kill()
            camera.wait()


    def test_a_channel_plays_on_every_worker(self, node: Node, tmp_path: Path) -> None:
        """Each worker computes a channel from the schedule in the database: the same
        playlist wherever a player lands."""
        show = node.server.data_dir / "library" / f"show-{node.workers}"
        hls_folder(show, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
                   "-f", "lavfi", "-i", "sine", "-t", "8")
        name = f"channel-{node.workers}"
        with httpx.Client(base_url=node.url, timeout=15) as c:
            made = c.post("/api/channels", json={
                "name": name, "window": 4,
                "items": [{"source": {"library": f"{show.name}/index.m3u8"}}]})
            assert made.status_code == 201, made.text

        def plays(client: httpx.Client) -> None:
            master = client.get(f"/live/{name}/index.m3u8")
            assert master.status_code == 200, master.text
            [variant] = uris(master.text)
            folder = f"/live/{name}/{variant.rsplit('/', 1)[0]}"
            response = client.get(f"/live/{name}/{variant}")
            assert response.status_code == 200, response.text
            assert_valid(response.text, live=True)
            for uri in uris(response.text)[-2:]:
                assert client.get(f"{folder}/{uri}").status_code == 200, uri
        until_every_worker(node, plays)
        assert decode_errors(f"{node.url}/live/{name}/index.m3u8", seconds=2) == ""


    @pytest.mark.parametrize("protocol", ["http-ts", "rtmp"])
    def test_blocking_reloads_are_answered_by_every_worker(self, node: Node, protocol: str) -> None:
        """A continuous upload is published by the worker that took it, RTMP by the leader
        (which listens): LL-HLS from either on every worker."""
        stream = f"ll-{protocol}-{node.workers}"
        target = (["-f", "mpegts", "-method", "PUT", f"{node.url}/ingest/{stream}.ts?key={KEY}"]
                  if protocol == "http-ts" else
                  ["-f", "flv", f"rtmp://127.0.0.1:{node.rtmp}/live/{stream}?key={KEY}"])
        ffmpeg = subprocess.Popen(
            [FFMPEG, "-hide_banner", "-nostdin", "-v", "error", *SOURCE, "-t", "40", *target],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            url = f"/live/{stream}/index.m3u8"

            def with_parts() -> str | None:
                r = httpx.get(node.url + url, timeout=5)
                return r.text if r.status_code == 200 and "#EXT-X-PART:" in r.text \
                    and r.text.count("#EXTINF") >= 2 else None
            wait_until(with_parts, timeout=30, what="LL-HLS parts")

            def blocks(client: httpx.Client) -> None:
                msn, part = last_part(client.get(url).text)
                asked = (msn, part + 1)
                r = client.get(url, params={"_HLS_msn": asked[0], "_HLS_part": asked[1]})
                assert r.status_code == 200, r.text
                assert_valid(r.text, live=True)
                assert last_part(r.text) >= asked or last_part(r.text)[0] > msn
                hinted = re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"', r.text)
                assert hinted is not None
                # The hinted part is held until it exists, then served, by this worker.
                assert client.get(f"/live/{stream}/{hinted[1]}").status_code == 200
            until_every_worker(node, blocks, attempts=200)
            assert decode_errors(node.url + url, seconds=3) == ""
            # hls.js in Chromium, in low-latency mode, over the connections it opens
            # (the kernel spreads them over the workers).
            played = play_hls(node.url + url, seconds=3, timeout=40)
            assert not played.fatal_errors and played.played >= 3, describe(played)
        finally:
            ffmpeg.kill()
            ffmpeg.wait()


    def test_a_websocket_publisher_plays_on_every_worker(self, node: Node, tmp_path: Path) -> None:
        folder = hls_folder(tmp_path / "hls", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
                            "-f", "lavfi", "-i", "sine", "-t", "3")
        fragments = [p.read_bytes() for p in sorted(folder.glob("*.ts"),
                                                    key=lambda p: int(re.sub(r"\D", "", p.stem)))]
        stream = f"ws-{node.workers}"

        async def publish() -> None:
            ws, answer = await open_session(node.url.replace("http", "ws", 1) + "/ws", "PUSH",
                                            stream)
            assert answer[0] == "OK", answer
            await push(ws, fragments[:3], duration=1.0)
            try:
                await asyncio.get_running_loop().run_in_executor(None, check_every_worker)
            finally:
                await ws.close()

        def check_every_worker() -> None:
            def plays(client: httpx.Client) -> None:
                def three() -> str | None:
                    r = client.get(f"/live/{stream}/index.m3u8")
                    return r.text if r.status_code == 200 and r.text.count("#EXTINF") >= 3 \
                        else None
                text = wait_until(three, timeout=10, what="three fragments")
                for uri in uris(text or ""):
                    assert client.get(f"/live/{stream}/{uri}").status_code == 200
            until_every_worker(node, plays)

        asyncio.run(publish())
