"""A websocket stream published again after it ended (past `live.idle_timeout`, within
`live.retention`) takes at once: no traceback, no second end, no reconnects."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests._support.hlsd_server import HlsdServer
from tests._support.polling import eventually
from tests._support.wscdn import open_session, push

IDLE = 3.0


async def test_a_stream_published_again_after_its_end_takes_at_once(
        tmp_path: Path, fragments: list[bytes]) -> None:
    cfg = {"live": {"idle_timeout": f"{IDLE}s", "retention": "60s", "window": 3}}
    with HlsdServer(cfg, tmp_dir=tmp_path) as hlsd:
        url = hlsd.url.replace("http://", "ws://") + "/ws"

        def state() -> str | None:
            streams = httpx.get(hlsd.url + "/api/streams", timeout=5).json()["streams"]
            return next((s["state"] for s in streams if s["name"] == "again"), None)

        first, answer = await open_session(url, "PUSH", "again")
        assert answer[0] == "OK"
        await push(first, fragments[:3], duration=1.0)
        await first.close()
        await eventually(lambda: state() == "ended")
        ended = time.monotonic()
        await eventually(lambda: time.monotonic() - ended > IDLE + 0.5, timeout=30)

        second, answer = await open_session(url, "PUSH", "again")
        assert answer[0] == "OK"
        # An encoder's first fragment comes a segment's duration later: a sweep (every
        # second) runs before it.
        taken = time.monotonic()
        await eventually(lambda: time.monotonic() - taken > 1.5)
        for fragment in fragments[3:8]:  # five 1 s fragments: sweeps run in between
            await push(second, [fragment], duration=1.0, pace=0.3)
        assert state() == "live"
        playlist = httpx.get(hlsd.url + "/live/again/index.m3u8", timeout=5).text
        assert "#EXT-X-DISCONTINUITY" in playlist and "#EXT-X-ENDLIST" not in playlist
        await second.close()
        log = hlsd.log_text()
        assert "Traceback" not in log and "RenditionEnded" not in log
        assert log.count("ended (publisher gone") <= 1
