"""The control's end of the edge link, against a real hlsd: a test-side edge speaks the
protocol through `hlsd.cluster.edge_protocol` over the `websockets` library."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from hlsd.cluster import edge_protocol as wire
from tests._support.hlsd_server import HlsdServer
from tests._support.media import FFMPEG, decode_errors
from tests._support.polling import eventually

KEY = "edge-secret-1"
REPORT = 0.5


@pytest.fixture(scope="module")
def hlsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    cfg = {"livemix": {"edge_keys": [KEY], "report_interval": REPORT},
           "live": {"window": 20}, "cluster": {"node_id": "control-1"}}
    with HlsdServer(cfg, tmp_dir=tmp_path_factory.mktemp("control")) as server:
        yield server


class Edge:
    """A test edge: every text frame the control sends is kept, acks gathered."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[wire.Message] = []
        self.acks: list[int] = []
        self._ids = 0
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in self.ws:
                message = wire.decode_text(frame)
                if message.name is wire.Name.SEGMENT_ACK:
                    self.acks.extend(message.fields["seqs"])
                else:
                    self.messages.append(message)
                if message.kind is wire.Kind.REQUEST:  # the control's commands
                    await self.ws.send(wire.Message(wire.Name.GENERAL_RESP, {
                        "success": True}, message.request_id).encode())

    async def request(self, name: wire.Name, **fields: Any) -> wire.Message:
        self._ids += 1
        rid = f"e{self._ids}"
        await self.ws.send(wire.Message(name, fields, rid).encode())
        return await eventually(lambda: next((m for m in self.messages
                                              if m.request_id == rid
                                              and m.kind is wire.Kind.RESPONSE), None),
                                what=f"an answer to {name}")  # type: ignore[no-any-return]

    async def hello(self, name: str, sources: list[str],
                    recordings: list[str] | None = None) -> wire.Message:
        return await self.request(
            wire.Name.HELLO, edge=name, protocol=1,
            local_timestamp=wire.iso(datetime.now(UTC)), sources=sources,
            recordings=recordings or [])

    async def report(self, source_id: str, name: str) -> None:
        await self.ws.send(wire.Message(wire.Name.REPORT_VIDEO_SOURCE_STATUS, {
            "source_id": source_id, "rr_target_id": name,
            "local_timestamp": wire.iso(datetime.now(UTC))}).encode())

    def commands(self, name: wire.Name) -> list[dict[str, Any]]:
        return [m.fields for m in self.messages if m.name is name]

    async def segment(self, meta: wire.SegmentMeta, data: bytes) -> None:
        await self.ws.send(wire.encode_segment(meta, data))


@contextlib.asynccontextmanager
async def edge_link(hlsd: HlsdServer, key: str = KEY) -> AsyncIterator[Edge]:
    url = hlsd.url.replace("http", "ws") + wire.PATH
    async with connect(url, subprotocols=[wire.SUBPROTOCOL],  # type: ignore[list-item]
                       additional_headers={"Authorization": f"Bearer {key}"},
                       max_size=None) as ws:
        yield Edge(ws)


def _ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _source(hlsd: HlsdServer, name: str, streaming: bool = True) -> str:
    with httpx.Client(base_url=hlsd.url, timeout=10) as c:
        sid: str = _ok(c.post("/v1/source", json={"name": name, "segment_len": 1}))[
            "source"]["id"]
        if streaming:
            _ok(c.put(f"/v1/source/{sid}/streaming", params={"new_state": "true"}))
    return sid


def _meta(name: str, seq: int, start: datetime, **more: Any) -> wire.SegmentMeta:
    return wire.SegmentMeta(seq=seq, source_name=name, name=f"seg{seq}.ts", start=start,
                            length=1.0, sequence=seq, **more)


async def test_a_missing_or_wrong_key_or_protocol_is_refused_403(hlsd: HlsdServer) -> None:
    url = hlsd.url.replace("http", "ws") + wire.PATH
    for headers, protocols in (({}, [wire.SUBPROTOCOL]),
                               ({"Authorization": "Bearer nope"}, [wire.SUBPROTOCOL]),
                               ({"Authorization": f"Bearer {KEY}"}, ["hlsd-edge.9"])):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, subprotocols=protocols,  # type: ignore[arg-type]
                               additional_headers=headers):
                pass
        assert refused.value.response.status_code == 403
    assert httpx.get(hlsd.url + wire.PATH).status_code == 426
    log = (hlsd.dir / "hlsd.log").read_text()
    assert log.count("a key that is not in livemix.edge_keys") == 1


async def test_hello_is_answered_and_reports_set_rr_target_until_offline(
        hlsd: HlsdServer) -> None:
    sid = _source(hlsd, "edge-hello")
    async with edge_link(hlsd) as edge:
        answer = await edge.hello("lan-1", ["edge-hello", "not-defined"])
        assert answer.name is wire.Name.HELLO_RESP and answer.fields["success"] is True
        assert answer.fields["report_interval"] == REPORT
        assert answer.fields["node"] == "control-1"
        state = await eventually(lambda: edge.commands(wire.Name.CHANGE_STREAM_STATE))
        assert state == [{"source_id": sid, "source_name": "edge-hello", "new_state": 1}]
        got = await edge.request(wire.Name.GET_VIDEO_SOURCE, target_name="edge-hello")
        assert got.fields["source"]["id"] == sid and got.fields["source"]["streaming"] == 1
        await edge.report(sid, "lan-1")
        with httpx.Client(base_url=hlsd.url, timeout=10) as c:
            shown = await eventually(lambda: (s := _ok(c.get(f"/v1/source/{sid}"))[
                "source"]).get("online") and s)
            assert shown["rr_target"] == "lan-1" and shown["local_time"].endswith("Z")
            started = time.monotonic()
            await eventually(lambda: not _ok(c.get(f"/v1/source/{sid}"))["source"][
                "online"], timeout=10)
            assert time.monotonic() - started >= 2 * REPORT
            listed = {s["id"]: s for s in _ok(c.get("/v1/source"))["sources"]}
            assert listed[sid]["rr_target"] == "lan-1"
            # The streaming flag changed by the API reaches the edge.
            _ok(c.put(f"/v1/source/{sid}/streaming", params={"new_state": "false"}))
            await eventually(lambda: edge.commands(wire.Name.CHANGE_STREAM_STATE)[-1][
                "new_state"] == -1, timeout=3)
            _ok(c.put(f"/v1/source/{sid}/streaming", params={"new_state": "true"}))
            await eventually(lambda: edge.commands(wire.Name.CHANGE_STREAM_STATE)[-1][
                "new_state"] == 1, timeout=3)


async def test_a_source_first_asked_for_when_streaming_is_told_to_stream(
        hlsd: HlsdServer) -> None:
    """Regression: the control took the `streaming` of its get_video_source answer as
    told, but the edge's flag is set by change_stream_state alone; a source switched on
    before its camera started (LiveMix's README order) was never forwarded."""
    sid = _source(hlsd, "edge-asked")
    async with edge_link(hlsd) as edge:
        await edge.hello("lan-asked", [])
        got = await edge.request(wire.Name.GET_VIDEO_SOURCE, target_name="edge-asked")
        assert got.fields["source"]["streaming"] == 1
        state = await eventually(lambda: edge.commands(wire.Name.CHANGE_STREAM_STATE),
                                 timeout=3)
        assert state == [{"source_id": sid, "source_name": "edge-asked", "new_state": 1}]


async def test_live_segments_play_and_a_resent_one_is_not_appended_again(
        hlsd: HlsdServer, fragments: list[bytes]) -> None:
    _source(hlsd, "edge-live")
    start = datetime.now(UTC) - timedelta(seconds=10)
    url = f"{hlsd.url}/live/edge-live/index.m3u8"
    async with edge_link(hlsd) as edge:
        await edge.hello("lan-live", ["edge-live"])
        for i, data in enumerate(fragments[:6]):
            await edge.segment(_meta("edge-live", i + 1, start + timedelta(seconds=i),
                                     live=True), data)
        await eventually(lambda: len(edge.acks) == 6, what="six acks")
        await edge.segment(_meta("edge-live", 3, start + timedelta(seconds=2), live=True),
                           fragments[2])
        await eventually(lambda: len(edge.acks) == 7)
        async with httpx.AsyncClient(timeout=10) as c:
            playlist = (await c.get(url)).text
        assert playlist.count("#EXTINF") == 6, playlist
        assert "#EXT-X-PROGRAM-DATE-TIME:" + start.isoformat()[:19] in playlist
    async with httpx.AsyncClient(timeout=10) as c:  # the link closed: the stream ends
        await eventually(lambda: _ended(c, url), what="ENDLIST")
    assert await asyncio.to_thread(decode_errors, url) == ""


async def _ended(c: httpx.AsyncClient, url: str) -> bool:
    return "#EXT-X-ENDLIST" in (await c.get(url)).text


async def test_a_recording_reaching_back_is_fed_by_the_edge_once(
        hlsd: HlsdServer, fragments: list[bytes]) -> None:
    sid = _source(hlsd, "edge-rec", streaming=False)
    base = datetime.now(UTC) - timedelta(seconds=300)
    async with edge_link(hlsd) as edge, httpx.AsyncClient(base_url=hlsd.url,
                                                          timeout=10) as c:
        await edge.hello("lan-rec", ["edge-rec"])
        await edge.report(sid, "lan-rec")  # the source is now this edge's
        await eventually(lambda: _reported(c, sid))
        r = await c.post(f"/v1/source/{sid}/recording",
                         json={"start_time_epoch": int(base.timestamp())})
        rid = _ok(r)["recording"]["id"]
        started = await eventually(lambda: edge.commands(wire.Name.START_RECORDING),
                                   timeout=3)
        assert started[0]["session"]["id"] == rid
        assert started[0]["source_name"] == "edge-rec"
        for i, data in enumerate(fragments[:5]):
            await edge.segment(_meta("edge-rec", 100 + i, base + timedelta(seconds=i + 1),
                                     recordings=(rid,)), data)
        await eventually(lambda: sorted(edge.acks) == [100, 101, 102, 103, 104])
        await edge.segment(_meta("edge-rec", 102, base + timedelta(seconds=3),
                                 recordings=(rid,)), fragments[2])
        await eventually(lambda: edge.acks.count(102) == 2)
        rows = _ok(await c.get(f"/v1/recording/{rid}/segment"))["segments"]
        assert len(rows) == 5
        assert rows[0]["start"].startswith((base + timedelta(seconds=1)).isoformat()[:19])
        _ok(await c.post(f"/v1/recording/{rid}/stop"))
        stopped = await eventually(lambda: edge.commands(wire.Name.STOP_RECORDING),
                                   timeout=3)
        assert stopped[0]["session_id"] == rid
        # A live stream of this source was never made from the hub.
        assert (await c.get("/live/edge-rec/index.m3u8")).status_code == 404
    url = f"{hlsd.url}/v1/vod/recording/{rid}/vid.m3u8"
    assert await asyncio.to_thread(decode_errors, url) == ""


async def test_deleting_a_source_closes_its_recordings_on_the_edge(
        hlsd: HlsdServer) -> None:
    sid = _source(hlsd, "edge-gone", streaming=True)
    async with edge_link(hlsd) as edge, httpx.AsyncClient(base_url=hlsd.url,
                                                          timeout=10) as c:
        await edge.hello("lan-gone", ["edge-gone"])
        await edge.report(sid, "lan-gone")
        await eventually(lambda: _reported(c, sid))
        _ok(await c.post(f"/v1/source/{sid}/recording", json={}))
        await eventually(lambda: edge.commands(wire.Name.START_RECORDING), timeout=3)
        _ok(await c.delete(f"/v1/source/{sid}"))
        closed = await eventually(
            lambda: edge.commands(wire.Name.CLOSE_ALL_ACTIVE_RECORDING), timeout=3)
        assert closed[0]["source_id"] == sid
        assert wire.parse_time(closed[0]["end_time"]) <= datetime.now(UTC)
        off = edge.commands(wire.Name.CHANGE_STREAM_STATE)
        assert off[-1]["new_state"] == -1


async def _reported(c: httpx.AsyncClient, sid: str) -> bool:
    return bool((await c.get(f"/v1/source/{sid}")).json()["source"].get("rr_target"))


async def test_a_malformed_frame_closes_1002_and_others_go_on(hlsd: HlsdServer) -> None:
    sid = _source(hlsd, "edge-other")
    async with edge_link(hlsd) as good, edge_link(hlsd) as bad:
        await good.hello("lan-good", ["edge-other"])
        await bad.hello("lan-bad", [])
        await bad.ws.send("{not json")
        await eventually(lambda: bad.ws.close_code is not None, what="the close")
        assert bad.ws.close_code == 1002
        got = await good.request(wire.Name.GET_VIDEO_SOURCE, target_name="edge-other")
        assert got.fields["source"]["id"] == sid
    async with edge_link(hlsd) as again:  # the name is free again, and so is the node
        assert (await again.hello("lan-bad", [])).fields["success"] is True
    async with edge_link(hlsd) as first, edge_link(hlsd) as second:
        await first.hello("lan-twin", [])
        await second.ws.send(wire.Message(wire.Name.HELLO, {
            "edge": "lan-twin", "protocol": 1, "sources": [], "recordings": []},
            "h1").encode())
        await eventually(lambda: second.ws.close_code is not None)
        assert second.ws.close_code == 1008


@pytest.fixture(scope="module")
def fmp4(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[bytes]]:
    """An init section and four one-second fMP4 segments of one encode."""
    folder = tmp_path_factory.mktemp("fmp4")
    subprocess.run([FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25",
                    "-f", "lavfi", "-i", "sine=f=440", "-t", "4", "-c:v", "libx264",
                    "-g", "25", "-c:a", "aac", "-f", "hls", "-hls_time", "1",
                    "-hls_segment_type", "fmp4", "-hls_list_size", "0",
                    "-hls_fmp4_init_filename", "init.mp4",
                    "-hls_segment_filename", str(folder / "s%d.m4s"),
                    str(folder / "index.m3u8")], check=True)
    found = sorted(folder.glob("s*.m4s"), key=lambda p: int(p.stem[1:]))
    return (folder / "init.mp4").read_bytes(), [p.read_bytes() for p in found]


async def test_fmp4_segments_with_their_init_section_play_live_and_replay(
        hlsd: HlsdServer, fmp4: tuple[bytes, list[bytes]]) -> None:
    init, segments = fmp4
    sid = _source(hlsd, "edge-fmp4")
    base = datetime.now(UTC) - timedelta(seconds=20)
    async with edge_link(hlsd) as edge, httpx.AsyncClient(base_url=hlsd.url,
                                                          timeout=10) as c:
        await edge.hello("lan-fmp4", ["edge-fmp4"])
        await edge.report(sid, "lan-fmp4")
        await eventually(lambda: _reported(c, sid))
        rid = _ok(await c.post(f"/v1/source/{sid}/recording", json={
            "start_time_epoch": int(base.timestamp())}))["recording"]["id"]
        await eventually(lambda: edge.commands(wire.Name.START_RECORDING), timeout=3)
        missing = _meta("edge-fmp4", 1, base + timedelta(seconds=1), init="i1",
                        content_type="video/iso.segment", live=True)
        await edge.ws.send(wire.encode_init(wire.InitMeta("i1", "edge-fmp4"), init))
        for i, data in enumerate(segments):
            await edge.segment(wire.SegmentMeta(
                seq=i + 1, source_name="edge-fmp4", name=f"s{i}.m4s",
                start=base + timedelta(seconds=i + 1), length=1.0, sequence=i,
                content_type="video/iso.segment", init="i1", live=True,
                recordings=(rid,)), data)
        await eventually(lambda: len(edge.acks) == len(segments))
        playlist = (await c.get("/live/edge-fmp4/index.m3u8")).text
        assert "#EXT-X-MAP:" in playlist and playlist.count("#EXTINF") == len(segments)
        _ok(await c.post(f"/v1/recording/{rid}/stop"))
        # A segment naming an init section this connection never sent breaks the protocol.
        await edge.segment(dataclasses.replace(missing, init="nope"), segments[0])
        await eventually(lambda: edge.ws.close_code is not None)
        assert edge.ws.close_code == 1002
    for url in (f"{hlsd.url}/live/edge-fmp4/index.m3u8",
                f"{hlsd.url}/v1/vod/recording/{rid}/vid.m3u8"):
        async with httpx.AsyncClient(timeout=10) as c:
            await eventually(lambda u=url: _ended(c, u), what=f"ENDLIST at {url}")
        assert await asyncio.to_thread(decode_errors, url) == "", url
