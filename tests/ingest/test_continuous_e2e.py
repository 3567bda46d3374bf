"""RTMP, SRT and continuous HTTP ingest end to end: a real hlsd, real ffmpeg publishers,
LL-HLS checked by hlsd's own rules over reloads, decoded by ffmpeg, played by hls.js."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from hlsd.hls.check import assert_valid
from tests._support.browser import browser_test, describe, play_hls
from tests._support.hlsd_server import HlsdServer, free_port
from tests._support.live_text import last_part, media_sequence
from tests._support.media import FFMPEG, decode_errors
from tests._support.polling import eventually, wait_until
from tests._support.tls import make_pki
from tests._support.wscdn import Received, open_session, pull_all

KEY = "publish-key-1"
# 30 fps: over RTMP (whole-millisecond timestamps) frames come 33 or 34 ms apart.
_SOURCE = ["-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
           "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30",
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k"]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Node:
    def __init__(self, server: HlsdServer, rtmp: int, srt: int) -> None:
        self.server = server
        self.rtmp = rtmp
        self.srt = srt
        self.url = server.url

    def rtmp_url(self, stream: str, key: str | None = KEY) -> str:
        query = f"?key={key}" if key else ""
        return f"rtmp://127.0.0.1:{self.rtmp}/live/{stream}{query}"

    def srt_url(self, stream: str, key: str = KEY) -> str:
        return f"srt://127.0.0.1:{self.srt}?streamid=publish:{stream}:{key}"

    def http_url(self, stream: str, key: str = KEY) -> str:
        return f"{self.url}/ingest/{stream}.ts?key={key}"

    def log(self) -> str:
        return self.server.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    rtmp, srt = free_port(), free_udp_port()
    config = {
        "live": {"publish_keys": [KEY], "segment_duration": 1.0, "part_duration": 0.2,
                 "publish_policy": "reject", "idle_timeout": 5},
        "rtmp": {"listen": f"127.0.0.1:{rtmp}"},
        "srt": {"listen": f"127.0.0.1:{srt}"},
    }
    with HlsdServer(config, tmp_dir=tmp_path_factory.mktemp("continuous")) as server:
        yield Node(server, rtmp, srt)


@contextmanager
def publishing(target: list[str], seconds: float = 30) -> Iterator[subprocess.Popen[bytes]]:
    """ffmpeg publishing a test pattern for `seconds` to `target` (output options + URL)."""
    proc = subprocess.Popen([FFMPEG, "-hide_banner", "-nostdin", "-v", "error", *_SOURCE,
                             "-t", f"{seconds:g}", *target],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def playlist_with_parts(url: str, segments: int = 2) -> str:
    """The live playlist once it lists `segments` whole segments and their parts."""
    def ready() -> str | None:
        response = httpx.get(url, timeout=5)
        if response.status_code != 200:
            return None
        text = response.text
        return text if text.count("#EXTINF") >= segments and "#EXT-X-PART:" in text else None
    return wait_until(ready, timeout=30, what=f"{url} with parts")


def segments_start_independent(text: str) -> bool:
    """Whether each segment begins with an independent part (a keyframe): the first
    part listed after a segment's URI line (the oldest segment may have lost its first
    parts, so it is not looked at)."""
    after_segment = False
    for line in text.splitlines():
        if line and not line.startswith("#"):
            after_segment = True
        elif line.startswith("#EXT-X-PART:"):
            if after_segment and "INDEPENDENT=YES" not in line:
                return False
            after_segment = False
    return True


def test_rtmp_publishes_ll_hls_that_ffmpeg_decodes(node: Node) -> None:
    with publishing(["-f", "flv", node.rtmp_url("rtmp1")]):
        url = f"{node.url}/live/rtmp1/index.m3u8"
        text = playlist_with_parts(url)
        assert "#EXT-X-PART-INF:PART-TARGET=0.2" in text
        assert "CAN-BLOCK-RELOAD=YES" in text
        assert "#EXT-X-PRELOAD-HINT:TYPE=PART" in text
        assert "#EXT-X-MAP:" in text
        assert_valid(text, live=True)
        assert segments_start_independent(text), text
        previous = text
        # Blocking reloads, part after part: each answer holds the part asked for, and
        # the rules hold across them.
        for _ in range(6):
            msn, part = last_part(previous)
            response = httpx.get(url, params={"_HLS_msn": msn, "_HLS_part": part + 1},
                                 timeout=10)
            assert response.status_code == 200, response.text
            current = response.text
            assert last_part(current) > (msn, part), current
            assert_valid(current, live=True, previous=previous)
            previous = current
        assert decode_errors(url, seconds=3) == ""
    # A clean encoder's every part was listed: none dropped.
    assert _metric(httpx.get(f"{node.url}/metrics").text, "hlsd_ingest_dropped_parts_total",
                   protocol="rtmp") == 0


def test_rtmp_stream_plays_in_hls_js_in_low_latency_mode(node: Node) -> None:
    with publishing(["-f", "flv", node.rtmp_url("rtmp-browser")], seconds=40):
        url = f"{node.url}/live/rtmp-browser/index.m3u8"
        playlist_with_parts(url)
        result = play_hls(url, seconds=4, timeout=40)
    assert not result.fatal_errors, describe(result)
    assert result.played >= 4, describe(result)
    # hls.js asked for parts (low-latency mode), not only whole segments.
    assert any(re.search(r"-p\d+\.m4s", u) for u in result.requests), result.requests[-20:]
    assert any("_HLS_msn" in u for u in result.requests), result.requests[-20:]
    assert result.latencies and sorted(result.latencies)[len(result.latencies) // 2] < 3.0, \
        result.latencies[-20:]


@pytest.mark.parametrize("protocol", [pytest.param("http-ts", marks=browser_test),
                                      pytest.param("srt", marks=browser_test)])
def test_an_mpegts_stream_plays_in_hls_js(node: Node, protocol: str) -> None:
    """MPEG-TS input (continuous HTTP upload, SRT) carries AAC in ADTS, its configuration
    in band: the init's esds must still hold the AudioSpecificConfig, or Chromium's MSE
    refuses the codec hls.js reads from it (``mp4a.40`` without its object type)."""
    name = f"{protocol}-browser"
    target = node.http_url(name) if protocol == "http-ts" else node.srt_url(name)
    with publishing(["-f", "mpegts", *(["-method", "PUT"] if protocol == "http-ts" else []),
                     target], seconds=30):
        url = f"{node.url}/live/{name}/index.m3u8"
        playlist_with_parts(url)
        result = play_hls(url, seconds=3, timeout=30)
    assert not result.fatal_errors, describe(result)
    assert result.played >= 3, describe(result)


def test_the_same_url_plays_in_a_classic_player(node: Node) -> None:
    """hls.js without low-latency mode: whole segments only (it still asks for blocking
    reloads, which the playlist offers)."""
    with publishing(["-f", "flv", node.rtmp_url("rtmp-classic")], seconds=40):
        url = f"{node.url}/live/rtmp-classic/index.m3u8"
        playlist_with_parts(url, segments=3)
        result = play_hls(url, seconds=3, timeout=40, config={"lowLatencyMode": False})
    assert not result.fatal_errors, describe(result)
    assert result.played >= 3, describe(result)
    assert not any(re.search(r"-p\d+\.m4s", u) for u in result.requests), result.requests[-20:]
    assert any(re.search(r"-\d+\.m4s", u) for u in result.requests), result.requests[-20:]


def test_srt_and_continuous_http_publish_too(node: Node) -> None:
    with publishing(["-f", "mpegts", node.srt_url("srt1")]), \
            publishing(["-f", "mpegts", "-method", "PUT", node.http_url("http1")]):
        for name in ("srt1", "http1"):
            url = f"{node.url}/live/{name}/index.m3u8"
            assert_valid(playlist_with_parts(url), live=True)
            assert decode_errors(url, seconds=2) == "", name
        kinds = {s["name"]: s for s in httpx.get(f"{node.url}/api/streams").json()["streams"]}
        assert kinds["srt1"]["publisher"] == "srt"
        assert kinds["http1"]["publisher"] == "http-ts"


def test_audio_that_starts_late_joins_the_stream_after_a_discontinuity(
        node: Node, tmp_path: Path) -> None:
    """An MPEG-TS upload whose audio starts 1.5 s in, after the segmenter's short probe
    and its first GOP: the stream starts with the video, and the audio joins at a
    keyframe with a new init under its own URI, after a discontinuity (RFC 8216 asks
    for one when tracks are added). Both halves decode; ffmpeg plays the stream from
    the live edge. (ffmpeg's HLS reader cannot take a track added mid-playlist, nor can
    hls.js's SourceBuffers: a player crossing the join must reload.)"""
    media = tmp_path / "late-audio.ts"
    subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-v", "error", "-y",
                    "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=12",
                    "-itsoffset", "1.5", "-f", "lavfi",
                    "-i", "sine=frequency=440:sample_rate=48000:duration=10.5",
                    *_SOURCE[_SOURCE.index("-c:v"):], "-f", "mpegts", str(media)],
                   check=True, timeout=60)
    url = f"{node.url}/live/late-audio/index.m3u8"
    base = url.rsplit("/", 1)[0]
    with subprocess.Popen([FFMPEG, "-hide_banner", "-nostdin", "-v", "error", "-re",
                           "-i", str(media), "-c", "copy", "-f", "mpegts", "-method", "PUT",
                           node.http_url("late-audio")],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
        try:
            def joined() -> str | None:
                response = httpx.get(url, timeout=5)
                text = response.text if response.status_code == 200 else ""
                after = text.partition("#EXT-X-DISCONTINUITY\n")[2]
                return text if after.count("#EXTINF") >= 3 else None
            text = wait_until(joined, timeout=30, what="three segments after the audio joined")
            assert_valid(text, live=True)
            before, _, after = text.partition("#EXT-X-DISCONTINUITY\n")
            (first_map,) = set(re.findall(r'#EXT-X-MAP:URI="([^"]+)"', before))
            (second_map,) = set(re.findall(r'#EXT-X-MAP:URI="([^"]+)"', after))
            assert first_map != second_map
            video = httpx.get(f"{base}/{first_map}", timeout=5).content
            both = httpx.get(f"{base}/{second_map}", timeout=5).content
            assert b"vide" in video and b"soun" not in video
            assert b"vide" in both and b"soun" in both and b"esds" in both
            first_segment = next(line for line in before.splitlines()
                                 if line and not line.startswith("#"))
            alone = tmp_path / "video-alone.mp4"
            alone.write_bytes(video + httpx.get(f"{base}/{first_segment}", timeout=5).content)
            assert decode_errors(str(alone)) == ""
            assert decode_errors(url, seconds=2, every_stream=True) == ""
        finally:
            proc.kill()


def test_a_wrong_key_is_refused_on_every_protocol_and_others_are_still_served(
        node: Node) -> None:
    with publishing(["-f", "flv", node.rtmp_url("keyed")]):
        url = f"{node.url}/live/keyed/index.m3u8"
        playlist_with_parts(url)
        for target in (["-f", "flv", node.rtmp_url("wrong1", key="nope")],
                       ["-f", "mpegts", node.srt_url("wrong2", key="nope")],
                       ["-f", "mpegts", "-method", "PUT", node.http_url("wrong3", key="nope")]):
            proc = subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-v", "error", *_SOURCE,
                                   "-t", "2", *target], capture_output=True, timeout=60,
                                  check=False)
            assert proc.returncode != 0, target
        for name in ("wrong1", "wrong2", "wrong3"):
            assert httpx.get(f"{node.url}/live/{name}/index.m3u8").status_code == 404
        assert httpx.get(url).status_code == 200
    assert "wrong publish key" in node.log()
    metrics = httpx.get(f"{node.url}/metrics").text
    for protocol in ("rtmp", "srt", "http-ts"):
        assert _metric(metrics, "hlsd_ingest_refused_total",
                       protocol=protocol, reason="unauthorized") >= 1, protocol
    assert _metric(metrics, "hlsd_ingest_bytes_total", protocol="rtmp") > 0


def _metric(text: str, name: str, **labels: str) -> float:
    """The value of `name` with exactly these labels in a Prometheus exposition."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(name + "{"):
            found = ",".join(sorted(line[len(name) + 1:line.index("}")].split(",")))
            if found == wanted:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_second_publisher_is_refused_under_reject(node: Node) -> None:
    with publishing(["-f", "flv", node.rtmp_url("busy")]):
        playlist_with_parts(f"{node.url}/live/busy/index.m3u8")
        second = subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-v", "error", *_SOURCE,
                                 "-t", "2", "-f", "flv", node.rtmp_url("busy")],
                                capture_output=True, timeout=60, check=False)
        assert second.returncode != 0


def test_garbage_on_every_port_is_refused_and_the_node_serves_on(node: Node) -> None:
    with socket.create_connection(("127.0.0.1", node.rtmp), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)) * 8)
        sock.settimeout(5)
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(1024) == b""  # hlsd hangs up
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(bytes(range(256)) * 4, ("127.0.0.1", node.srt))
    response = httpx.put(f"{node.url}/ingest/junk.ts?key={KEY}",
                         content=bytes(range(256)) * 4096, timeout=30)
    assert response.status_code == 422, response.text
    assert response.json()["error"]
    assert httpx.get(f"{node.url}/live/junk/index.m3u8").status_code == 404
    with publishing(["-f", "flv", node.rtmp_url("after-garbage")]):
        assert_valid(playlist_with_parts(f"{node.url}/live/after-garbage/index.m3u8"),
                     live=True)


def test_an_explicit_listener_that_cannot_bind_stops_the_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = HlsdServer({"rtmp": {"listen": f"127.0.0.1:{port}"}, "srt": {"listen": None}},
                            tmp_dir=tmp_path / "explicit", startup_timeout=20)
        with pytest.raises(Exception):  # noqa: B017 (HlsdStartError, or the process exits)
            server.start()
        server.close()
        assert "RTMP cannot listen on 127.0.0.1:" in server.log_path.read_text()
        assert "rtmp.listen" in server.log_path.read_text()


def test_an_rtmp_stream_is_recorded_and_spectated_over_the_websocket(
        node: Node, tmp_path: Path) -> None:
    with publishing(["-f", "flv", node.rtmp_url("consumed")], seconds=12) as proc:
        playlist_with_parts(f"{node.url}/live/consumed/index.m3u8", segments=1)
        recording = httpx.post(f"{node.url}/api/streams/consumed/recordings").json()["id"]
        # A websocket spectator gets MPEG-TS fragments, as the protocol requires.
        received = asyncio.run(_spectate(node, "consumed", fragments=2))
        assert len(received.fragments) == 2, received
        for i, (duration, data, _) in enumerate(received.fragments):
            assert 0.5 < duration <= 2.0
            assert data[0] == 0x47 and data[188] == 0x47  # TS sync bytes
            path = tmp_path / f"fragment-{i}.ts"
            path.write_bytes(data)
            assert decode_errors(str(path)) == ""
        proc.wait(timeout=60)
    wait_until(lambda: _stream_ended(node, "consumed"), what="the stream's end")
    assert httpx.post(f"{node.url}/api/recordings/{recording}/stop").status_code == 200
    replay = f"{node.url}/recordings/{recording}/index.m3u8"
    text = httpx.get(replay).text
    assert_valid(text)
    assert "#EXT-X-MAP:" in text and text.count("#EXTINF") >= 3, text
    assert decode_errors(replay) == ""


def _stream_ended(node: Node, name: str) -> bool:
    streams = {s["name"]: s for s in httpx.get(f"{node.url}/api/streams").json()["streams"]}
    return name not in streams or streams[name]["state"] != "live"


async def _spectate(node: Node, stream: str, fragments: int) -> Received:
    url = node.url.replace("http://", "ws://") + "/ws"
    ws, answer = await open_session(url, "PULL", stream)
    try:
        assert answer[0] == "OK", answer
        return await pull_all(ws, until=fragments, timeout=30)
    finally:
        await ws.close()


def test_a_publisher_that_comes_back_continues_after_a_discontinuity(node: Node) -> None:
    url = f"{node.url}/live/again/index.m3u8"
    with publishing(["-f", "flv", node.rtmp_url("again")], seconds=4) as proc:
        first = playlist_with_parts(url, segments=1)
        proc.wait(timeout=60)
    with publishing(["-f", "flv", node.rtmp_url("again")], seconds=20):
        def restarted() -> str | None:
            text = httpx.get(url).text
            return text if "#EXT-X-DISCONTINUITY\n" in text and "#EXT-X-PART:" in text \
                and "#EXT-X-ENDLIST" not in text else None
        text = wait_until(restarted, timeout=30, what="the second session")
        assert_valid(text, live=True)
        # The media sequence went on: one stream, two publishing sessions.
        assert media_sequence(text) >= media_sequence(first)


def test_an_unsupported_codec_is_refused_with_its_name(node: Node) -> None:
    proc = subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-v", "error", "-re",
                           "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "4",
                           "-c:v", "flv1", "-f", "flv", node.rtmp_url("sorenson")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0
    assert httpx.get(f"{node.url}/live/sorenson/index.m3u8").status_code == 404
    wait_until(lambda: "flv1" in node.log() and "sorenson" in node.log(),
               what="the refusal logged")
    assert _metric(httpx.get(f"{node.url}/metrics").text, "hlsd_ingest_refused_total",
                   protocol="rtmp", reason="media") >= 1


def test_takeover_policy_gives_the_stream_to_the_new_publisher(tmp_path: Path) -> None:
    rtmp = free_port()
    config = {"live": {"publish_policy": "takeover", "segment_duration": 1.0},
              "rtmp": {"listen": f"127.0.0.1:{rtmp}"}, "srt": {"listen": None}}
    with HlsdServer(config, tmp_dir=tmp_path / "takeover") as server:
        target = f"rtmp://127.0.0.1:{rtmp}/live/shared"
        url = f"{server.url}/live/shared/index.m3u8"
        with publishing(["-f", "flv", target], seconds=60) as first:
            playlist_with_parts(url, segments=1)
            with publishing(["-f", "flv", target], seconds=60):
                # The first publisher is disconnected (ffmpeg ends long before its 60 s);
                # the stream goes on, from the second.
                first.wait(timeout=30)
                def taken() -> str | None:
                    text = httpx.get(url).text
                    return text if "#EXT-X-DISCONTINUITY" in text else None
                assert_valid(wait_until(taken, timeout=30, what="the takeover"), live=True)
                assert httpx.get(url).status_code == 200


def test_blocking_reloads_and_parts_over_http2(tmp_path: Path) -> None:
    """What Apple's players do: LL-HLS over HTTP/2, every parked reload and part on one
    TLS connection."""
    pki = make_pki(tmp_path / "pki")
    rtmp = free_port()
    config = {"tls": pki.settings, "live": {"segment_duration": 1.0},
              "rtmp": {"listen": f"127.0.0.1:{rtmp}"}, "srt": {"listen": None}}
    with HlsdServer(config, tmp_dir=tmp_path / "h2",
                    client_tls=pki.client_context()) as server, \
            publishing(["-f", "flv", f"rtmp://127.0.0.1:{rtmp}/live/h2"], seconds=40):
        url = f"{server.url}/live/h2/index.m3u8"

        async def parked() -> None:
            async with httpx.AsyncClient(http2=True, verify=pki.client_context(),
                                         timeout=10) as client:
                async def ready() -> str | None:
                    text = (await client.get(url)).text
                    return text if "#EXT-X-PART:" in text else None
                text = await eventually(ready, timeout=30)
                for _ in range(3):
                    msn, part = last_part(text)
                    # Ten players parked on the next part, multiplexed on one connection.
                    answers = await asyncio.gather(*(
                        client.get(url, params={"_HLS_msn": msn, "_HLS_part": part + 1})
                        for _ in range(10)))
                    assert {a.http_version for a in answers} == {"HTTP/2"}
                    assert {a.status_code for a in answers} == {200}
                    # Each holds the part it waited for (released together by it,
                    # unless a busy machine sent one after the next part came).
                    assert all(last_part(a.text) >= (msn, part + 1) for a in answers)
                    assert_valid(answers[0].text, live=True, previous=text)
                    text = answers[0].text
                    hint = re.search(r'PRELOAD-HINT:TYPE=PART,URI="([^"]+)"', text)
                    assert hint is not None
                    # The hinted part, asked for before it exists: held, then sent.
                    part_answer = await client.get(url.rsplit("/", 1)[0] + "/" + hint[1])
                    assert part_answer.status_code == 200
                    assert part_answer.http_version == "HTTP/2"
                    assert part_answer.content[4:8] == b"moof"

        asyncio.run(parked())
