"""The websocket CDN end to end: a real hlsd process, real websocket clients, real TS
fragments; what comes out is decoded by ffmpeg."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import m3u8
import pytest

from hlsd.hls.check import assert_valid
from tests._support import media as fx
from tests._support.hlsd_server import HlsdServer
from tests._support.polling import eventually
from tests._support.publisher import LivePublisher
from tests._support.wscdn import open_session, pull_all, push, token

from .conftest import TRANSPORTS, cdn_server, write_joined, ws_url

PUSH_SECRET = "push-secret-of-at-least-32-bytes!!"
PULL_SECRET = "pull-secret-of-at-least-32-bytes!!"


@pytest.fixture(scope="module", params=TRANSPORTS)
def hlsd(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    cfg = {"websocket": {"push_secret": PUSH_SECRET, "pull_secret": PULL_SECRET,
                         "fragment_buffer": 4, "write_timeout": "3s"},
           "live": {"window": 4, "idle_timeout": "3s"}}
    with cdn_server(cfg, request.param, tmp_dir=tmp_path_factory.mktemp("wscdn")) as server:
        yield server


async def _playlist(server: HlsdServer, stream: str) -> str:
    async with httpx.AsyncClient(timeout=10) as c:
        r = await c.get(f"{server.url}/live/{stream}/index.m3u8")
    return r.text if r.status_code == 200 else ""


async def _committed(server: HlsdServer, stream: str, count: int) -> bool:
    """The stream (its percent-encoded name) has taken `count` fragments."""
    text = await _playlist(server, stream)
    if not text:
        return False
    return m3u8.loads(text).media_sequence + text.count("#EXTINF") >= count


async def _ended(server: HlsdServer, stream: str) -> bool:
    return (await _playlist(server, stream)).rstrip().endswith("#EXT-X-ENDLIST")


async def publisher(server: HlsdServer, stream: str):  # type: ignore[no-untyped-def]
    ws, answer = await open_session(ws_url(server), "PUSH", stream,
                                     token(PUSH_SECRET, "PUSH", stream))
    assert answer == ("OK", {}), answer
    return ws


async def spectator(server: HlsdServer, stream: str, max_queue: int = 16,  # type: ignore[no-untyped-def]
                    **params: str):
    ws, answer = await open_session(ws_url(server), "PULL", stream,
                                    token(PULL_SECRET, "PULL", stream), max_queue, **params)
    assert answer == ("OK", {}), answer
    return ws


async def test_direct_push_and_pull(hlsd: HlsdServer, fragments: list[bytes],
                                    tmp_path: Path) -> None:
    pub = await publisher(hlsd, "room/cam-1")
    await push(pub, fragments[:2])
    await eventually(lambda: _committed(hlsd, "room%2Fcam-1", 2))
    # A late spectator gets what is buffered, then live, then CLOSE.
    viewer = await spectator(hlsd, "room/cam-1")
    receiving = asyncio.create_task(pull_all(viewer))
    await push(pub, fragments[2:8], pace=0.05)
    await pub.send("CLOSE")
    got = await receiving
    assert got.closed and got.error is None
    assert [data for _, data, _ in got.fragments] == fragments[:8]
    assert all(duration == 1.0 for duration, _, _ in got.fragments)
    joined = write_joined([data for _, data, _ in got.fragments], tmp_path / "pulled.ts")
    assert fx.decode_errors(str(joined)) == ""
    await pub.close()
    await viewer.close()


async def test_max_initial_fragments_past_the_buffer_is_clipped(
        hlsd: HlsdServer, fragments: list[bytes]) -> None:
    pub = await publisher(hlsd, "clip")
    await push(pub, fragments[:6])  # the buffer holds 4
    await eventually(lambda: _committed(hlsd, "clip", 6))
    many = await spectator(hlsd, "clip", max_initial_fragments="1000")
    none = await spectator(hlsd, "clip", max_initial_fragments="0")
    two = await spectator(hlsd, "clip", max_initial_fragments="2")
    await pub.send("CLOSE")
    assert [d for _, d, _ in (await pull_all(many)).fragments] == fragments[2:6]
    assert (await pull_all(none)).fragments == []
    assert [d for _, d, _ in (await pull_all(two)).fragments] == fragments[4:6]
    # The server is still there for everyone.
    viewer, answer = await open_session(ws_url(hlsd), "PULL", "clip",
                                        token(PULL_SECRET, "PULL", "clip"))
    assert answer == ("OK", {})
    await viewer.close()
    await pub.close()


async def test_a_websocket_stream_plays_as_http_hls(hlsd: HlsdServer,
                                                    fragments: list[bytes]) -> None:
    pub = await publisher(hlsd, "wscam")
    await push(pub, fragments[:6])
    async with httpx.AsyncClient(base_url=hlsd.url, timeout=10) as c:
        text = (await c.get("/live/wscam/index.m3u8")).text
        assert_valid(text, live=True)
        assert text.count("#EXTINF:") >= 4 and "#EXT-X-PROGRAM-DATE-TIME" in text
        await pub.send("CLOSE")
        await eventually(lambda: _ended(hlsd, "wscam"))
        ended = (await c.get("/live/wscam/index.m3u8")).text
        assert ended.rstrip().endswith("#EXT-X-ENDLIST")
    assert await asyncio.to_thread(fx.decode_errors, f"{hlsd.url}/live/wscam/index.m3u8") == ""
    await pub.close()


async def test_an_http_pushed_stream_pulls_over_the_websocket(
        hlsd: HlsdServer, tmp_path: Path) -> None:
    with LivePublisher(f"{hlsd.url}/ingest/http-cam", size="320x240", duration=8):
        async with httpx.AsyncClient(base_url=hlsd.url, timeout=10) as c:
            for _ in range(100):
                if (await c.get("/live/http-cam/index.m3u8")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
        viewer = await spectator(hlsd, "http-cam")
        got = await pull_all(viewer, until=4, timeout=20)
    assert len(got.fragments) >= 4
    joined = write_joined([data for _, data, _ in got.fragments], tmp_path / "http.ts")
    assert fx.decode_errors(str(joined)) == ""
    await viewer.close()


async def test_a_slow_spectator_delays_nobody(tmp_path: Path, fragments: list[bytes],
                                              transport: str) -> None:
    # A buffer deeper than the burst: the fast spectator is never skipped, even when this
    # test process is starved of CPU; the slow one is cut off by the write deadline.
    cfg = {"websocket": {"push_secret": PUSH_SECRET, "pull_secret": PULL_SECRET,
                         "fragment_buffer": 16, "write_timeout": "2s"}}
    with cdn_server(cfg, transport, tmp_dir=tmp_path) as hlsd:
        pub = await publisher(hlsd, "busy")
        # Never reads: its client stops taking messages in at once, so the socket backs up.
        slow = await spectator(hlsd, "busy", max_queue=1, max_initial_fragments="0")
        fast = await spectator(hlsd, "busy", max_initial_fragments="0")
        receiving = asyncio.create_task(pull_all(fast))
        big = [f * 60 for f in fragments[:10]]  # tens of MB: more than socket buffers hold
        started = time.monotonic()
        await push(pub, big)
        sent = time.monotonic() - started
        await pub.send("CLOSE")
        got = await receiving
        assert [d for _, d, _ in got.fragments] == big and got.closed
        assert sent < 5, f"the publisher was held up {sent:.1f}s"
        deadline = time.monotonic() + 15
        async with httpx.AsyncClient(base_url=hlsd.url, timeout=10) as c:
            while True:
                metrics = (await c.get("/metrics")).text
                counted = [line for line in metrics.splitlines()
                           if line.startswith((
                               'hlsd_reader_dropped_total{consumer="spectator"} ',
                               "hlsd_ws_write_timeouts_total "))]
                if any(float(line.split()[-1]) > 0 for line in counted):
                    break
                assert time.monotonic() < deadline, counted
                await asyncio.sleep(0.2)
        await slow.close()
        await pub.close()


async def test_bad_sessions_get_the_original_errors(hlsd: HlsdServer) -> None:
    url = ws_url(hlsd)
    cases = [
        ("PUSH", "cam", "not-a-jwt", {}, ("AUTH_ERROR", "Invalid auth token")),
        ("PUSH", "cam", token(PUSH_SECRET, "PULL", "cam"), {},
         ("AUTH_ERROR", "Invalid auth token")),
        ("PULL", "cam", token(PULL_SECRET, "PULL", "other"), {},
         ("AUTH_ERROR", "Invalid auth token")),
        ("PULL", "cam", token(PULL_SECRET, "PULL", "cam", ttl=-10), {},
         ("AUTH_ERROR", "Invalid auth token")),
        ("PULL", "", "", {}, ("PROTOCOL_ERROR", "Stream ID cannot be empty")),
        ("PULL", "x" * 256, "", {},
         ("PROTOCOL_ERROR", "Stream ID cannot be larger than 255 characters")),
        ("PULL", "cam", token(PULL_SECRET, "PULL", "cam"), {"max_initial_fragments": "x"},
         ("PROTOCOL_ERROR", "max_initial_fragments must be a valid integer number")),
    ]
    for action, stream, auth, params, expected in cases:
        ws, answer = await open_session(url, action, stream, auth, **params)
        assert answer[0] == "E" and (answer[1]["code"], answer[1]["message"]) == expected
        await ws.close()
    # Not published: OK then CLOSE, as the original.
    ws, answer = await open_session(url, "PULL", "nobody", token(PULL_SECRET, "PULL", "nobody"))
    assert answer == ("OK", {}) and (await asyncio.wait_for(ws.recv(), 5)) == "CLOSE"
    # Fragment errors end the push with the original's messages.
    for header, expected in (("F", "The fragment duration must be provided"),
                             ("F:duration=abc", "The fragment duration is not a valid "
                                                "floating point number"),
                             ("F:duration=-1", "The fragment duration must be positive")):
        pub = await publisher(hlsd, "bad-frag")
        await pub.send(header)
        answer = str(await asyncio.wait_for(pub.recv(), 5))
        assert answer.startswith("E:") and expected.replace(" ", "+") in answer
        await pub.close()
    pub = await publisher(hlsd, "bad-bin")
    await pub.send("F:duration=1")
    await pub.send("H")
    assert "Expected+binary+message" in str(await asyncio.wait_for(pub.recv(), 5))
    raw, answer = await open_session(url, "H", "", "")
    assert answer[0] == "E" and answer[1]["message"] == (
        "Expected action message (PUSH, PULL) as the first message")
    await raw.close()
    # A second publisher on a live id is refused (live.publish_policy: reject).
    first = await publisher(hlsd, "taken")
    ws, answer = await open_session(url, "PUSH", "taken", token(PUSH_SECRET, "PUSH", "taken"))
    assert answer[0] == "E" and answer[1]["code"] == "PUSH_ERROR"
    await first.close()


async def test_a_websocket_stream_can_be_recorded(hlsd: HlsdServer,
                                                  fragments: list[bytes]) -> None:
    # From before the first fragment: pushed faster than real time, the second fragment's
    # media time may already lie before "now" when a loaded machine answers late.
    began = datetime.now(UTC).isoformat()
    pub = await publisher(hlsd, "rec-ws")
    await push(pub, fragments[:1])
    async with httpx.AsyncClient(base_url=hlsd.url, timeout=30) as c:
        rid = (await c.post("/api/streams/rec-ws/recordings",
                            json={"start_time": began})).json()["id"]
        await push(pub, fragments[1:5], pace=0.05)
        await pub.send("CLOSE")
        await eventually(lambda: _ended(hlsd, "rec-ws"))
        stopped = await c.post(f"/api/recordings/{rid}/stop")
        assert stopped.status_code == 200
        text = (await c.get(f"/recordings/{rid}/index.m3u8")).text
    assert_valid(text)
    assert text.count("#EXTINF") >= 4
    assert await asyncio.to_thread(fx.decode_errors,
                                   f"{hlsd.url}/recordings/{rid}/index.m3u8") == ""
    await pub.close()


async def test_message_size_limits(tmp_path: Path, fragments: list[bytes],
                                   transport: str) -> None:
    cfg = {"websocket": {"max_binary_message": "4KB"}}
    with cdn_server(cfg, transport, tmp_dir=tmp_path) as server:
        url = ws_url(server)
        big, answer = await open_session(url, "PULL", "x" * 10, "t" * 2000)
        assert answer[0] == "E" and answer[1]["message"] == "Message too large"
        pub, answer = await open_session(url, "PUSH", "sized")
        assert answer == ("OK", {})
        await pub.send("F:duration=1")
        await pub.send(fragments[0])  # larger than 4 KB
        answer = str(await asyncio.wait_for(pub.recv(), 5))
        assert answer.startswith("E:") and "Message+too+large" in answer
        await big.close()
        await pub.close()


async def test_an_id_with_slashes_plays_percent_encoded(hlsd: HlsdServer,
                                                        fragments: list[bytes]) -> None:
    pub = await publisher(hlsd, "room/7/640x360-25~800")
    await push(pub, fragments[:4])
    name = "room%2F7%2F640x360-25~800"
    url = f"{hlsd.url}/live/{name}/index.m3u8"
    await eventually(lambda: _committed(hlsd, name, 4))
    async with httpx.AsyncClient(timeout=10) as c:
        text = (await c.get(url)).text
    assert_valid(text, live=True)
    await pub.send("CLOSE")
    await eventually(lambda: _ended(hlsd, name))
    assert await asyncio.to_thread(fx.decode_errors, url) == ""
    await pub.close()


async def test_heartbeats_go_out_and_silent_peers_are_dropped(tmp_path: Path,
                                                             transport: str) -> None:
    with cdn_server({"websocket": {"heartbeat": "0.5s", "first_message_timeout": "2s"}},
                    transport, tmp_dir=tmp_path) as server:
        pub, answer = await open_session(ws_url(server), "PUSH", "beats")
        assert answer == ("OK", {})
        started = time.monotonic()
        seen = []
        while True:  # the publisher sends nothing: after twice the heartbeat it is gone
            try:
                seen.append(await asyncio.wait_for(pub.recv(), 5))
            except Exception:
                break
        assert "H" in seen
        assert 0.8 < time.monotonic() - started < 4
        async with httpx.AsyncClient(base_url=server.url) as c:
            ended = (await c.get("/live/beats/index.m3u8"))
        assert ended.status_code == 404  # no segment was ever pushed
