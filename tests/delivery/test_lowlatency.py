"""Low-Latency HLS on ``/live/…``, over HTTP through the playback stack hlsd serves it
with (`Playback` → `LiveResolver` → the responder), fed real fMP4 fragments through a
producer as a segmenter would: LL tags, blocking reloads (released together by the part
they wait for), their refusals, delta updates, hinted parts, rendition reports, caching
and query tokens; a stream of whole segments plays as it always did."""

from __future__ import annotations

import asyncio
import struct
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import m3u8
import pytest

from hlsd.auth.tokens import TokenSigner
from hlsd.delivery import Cors, Mount, Playback, TokenGate
from hlsd.delivery.live import PREFIX, LiveResolver
from hlsd.hls.check import assert_valid
from hlsd.infra.backends import Backends
from hlsd.streams import (
    HubProducer,
    InitSegment,
    LiveRendition,
    PublisherKind,
    PublishPolicy,
    StreamHub,
)
from tests._support.clock import FakeClock
from tests._support.media import FFMPEG
from tests._support.polling import eventually

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
PART = 0.25
PER_SEGMENT = 4  # a keyframe every second: one segment of four parts


@dataclass(frozen=True)
class Fmp4:
    init: bytes
    fragments: list[bytes]
    """moof + mdat, a quarter second each; every fourth begins with a keyframe."""


@pytest.fixture(scope="module")
def fmp4(tmp_path_factory: pytest.TempPathFactory) -> Fmp4:
    out = tmp_path_factory.mktemp("fmp4") / "f.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-f", "lavfi",
                    "-i", "testsrc2=size=160x120:rate=20:duration=12", "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "20",
                    "-keyint_min", "20", "-sc_threshold", "0", "-bf", "0",
                    "-movflags", "+frag_keyframe+empty_moov+default_base_moof",
                    "-frag_duration", "250000", str(out)], check=True)
    data, at, boxes = out.read_bytes(), 0, []
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        boxes.append((kind, data[at:at + size]))
        at += size
    init = b"".join(box for kind, box in boxes[:2])
    assert [kind for kind, _ in boxes[:2]] == [b"ftyp", b"moov"]
    pairs = [b for b in boxes[2:] if b[0] in (b"moof", b"mdat")]
    fragments = [pairs[n][1] + pairs[n + 1][1] for n in range(0, len(pairs), 2)]
    assert len(fragments) == 48
    return Fmp4(init, fragments)


class Feed:
    """A segmenter's writes: a part per fragment; a keyframe closes the segment before."""

    def __init__(self, producer: HubProducer, media: Fmp4, variant: str = "") -> None:
        self.producer, self.media, self.variant = producer, media, variant
        self.count = 0

    def part(self) -> None:
        n = self.count
        keyframe = n % PER_SEGMENT == 0
        if keyframe and n:
            self.producer.close_segment(self.variant)
        made = self.producer.append_part(
            self.variant, duration=PART, data=self.media.fragments[n % 48],
            program_date_time=T0 + timedelta(seconds=n * PART), independent=keyframe,
            part_target=PART, target_duration=1,
            init=InitSegment(name="init.mp4", data=self.media.init))
        assert made is not None
        self.count += 1

    def parts(self, n: int) -> None:
        for _ in range(n):
            self.part()


class Live:
    def __init__(self, *, gate: TokenGate | None = None, **options: object) -> None:
        clock = FakeClock()
        self.hub = StreamHub(window=12, policy=PublishPolicy.REJECT, idle_timeout=60,
                             retention=60, max_streams=8, clock=clock, wall_clock=clock.wall)
        resolver = LiveResolver(hub=self.hub, gate=gate, **options)  # type: ignore[arg-type]
        cors = Cors(("*",), methods=["GET"], max_age=1, request_headers=[], exposed=[])
        self.app = Playback(_framework, mounts=[Mount(PREFIX, resolver)], cors=cors,
                            backends=Backends())

    def producer(self, name: str = "cam") -> HubProducer:
        producer = self.hub.producer(name, "encoder", kind=PublisherKind.RTMP)
        producer.publish()
        return producer

    def rendition_of(self, name: str = "cam", variant: str = "") -> LiveRendition:
        stream = self.hub.get(name)
        assert stream is not None
        return stream.renditions[variant]


async def _framework(scope: object, receive: object, send: object) -> None:
    raise AssertionError("only /live/ is asked for")


@pytest.fixture
async def live() -> AsyncIterator[tuple[Live, httpx.AsyncClient]]:
    server = Live(max_hold=2.0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app),
                                 base_url="http://hlsd") as client:
        yield server, client


async def test_the_playlist_has_the_low_latency_tags_and_the_parts_play(
        live: tuple[Live, httpx.AsyncClient], fmp4: Fmp4, tmp_path: Path) -> None:
    server, client = live
    feed = Feed(server.producer(), fmp4)
    feed.parts(4 * PER_SEGMENT + 2)
    r = await client.get("/live/cam/index.m3u8")
    assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=1"
    text = r.text
    assert_valid(text, live=True)
    assert "#EXT-X-PART-INF:PART-TARGET=0.25\n" in text
    assert "CAN-BLOCK-RELOAD=YES" in text and "PART-HOLD-BACK=0.75" in text
    parsed = m3u8.loads(text)
    whole = [s.uri for s in parsed.segments if s.uri]
    assert len(whole) == 4  # EXTINF for closed segments only: classic players play these
    hint = parsed.preload_hint.uri
    opened = [p for p in parsed.segments[-1].parts]
    assert [p.independent for p in opened] == ["YES", None]
    # Every listed part of the last whole segment, fetched, is that segment's bytes.
    last = parsed.segments[-2]
    pieces = [(await client.get(f"/live/cam/{p.uri}")).content for p in last.parts]
    segment = (await client.get(f"/live/cam/{last.uri}")).content
    assert b"".join(pieces) == segment and len(pieces) == PER_SEGMENT
    # They decode, after the init section.
    init = (await client.get(f"/live/cam/{parsed.segment_map[0].uri}")).content
    (tmp_path / "p.mp4").write_bytes(init + b"".join(pieces))
    decoded = subprocess.run([FFMPEG, "-v", "error", "-i", str(tmp_path / "p.mp4"),
                              "-f", "null", "-"], capture_output=True, text=True)
    assert decoded.returncode == 0 and decoded.stderr == ""
    part = await client.get(f"/live/cam/{opened[0].uri}")
    assert part.status_code == 200 and part.headers["content-type"] == "video/iso.segment"
    assert part.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert hint not in [p.uri for s in parsed.segments for p in s.parts]


async def test_a_blocking_reload_is_released_by_the_part_with_every_other(
        live: tuple[Live, httpx.AsyncClient], fmp4: Fmp4) -> None:
    server, client = live
    feed = Feed(server.producer(), fmp4)
    feed.parts(2 * PER_SEGMENT + 1)  # segment 2 open, with part 0
    rendition = server.rendition_of()
    stream = server.hub.get("cam")
    assert stream is not None
    url = "/live/cam/index.m3u8?_HLS_msn=2&_HLS_part=1"
    waiters = [asyncio.ensure_future(client.get(url)) for _ in range(25)]
    await eventually(lambda: stream.waiting == 25, what="25 parked requests")
    releases = rendition.changes.releases
    assert not any(w.done() for w in waiters)
    feed.part()  # part 1 of segment 2
    answers = await asyncio.gather(*waiters)
    assert rendition.changes.releases == releases + 1
    assert stream.waiting == 0
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1  # one version, rendered once
    assert '#EXT-X-PART:DURATION=0.25,URI="' in answers[0].text
    assert answers[0].text.count("#EXT-X-PART:") >= 2 * PER_SEGMENT + 2
    assert answers[0].headers["cache-control"] == "public, max-age=6"
    # Asked for a part past segment 2's last (it closed with 4): segment 3's first.
    feed.parts(PER_SEGMENT - 2)
    held = asyncio.ensure_future(client.get("/live/cam/index.m3u8?_HLS_msn=2&_HLS_part=7"))
    await eventually(lambda: stream.waiting == 1)
    feed.part()  # closes segment 2, opens segment 3
    answer = await held
    assert answer.status_code == 200 and m3u8.loads(answer.text).segments[-1].parts
    # Without _HLS_part: the whole segment.
    held = asyncio.ensure_future(client.get("/live/cam/index.m3u8?_HLS_msn=3"))
    await eventually(lambda: stream.waiting == 1)
    feed.parts(PER_SEGMENT - 1)
    assert not held.done() and stream.waiting == 1
    feed.part()  # the next keyframe closes segment 3
    assert (await held).status_code == 200
    # What the playlist already holds is answered at once.
    now = await client.get("/live/cam/index.m3u8?_HLS_msn=0&_HLS_part=0")
    assert now.status_code == 200 and stream.waiting == 0


@pytest.mark.parametrize(("query", "reason"), [
    ("_HLS_msn=5", "two segments"),
    ("_HLS_part=0", "needs _HLS_msn"),
    ("_HLS_msn=abc", "decimal integer"),
    ("_HLS_msn=-1", "decimal integer"),
    ("_HLS_msn=1&_HLS_part=" + "9" * 21, "decimal integer"),
    ("_HLS_msn=2&_HLS_part=14", "Advance Part Limit"),
    ("_HLS_msn=3&_HLS_part=12", "Advance Part Limit"),
])
async def test_bad_directives_are_400(live: tuple[Live, httpx.AsyncClient], fmp4: Fmp4,
                                      query: str, reason: str) -> None:
    server, client = live
    Feed(server.producer(), fmp4).parts(2 * PER_SEGMENT + 1)  # newest: segment 2, part 0
    r = await client.get(f"/live/cam/index.m3u8?{query}")
    assert r.status_code == 400 and reason in r.json()["error"]


async def test_a_hold_past_its_bound_and_too_many_waiters_are_503(fmp4: Fmp4) -> None:
    server = Live(max_hold=0.05, max_waiters=2)
    Feed(server.producer(), fmp4).parts(PER_SEGMENT + 1)
    stream = server.hub.get("cam")
    assert stream is not None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app),
                                 base_url="http://hlsd") as client:
        late = await client.get("/live/cam/index.m3u8?_HLS_msn=1&_HLS_part=1")
        assert late.status_code == 503 and "three target durations" in late.json()["error"]
    server = Live(max_hold=5.0, max_waiters=2)
    feed = Feed(server.producer(), fmp4)
    feed.parts(PER_SEGMENT + 1)
    stream = server.hub.get("cam")
    assert stream is not None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app),
                                 base_url="http://hlsd") as client:
        url = "/live/cam/index.m3u8?_HLS_msn=1&_HLS_part=1"
        parked = [asyncio.ensure_future(client.get(url)) for _ in range(2)]
        await eventually(lambda: stream.waiting == 2)
        full = await client.get(url)
        assert full.status_code == 503 and full.headers["retry-after"] == "1"
        feed.part()
        assert [(await p).status_code for p in parked] == [200, 200]


async def test_a_stream_that_ends_while_held_answers_its_last_playlist(
        live: tuple[Live, httpx.AsyncClient], fmp4: Fmp4) -> None:
    server, client = live
    producer = server.producer()
    Feed(producer, fmp4).parts(PER_SEGMENT + 1)
    stream = server.hub.get("cam")
    assert stream is not None
    held = asyncio.ensure_future(client.get("/live/cam/index.m3u8?_HLS_msn=1&_HLS_part=3"))
    await eventually(lambda: stream.waiting == 1)
    producer.end()
    answer = await held
    assert answer.status_code == 200 and "#EXT-X-ENDLIST" in answer.text
    assert "#EXT-X-PRELOAD-HINT" not in answer.text
    assert_valid(answer.text, live=False)
    # Directives are ignored once the playlist has ENDLIST.
    again = await client.get("/live/cam/index.m3u8?_HLS_msn=9&_HLS_part=3&_HLS_skip=YES")
    assert again.status_code == 200 and again.content == answer.content


async def test_delta_updates_alone_and_with_a_blocking_reload(
        live: tuple[Live, httpx.AsyncClient], fmp4: Fmp4) -> None:
    server, client = live
    feed = Feed(server.producer(), fmp4)
    feed.parts(10 * PER_SEGMENT + 1)  # segments 0-9 whole, 10 open
    full = (await client.get("/live/cam/index.m3u8")).text
    delta = await client.get("/live/cam/index.m3u8?_HLS_skip=YES")
    assert delta.headers["cache-control"] == "public, max-age=1"
    # Segments ending more than 6 s (the Skip Boundary) before the last whole one: 0-2.
    assert "#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n" in delta.text
    assert_valid(delta.text, live=True, previous=full)
    skipped = {s.uri for s in m3u8.loads(full).segments} - {
        s.uri for s in m3u8.loads(delta.text).segments}
    assert len(skipped) == 3
    stream = server.hub.get("cam")
    assert stream is not None
    held = asyncio.ensure_future(
        client.get("/live/cam/index.m3u8?_HLS_msn=10&_HLS_part=1&_HLS_skip=v2"))
    await eventually(lambda: stream.waiting == 1)
    feed.part()
    both = await held
    assert both.status_code == 200 and both.headers["cache-control"] == "public, max-age=6"
    assert '#EXT-X-SKIP:SKIPPED-SEGMENTS=3,RECENTLY-REMOVED-DATERANGES=""\n' in both.text
    assert "#EXT-X-VERSION:10\n" in both.text


async def test_the_hinted_part_is_held_until_it_exists(
        live: tuple[Live, httpx.AsyncClient], fmp4: Fmp4) -> None:
    server, client = live
    feed = Feed(server.producer(), fmp4)
    feed.parts(PER_SEGMENT + 1)
    stream = server.hub.get("cam")
    assert stream is not None
    hint = m3u8.loads((await client.get("/live/cam/index.m3u8")).text).preload_hint.uri
    ahead = hint.replace(f"-p{feed.count}.", f"-p{feed.count + 1}.")
    assert (await client.get(f"/live/cam/{ahead}")).status_code == 404  # never hinted
    held = asyncio.ensure_future(client.get(f"/live/cam/{hint}"))
    await eventually(lambda: stream.waiting == 1)
    feed.part()
    answer = await held
    assert answer.status_code == 200 and answer.content == fmp4.fragments[PER_SEGMENT + 1]
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_a_hinted_part_that_never_comes_is_404_after_a_bounded_wait(
        fmp4: Fmp4) -> None:
    server = Live(max_hold=0.05)
    Feed(server.producer(), fmp4).parts(PER_SEGMENT + 1)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app),
                                 base_url="http://hlsd") as client:
        hint = m3u8.loads((await client.get("/live/cam/index.m3u8")).text).preload_hint.uri
        r = await client.get(f"/live/cam/{hint}")
        assert r.status_code == 404 and "not produced" in r.json()["error"]


async def test_each_variant_reports_the_others(
        live: tuple[Live, httpx.AsyncClient], fmp4: Fmp4) -> None:
    server, client = live
    producer = server.producer()
    high, low = Feed(producer, fmp4, "high"), Feed(producer, fmp4, "low")
    high.parts(2 * PER_SEGMENT + 2)
    low.parts(2 * PER_SEGMENT + 1)
    master = (await client.get("/live/cam/index.m3u8")).text
    assert sorted(p.uri for p in m3u8.loads(master).playlists) == [
        "high/index.m3u8", "low/index.m3u8"]
    high_text = (await client.get("/live/cam/high/index.m3u8")).text
    low_text = (await client.get("/live/cam/low/index.m3u8")).text
    assert ('#EXT-X-RENDITION-REPORT:URI="../low/index.m3u8",LAST-MSN=2,LAST-PART=0\n'
            in high_text) and "high/index" not in high_text
    assert ('#EXT-X-RENDITION-REPORT:URI="../high/index.m3u8",LAST-MSN=2,LAST-PART=1\n'
            in low_text)
    assert_valid(high_text, live=True)
    low.part()  # the other rendition moved: this playlist's report follows
    again = (await client.get("/live/cam/high/index.m3u8")).text
    assert 'URI="../low/index.m3u8",LAST-MSN=2,LAST-PART=1' in again


async def test_gated_answers_stay_private_and_query_tokens_reach_every_uri(
        fmp4: Fmp4) -> None:
    signer = TokenSigner(b"k" * 32)
    token, _ = signer.issue_subject_token("live/cam", 600)
    server = Live(gate=TokenGate(signer), max_hold=2.0)
    producer = server.producer()
    high, low = Feed(producer, fmp4, "high"), Feed(producer, fmp4, "low")
    high.parts(PER_SEGMENT + 2)
    low.parts(PER_SEGMENT + 1)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app),
                                 base_url="http://hlsd") as client:
        assert (await client.get("/live/cam/high/index.m3u8")).status_code == 401
        r = await client.get(f"/live/cam/high/index.m3u8?_HLS_msn=1&_HLS_part=1&token={token}")
        assert r.status_code == 200 and r.headers["cache-control"] == "private, max-age=6"
        parsed = m3u8.loads(r.text)
        uris = [p.uri for s in parsed.segments for p in s.parts]
        uris += [parsed.preload_hint.uri, *(rr.uri for rr in parsed.rendition_reports)]
        assert uris and all(uri.endswith(f"?token={token}") for uri in uris)
        assert (await client.get(f"/live/cam/high/{uris[0]}")).status_code == 200
        plain = await client.get("/live/cam/high/index.m3u8",
                                 headers={"x-gostreamer-token": token})
        assert plain.headers["cache-control"] == "private, max-age=1"


async def test_a_stream_of_whole_segments_plays_as_it_always_did(
        live: tuple[Live, httpx.AsyncClient]) -> None:
    server, client = live
    producer = server.producer()
    for n in range(3):
        producer.append("", duration=2.0, data=b"ts" * 100, extension="ts", target_hint=2,
                        program_date_time=T0 + timedelta(seconds=2 * n))
    stream = server.hub.get("cam")
    assert stream is not None
    expected = stream.renditions[""].playlist()
    assert expected is not None
    for query in ("", "?_HLS_msn=7&_HLS_part=1", "?_HLS_skip=YES", "?_HLS_part=x"):
        r = await client.get(f"/live/cam/index.m3u8{query}")
        assert r.status_code == 200 and r.content == expected.body
        assert r.headers["cache-control"] == "public, max-age=1"
    assert "#EXT-X-PART" not in expected.body.decode() and stream.waiting == 0
    assert (await client.get("/live/cam/abc-p0.m4s")).status_code == 404
