"""Bounds on what a websocket client sends, against a real hlsd: every value past them
gets the protocol's ``E:`` message, and the node carries on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import jwt as pyjwt
import pytest

from tests._support.hlsd_server import HlsdServer
from tests._support.wscdn import open_session, pull_all, push, token

from .conftest import TRANSPORTS, cdn_server, ws_url

PUSH_SECRET = "push-secret-of-at-least-64-bytes-so-that-hs512-has-a-full-key!!!"
PULL_SECRET = "pull-secret-of-at-least-64-bytes-so-that-hs512-has-a-full-key!!!"
BAD_ID = ("PROTOCOL_ERROR", "Stream ID cannot have an empty, '.' or '..' part between "
                            "slashes, nor control or format characters")


@pytest.fixture(scope="module", params=TRANSPORTS)
def hlsd(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    cfg = {"websocket": {"push_secret": PUSH_SECRET, "pull_secret": PULL_SECRET},
           "live": {"window": 4}}
    with cdn_server(cfg, request.param,
                    tmp_dir=tmp_path_factory.mktemp("ws-bounds")) as server:
        yield server


async def _still_serves(server: HlsdServer, stream: str, fragments: list[bytes]) -> None:
    """A fresh publisher and spectator work after the refusal."""
    pub, answer = await open_session(ws_url(server), "PUSH", stream,
                                     token(PUSH_SECRET, "PUSH", stream))
    assert answer == ("OK", {}), answer
    await push(pub, fragments[:2])
    spectator, answer = await open_session(ws_url(server), "PULL", stream,
                                           token(PULL_SECRET, "PULL", stream))
    assert answer == ("OK", {}), answer
    got = await pull_all(spectator, until=2, timeout=10)
    assert [f[1] for f in got.fragments] == fragments[:2]
    await pub.close()
    await spectator.close()


@pytest.mark.parametrize("duration", ["1e308", "3600.5", "1e20"])
async def test_a_fragment_duration_past_the_bound_is_a_protocol_error(
        hlsd: HlsdServer, fragments: list[bytes], duration: str) -> None:
    stream = f"long-{duration}"
    pub, answer = await open_session(ws_url(hlsd), "PUSH", stream,
                                     token(PUSH_SECRET, "PUSH", stream))
    assert answer == ("OK", {})
    await pub.send(f"F:duration={duration}")
    await pub.send(fragments[0])
    answer = str(await asyncio.wait_for(pub.recv(), 5))
    assert answer.startswith("E:"), answer
    assert "code=FRAGMENT_METADATA_ERROR" in answer
    assert "at+most+3600+seconds" in answer
    await pub.close()
    await _still_serves(hlsd, f"after-{duration}", fragments)


async def test_the_longest_duration_allowed_is_taken(hlsd: HlsdServer,
                                                     fragments: list[bytes]) -> None:
    pub, answer = await open_session(ws_url(hlsd), "PUSH", "hour",
                                     token(PUSH_SECRET, "PUSH", "hour"))
    assert answer == ("OK", {})
    await push(pub, fragments[:1], duration=3600.0)
    spectator, answer = await open_session(ws_url(hlsd), "PULL", "hour",
                                           token(PULL_SECRET, "PULL", "hour"))
    got = await pull_all(spectator, until=1, timeout=10)
    assert [f[0] for f in got.fragments] == [3600.0]
    await pub.close()
    await spectator.close()


@pytest.mark.parametrize("stream", [
    "../../etc", "..", ".", "a/../b", "a/./b", "a//b", "/a", "a/", "/",
    "a\x00b", "a\nb", "a\rb", "a\x1bb", "a\x7fb", "a\x85b", "a\u2028b",
    "a\u202eb", "a\u200bb", "\ufeffa",
])
@pytest.mark.parametrize("action", ["PUSH", "PULL"])
async def test_unsafe_stream_ids_are_refused(hlsd: HlsdServer, action: str,
                                             stream: str) -> None:
    secret = PUSH_SECRET if action == "PUSH" else PULL_SECRET
    ws, answer = await open_session(ws_url(hlsd), action, stream, token(secret, action, stream))
    assert answer[0] == "E", answer
    assert (answer[1]["code"], answer[1]["message"]) == BAD_ID
    await ws.close()


@pytest.mark.parametrize("stream", ["a/b/c", "room/cam", "é" * 60, "x" * 255,
                                    "a b", "a%2Fb", "..a", "a..", "a/.b/c.", "🎥/1"])
async def test_the_originals_ids_with_slashes_are_kept(hlsd: HlsdServer,
                                                       stream: str) -> None:
    pub, answer = await open_session(ws_url(hlsd), "PUSH", stream,
                                     token(PUSH_SECRET, "PUSH", stream))
    assert answer == ("OK", {}), answer
    await pub.close()


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
@pytest.mark.parametrize("action", ["PUSH", "PULL"])
async def test_only_hs256_tokens_are_taken(hlsd: HlsdServer, fragments: list[bytes],
                                           algorithm: str, action: str) -> None:
    stream = f"alg-{algorithm}-{action}"
    secret = PUSH_SECRET if action == "PUSH" else PULL_SECRET
    if action == "PULL":
        pub, answer = await open_session(ws_url(hlsd), "PUSH", stream,
                                         token(PUSH_SECRET, "PUSH", stream))
        await push(pub, fragments[:1])
    other = pyjwt.encode({"sub": f"{action}:{stream}", "exp": int(time.time() + 600)},
                         secret, algorithm=algorithm)
    ws, answer = await open_session(ws_url(hlsd), action, stream, other)
    assert answer[0] == "E", answer
    assert (answer[1]["code"], answer[1]["message"]) == ("AUTH_ERROR", "Invalid auth token")
    await ws.close()
    # The same claims, signed with HS256, are taken.
    ws, answer = await open_session(ws_url(hlsd), action, stream, token(secret, action, stream))
    assert answer == ("OK", {}), answer
    await ws.close()
    if action == "PULL":
        await pub.close()


async def test_a_fragment_longer_than_the_target_is_dropped_and_the_playlist_stays_valid(
        hlsd: HlsdServer, fragments: list[bytes]) -> None:
    import httpx

    from hlsd.hls.check import assert_valid

    stream = "gop-jump"
    pub, answer = await open_session(ws_url(hlsd), "PUSH", stream,
                                     token(PUSH_SECRET, "PUSH", stream))
    assert answer == ("OK", {})
    await push(pub, fragments[:2], duration=2.0)  # the target is 3 s (headroom 1.5)
    await push(pub, fragments[2:3], duration=5.0)  # past it: dropped, counted
    await push(pub, fragments[3:5], duration=2.0)
    async with httpx.AsyncClient(base_url=hlsd.url, timeout=10) as c:
        url = f"/live/{stream}/index.m3u8"

        deadline = time.monotonic() + 10
        while (text := (await c.get(url)).text).count("#EXTINF") < 4:
            assert time.monotonic() < deadline, text
            await asyncio.sleep(0.05)
        assert_valid(text, live=True)
        assert "#EXT-X-TARGETDURATION:3" in text and "#EXTINF:5" not in text
        assert "#EXT-X-DISCONTINUITY" in text
        metrics = (await c.get("/metrics")).text
        assert 'hlsd_live_lost_segments_total{reason="too_long"} 1.0' in metrics
    await pub.close()
    assert "longer than its target duration" in hlsd.log_text()
