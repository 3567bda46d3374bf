"""``hlsd check`` run as a real command: a live stream pushed into a real hlsd passes over
several reloads (exit 0); a broken set of playlists on a real HTTP server gives each
violation at its line (exit 1); a URL that cannot be fetched is one line (exit 2)."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from rich.console import Console

from hlsd.client.cli_check import check_stream
from tests._support.hlsd_server import REPO_ROOT, HlsdServer, free_port
from tests._support.polling import wait_segments
from tests._support.publisher import LivePublisher
from tests._support.servers import Upstream

KEY = "publish-secret"
M3U8 = "application/vnd.apple.mpegurl"


def hlsd_check(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HLSD_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.run([sys.executable, "-m", "hlsd", "check", *args],
                          capture_output=True, text=True, env=env, timeout=timeout,
                          check=False)


@pytest.fixture(scope="module")
def hlsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    config = {"live": {"window": 4, "publish_keys": [KEY]}}
    with HlsdServer(config, tmp_dir=tmp_path_factory.mktemp("check")) as server:
        yield server


def test_a_live_stream_of_hlsd_passes_over_several_reloads(hlsd: HlsdServer) -> None:
    variants = [("hi", "320x180", "300k"), ("lo", "160x90", "100k")]
    with LivePublisher(f"{hlsd.url}/ingest/cam", headers={"Authorization": f"Bearer {KEY}"},
                       variants=variants, size="320x180", duration=30), \
            httpx.Client(base_url=hlsd.url, timeout=10) as c:
        for name, _, _ in variants:
            wait_segments(c, f"/live/cam/{name}/index.m3u8", 2)
        out = hlsd_check(f"{hlsd.url}/live/cam/index.m3u8", "--reloads", "3", "--segments")
    assert (out.returncode, out.stderr) == (0, ""), out.stdout
    base = f"{hlsd.url}/live/cam"
    # A machine too busy to let ffmpeg keep time may leave a playlist unchanged over
    # every reload: that is the one warning allowed here (it says so, it is no error).
    lines = [line for line in out.stdout.splitlines()
             if not re.match(rf"{base}/\w+/index\.m3u8: warning: .* \[live-stalled, ", line)]
    assert lines[0] == f"{base}/index.m3u8: master playlist"
    # One-second segments, so a target duration of 1: four loads take about 3 s.
    for line, name in zip(lines[1:3], ("hi", "lo"), strict=True):
        assert re.fullmatch(rf"{base}/{name}/index\.m3u8: media playlist, live, 4 loads, "
                            r"[2-4] segments fetched", line), line
    assert re.fullmatch(r"checked 3 playlist\(s\) \(1 master, 2 media\): 0 errors, "
                        r"[0-2] warnings?", lines[3]), lines[3]
    assert len(lines) == 4, out.stdout


MASTER = """#EXTM3U
#EXT-X-STREAM-INF:CODECS="mp4a.40.2"
live.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS="mp4a.40.2"
vod.m3u8
"""
VOD = """#EXTM3U
#EXT-X-TARGETDURATION:2
#EXT-X-PLAYLIST-TYPE:VOD
#EXTINF:3,
s0.ts
#EXTINF:2,
s1.ts
#EXT-X-ENDLIST
"""


def live(sequence: int) -> str:
    return (f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:{sequence}\n"
            + "".join(f"#EXTINF:1,\nl{n}.ts\n" for n in range(sequence, sequence + 3)))


@pytest.fixture
def broken() -> Iterator[str]:
    """A master without BANDWIDTH, a live playlist whose MEDIA-SEQUENCE goes back at the
    first reload, and a VOD with an EXTINF over its target duration."""
    with Upstream() as up:
        up.add_bytes("/s/master.m3u8", MASTER.encode(), M3U8)
        up.add_bytes("/s/vod.m3u8", VOD.encode(), M3U8)
        answers = itertools.chain([live(5)], itertools.repeat(live(4)))

        def in_turn(h: Any) -> None:
            h._simple(200, next(answers).encode(), M3U8)

        up.add_handler("/s/live.m3u8", in_turn)
        yield f"{up.url}/s"


def test_a_broken_stream_lists_each_violation_at_its_line(broken: str) -> None:
    out = hlsd_check(f"{broken}/master.m3u8", "--reloads", "1")
    assert (out.returncode, out.stderr) == (1, "")
    assert out.stdout.splitlines() == [
        f"{broken}/master.m3u8: master playlist",
        f"{broken}/master.m3u8:2: error: #EXT-X-STREAM-INF needs BANDWIDTH "
        "(RFC 8216 §4.3.4.2) [bandwidth-missing]",
        f"{broken}/live.m3u8: media playlist, live, 2 loads",
        f"{broken}/live.m3u8: error: EXT-X-MEDIA-SEQUENCE went from 5 down to 4 "
        "(RFC 8216 §6.2.2) [media-sequence-decreased, reload 1]",
        f"{broken}/vod.m3u8: media playlist, VOD",
        f"{broken}/vod.m3u8:4: error: segment s0.ts lasts 3.0 s, which rounds above the "
        "target duration 2 (RFC 8216 §4.3.3.1) [target-duration]",
        "checked 3 playlist(s) (1 master, 2 media): 3 errors, 0 warnings",
    ]


def test_json_gives_the_same_findings_to_scripts(broken: str) -> None:
    out = hlsd_check(f"{broken}/vod.m3u8", "--json")
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert (report["errors"], report["warnings"]) == (1, 0)
    (playlist,) = report["playlists"]
    assert (playlist["kind"], playlist["live"], playlist["fetches"]) == ("media", False, 1)
    assert playlist["findings"] == [{
        "url": f"{broken}/vod.m3u8", "line": 4, "severity": "error",
        "rule": "target-duration", "section": "4.3.3.1", "reference": "RFC 8216 §4.3.3.1",
        "fetch": 1,
        "message": "segment s0.ts lasts 3.0 s, which rounds above the target duration 2"}]


def test_a_url_that_cannot_be_fetched_is_one_line_and_exit_2() -> None:
    url = f"http://127.0.0.1:{free_port()}/live/cam/index.m3u8"
    out = hlsd_check(url)
    assert out.returncode == 2 and out.stdout == ""
    assert re.fullmatch(rf"cannot fetch {re.escape(url)}: cannot connect \(.+\)\n",
                        out.stderr), out.stderr
    usage = hlsd_check("rtmp://example.com/live")
    assert (usage.returncode, usage.stderr) == (2, "URL must be an http:// or https:// URL\n")


def test_text_from_the_stream_reaches_the_terminal_escaped(
        capsys: pytest.CaptureFixture[str]) -> None:
    with Upstream() as up:
        text = ("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nevil\x1b[2J.ts\n"
                "#EXTINF:2,\nred.ts\n#EXT-X-ENDLIST\n")
        up.add_bytes("/v.m3u8", text.encode(), M3U8)
        up.add_bytes("/red.ts", b"<html></html>", "text/html\x1b[31m")
        code = check_stream(Console(stderr=True), f"{up.url}/v.m3u8", reloads=0,
                            segments=True, as_json=False)
    out = capsys.readouterr().out
    assert code == 1 and "\x1b" not in out
    assert f"{up.url}/v.m3u8:4: error: control characters are not allowed" in out
    assert f"{up.url}/v.m3u8:4: error: segment evil\\x1b[2J.ts: not a URL" in out
    assert ("segment red.ts came with Content-Type text/html\\x1b[31m, not a media type"
            in out)
