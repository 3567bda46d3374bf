"""hls.js plays what the live segmenter makes: its segments, its parts one by one (as a
low-latency player fetches them), and the MPEG-TS that `cmaf_to_ts` makes of them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hlsd.media.live_segmenter import cmaf_to_ts
from tests._support.browser import browser_test, describe, play_hls
from tests._support.servers import Upstream
from tests.media.test_live_segmenter import Collected, Inputs, segment

pytestmark = browser_test

_INPUTS = {
    "h264_aac_4s.flv": ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                        "-g", "25", "-c:a", "aac", "-b:a", "64k", "-f", "flv"],
    "h264_aac_4s.ts": ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                       "-g", "25", "-c:a", "aac", "-b:a", "64k", "-f", "mpegts"],
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    from tests.media import test_live_segmenter as live

    def maker(args: list[str]) -> Callable[[Path], Path]:
        return lambda path: live._make(
            path, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=4",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=4", *args)

    for name, args in _INPUTS.items():
        live.INPUTS.setdefault(name, maker(args))
    return Inputs(tmp_path_factory.mktemp("live-browser"))


def _playlist(folder: Path, out: Collected, *, by_part: bool, ts: bool) -> None:
    """A VOD playlist of the output: one entry per segment, or per part."""
    init = out.inits[0]
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{init.target_duration}",
             "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if not ts:
        (folder / "init.mp4").write_bytes(init.data)
        lines.append('#EXT-X-MAP:URI="init.mp4"')
    pieces = ([[p] for p in out.parts] if by_part
              else [s.parts for s in out.segments()])
    for n, parts in enumerate(pieces):
        data = b"".join(p.data for p in parts)
        name = f"{n}.ts" if ts else f"{n}.m4s"
        (folder / name).write_bytes(cmaf_to_ts(init.data, data) if ts else data)
        lines += [f"#EXTINF:{sum(p.duration for p in parts):.5f},", name]
    lines.append("#EXT-X-ENDLIST")
    (folder / "index.m3u8").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(("name", "by_part", "ts"), [
    ("h264_aac_4s.flv", False, False), ("h264_aac_4s.ts", True, False),
    ("h264_aac_4s.flv", False, True)], ids=["segments", "parts", "mpegts"])
def test_hls_js_plays_it(name: str, by_part: bool, ts: bool, inputs: Inputs,
                         tmp_path: Path) -> None:
    out = segment(inputs(name), "flv" if name.endswith(".flv") else "mpegts")
    _playlist(tmp_path, out, by_part=by_part, ts=ts)
    with Upstream(cors=True) as server:
        server.add_dir("/live", tmp_path)
        result = play_hls(f"{server.url}/live/index.m3u8", seconds=3.0, timeout=30)
    # Allowed, not fatal: the B-frames' reordering delay leaves the picture starting two
    # frames after the sound (hls.js seeks over that hole), and a part of B-frames alone
    # fills holes without moving the buffer's end. On a busy machine hls.js may also
    # abort a load of its own (networkError/aborted, not fatal) and load it again.
    assert not result.fatal_errors, describe(result)
    allowed = ("bufferSeekOverHole", "bufferAppendNoProgress", "networkError/aborted fatal=false")
    assert all(any(a in e for a in allowed) for e in result.errors), describe(result)
    assert result.buffered_start is not None and result.buffered_start <= 0.1, describe(result)
    assert result.played >= 3.0 or result.ended, describe(result)
