"""The fetching checker in process, against real HTTP servers: what is fetched, when it
is reloaded (RFC 8216 §6.3.4, on a fake clock), and where each finding lands."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hlsd.client.checker import Checker, CheckOptions, Unreachable
from hlsd.client.checker_report import PlaylistKind, Report
from hlsd.client.checker_segments import _byte_ranges
from hlsd.hls import ByteRange
from hlsd.hls.check import ScannedSegment, Severity
from tests._support import hls_vod
from tests._support.clock import FakeClock
from tests._support.hlsd_server import free_port
from tests._support.servers import Upstream

M3U8 = "application/vnd.apple.mpegurl"


def live(first: int, count: int, *, target: int = 4, end: bool = False) -> str:
    lines = ["#EXTM3U", f"#EXT-X-TARGETDURATION:{target}", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
    for n in range(first, first + count):
        lines += [f"#EXTINF:{target},", f"s{n}.ts"]
    return "\n".join([*lines, *(["#EXT-X-ENDLIST"] if end else [])]) + "\n"


def serve_in_turn(up: Upstream, path: str, texts: list[str], content_type: str = M3U8) -> None:
    """Each GET of `path` answers the next of `texts`; the last one from then on."""
    answers = itertools.chain(texts, itertools.repeat(texts[-1]))

    def route(h: Any) -> None:
        h._simple(200, next(answers).encode(), content_type)

    up.add_handler(path, route)


class Timeline:
    """The checker's clock and sleep: sleeping moves the fake clock, and is recorded."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.advance(seconds)


def checker(timeline: Timeline, **options: Any) -> Checker:
    return Checker(CheckOptions(**options), sleep=timeline.sleep, clock=timeline.clock)


def rules(report: Report) -> list[tuple[str, str, int | None, int]]:
    """(playlist path, rule, line, fetch) of every finding."""
    return [(f.url.split("/", 3)[3], f.violation.rule, f.violation.line, f.fetch)
            for p in report.playlists for f in p.findings]


@pytest.fixture
def up() -> Iterator[Upstream]:
    with Upstream() as server:
        yield server


async def test_a_live_playlist_is_reloaded_as_a_client_reloads_it(up: Upstream) -> None:
    # Changed at the first reload, then unchanged twice, then changed again.
    serve_in_turn(up, "/live.m3u8", [live(0, 3), live(1, 3), live(1, 3), live(1, 3),
                                     live(2, 3)])
    timeline = Timeline()
    report = await checker(timeline, reloads=4).check(f"{up.url}/live.m3u8")
    # A target duration after a load that found it changed (the first load counts),
    # half of one after a load that found it as it was (RFC 8216 §6.3.4).
    assert timeline.sleeps == [4, 4, 2, 2]
    (playlist,) = report.playlists
    assert (playlist.kind, playlist.live, playlist.fetches) == (PlaylistKind.MEDIA, True, 5)
    assert rules(report) == []


async def test_reloads_stop_at_endlist_and_faults_are_reported_once(up: Upstream) -> None:
    # EXTINF 5 over a target duration of 4, in every load: one finding, at the first.
    first = live(0, 3).replace("#EXTINF:4,\ns0.ts", "#EXTINF:5,\ns0.ts")
    second = live(0, 4).replace("#EXTINF:4,\ns0.ts", "#EXTINF:5,\ns0.ts")
    ended = second + "#EXT-X-ENDLIST\n"
    serve_in_turn(up, "/live.m3u8", [first, second, ended])
    timeline = Timeline()
    report = await checker(timeline, reloads=10).check(f"{up.url}/live.m3u8")
    assert report.playlists[0].fetches == 3
    assert rules(report) == [("live.m3u8", "target-duration", 4, 1)]
    assert report.errors == 1


async def test_live_rules_run_between_loads(up: Upstream) -> None:
    serve_in_turn(up, "/live.m3u8", [live(5, 3), live(4, 3), live(6, 3)])
    report = await checker(Timeline(), reloads=2).check(f"{up.url}/live.m3u8")
    # Each reload against the one before it: 5 → 4 goes back; 4 → 6 removes two
    # segments, leaving 12 s, which three target durations (12 s) allow.
    assert rules(report) == [("live.m3u8", "media-sequence-decreased", None, 2)]


async def test_a_playlist_that_never_changes_is_stalled(up: Upstream) -> None:
    serve_in_turn(up, "/live.m3u8", [live(0, 3)])
    timeline = Timeline()
    report = await checker(timeline, reloads=3).check(f"{up.url}/live.m3u8")
    assert timeline.sleeps == [4, 2, 2]  # 8 s: two target durations unchanged
    assert rules(report) == [("live.m3u8", "live-stalled", None, 4)]
    assert (report.errors, report.warnings) == (0, 1)


async def test_a_vod_playlist_is_loaded_once(up: Upstream) -> None:
    up.add_bytes("/vod.m3u8", live(0, 3, end=True).encode(), M3U8)
    timeline = Timeline()
    report = await checker(timeline).check(f"{up.url}/vod.m3u8")
    assert timeline.sleeps == [] and up.count("/vod.m3u8") == 1
    assert (report.playlists[0].live, rules(report)) == (False, [])


MASTER = """#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=1000,CODECS="mp4a.40.2",AUDIO="a"
v1.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2000,CODECS="mp4a.40.2",AUDIO="a"
gone.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=3000,CODECS="mp4a.40.2",AUDIO="a"
nested.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=4000,CODECS="mp4a.40.2",AUDIO="a"
v1.m3u8
"""


async def test_a_master_leads_to_each_media_playlist_once(up: Upstream) -> None:
    up.add_bytes("/s/master.m3u8", MASTER.encode(), M3U8)
    up.add_bytes("/s/audio.m3u8", live(0, 2, end=True).encode(), M3U8)
    up.add_bytes("/s/v1.m3u8", live(0, 2, end=True).encode(), M3U8)
    up.add_bytes("/s/nested.m3u8", MASTER.encode(), M3U8)
    report = await checker(Timeline()).check(f"{up.url}/s/master.m3u8")
    assert [(p.url.rsplit("/", 1)[1], p.kind) for p in report.playlists] == [
        ("master.m3u8", PlaylistKind.MASTER), ("audio.m3u8", PlaylistKind.MEDIA),
        ("v1.m3u8", PlaylistKind.MEDIA)]
    assert up.count("/s/v1.m3u8") == 1
    # What goes wrong with a media playlist the master names is found at the naming line.
    assert rules(report) == [("s/master.m3u8", "playlist-unavailable", 6, 1),
                             ("s/master.m3u8", "playlist-kind", 8, 1)]


async def test_the_number_of_media_playlists_is_bounded(up: Upstream) -> None:
    up.add_bytes("/s/master.m3u8", MASTER.encode(), M3U8)
    for name in ("audio", "v1"):
        up.add_bytes(f"/s/{name}.m3u8", live(0, 2, end=True).encode(), M3U8)
    report = await checker(Timeline(), max_playlists=1).check(f"{up.url}/s/master.m3u8")
    assert len(report.playlists) == 2
    assert report.notes == ["3 more media playlists not checked (at most 1)"]


@pytest.mark.parametrize(("path", "content_type", "found"), [
    ("/vod.m3u8", "text/plain", []),  # known by its path
    ("/vod.M3U", "text/plain", []),
    ("/playlist", "application/vnd.apple.mpegurl; charset=utf-8", []),  # by its type
    ("/playlist", "audio/mpegurl", []),
    ("/playlist", "text/plain", ["playlist-content-type"]),
])
async def test_a_playlist_is_known_by_its_path_or_its_content_type(
        up: Upstream, path: str, content_type: str, found: list[str]) -> None:
    up.add_bytes(path, live(0, 2, end=True).encode(), content_type)
    report = await checker(Timeline()).check(f"{up.url}{path}")
    assert [rule for _, rule, _, _ in rules(report)] == found


async def test_a_playlist_that_is_not_utf8_is_an_error(up: Upstream) -> None:
    text = live(0, 2, end=True).replace("s1.ts", "s\xe91.ts").encode("latin-1")
    up.add_bytes("/vod.m3u8", text, M3U8)
    report = await checker(Timeline()).check(f"{up.url}/vod.m3u8")
    assert [rule for _, rule, _, _ in rules(report)] == ["utf-8"]


async def test_a_url_that_gives_nothing_to_check_is_unreachable(up: Upstream) -> None:
    up.add_status("/missing.m3u8", 404)
    up.add_bytes("/huge.m3u8", b"#EXTM3U\n" + b"#" * 2000, M3U8)
    with pytest.raises(Unreachable, match=r"missing\.m3u8: HTTP 404$"):
        await checker(Timeline()).check(f"{up.url}/missing.m3u8")
    with pytest.raises(Unreachable, match=r"larger than the 1000 bytes read$"):
        await checker(Timeline(), max_playlist_bytes=1000).check(f"{up.url}/huge.m3u8")
    with pytest.raises(Unreachable, match="cannot connect"):
        await checker(Timeline()).check(f"http://127.0.0.1:{free_port()}/x.m3u8")


@pytest.fixture(scope="module")
def vod(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real VOD: `index.m3u8` and three 2 s MPEG-TS segments."""
    return hls_vod.media_only_vod(tmp_path_factory.mktemp("vod") / "vod", seconds=6).parent


def serve_vod(up: Upstream, folder: Path, playlist: str | None = None) -> str:
    up.add_dir("/vod", folder)
    if playlist is not None:
        up.add_bytes("/vod/index.m3u8", playlist.encode(), M3U8)
    return f"{up.url}/vod/index.m3u8"


async def test_segments_are_fetched_and_measured(up: Upstream, vod: Path) -> None:
    url = serve_vod(up, vod)
    report = await checker(Timeline(), segments=True).check(url)
    assert (report.playlists[0].segments, rules(report)) == (3, [])
    assert up.count("/vod/seg1.ts") == 1


async def test_only_the_segments_at_each_end_are_fetched(up: Upstream, vod: Path) -> None:
    url = serve_vod(up, vod)
    report = await checker(Timeline(), segments=True, segments_per_end=1).check(url)
    assert report.playlists[0].segments == 2
    assert [up.count(f"/vod/seg{n}.ts") for n in range(3)] == [1, 0, 1]


async def test_segment_faults_are_found_at_their_uri_line(up: Upstream, vod: Path,
                                                          tmp_path: Path) -> None:
    folder = tmp_path / "vod"
    shutil.copytree(vod, folder)
    (folder / "seg2.ts").write_bytes(b"<html>not found</html>")
    text = (folder / "index.m3u8").read_text()
    lines = text.splitlines()
    uri_lines = [n for n, line in enumerate(lines, 1) if line.endswith(".ts")]
    # seg0 claims 3 s (it plays 2), seg1 is not there, seg2 is a web page.
    text = text.replace("seg1.ts", "lost.ts").replace(lines[uri_lines[0] - 2], "#EXTINF:3.0,")
    url = serve_vod(up, folder, text.replace("#EXT-X-TARGETDURATION:2",
                                             "#EXT-X-TARGETDURATION:3"))
    up.add_file("/vod/seg2.ts", folder / "seg2.ts", content_type="text/html")
    report = await checker(Timeline(), segments=True).check(url)
    found = [(f.violation.rule, f.violation.line, f.severity) for f in
             report.playlists[0].findings]
    assert found == [
        ("segment-duration", uri_lines[0], Severity.WARNING),
        ("segment-unavailable", uri_lines[1], Severity.ERROR),
        ("segment-content-type", uri_lines[2], Severity.WARNING),
        ("segment-unreadable", uri_lines[2], Severity.ERROR),
    ]
    assert report.playlists[0].findings[0].violation.message == (
        "segment seg0.ts plays 2.000 s (video), but its EXTINF says 3 s")


async def test_a_segment_longer_than_the_target_duration_is_an_error(
        up: Upstream, vod: Path) -> None:
    text = (vod / "index.m3u8").read_text().replace("#EXT-X-TARGETDURATION:2",
                                                    "#EXT-X-TARGETDURATION:1")
    report = await checker(Timeline(), segments=True, segments_per_end=1).check(
        serve_vod(up, vod, text))
    # The EXTINF rule and the measure agree: each segment is 2 s, over the target of 1.
    assert {f.violation.rule for f in report.playlists[0].findings} == {
        "target-duration", "segment-over-target"}


async def test_webvtt_segments_get_the_webvtt_rules(up: Upstream) -> None:
    up.add_bytes("/subs.m3u8", live(0, 1, end=True).encode(), M3U8)
    up.add_bytes("/s0.ts", b"WEBVTT\nX-TIMESTAMP-MAP=LOCAL:00:00:00.000\n\n"
                           b"00:00:01.000 --> 00:00:02.000\nhello\n", "text/vtt")
    report = await checker(Timeline(), segments=True).check(f"{up.url}/subs.m3u8")
    # The finding is the segment's, at the segment's own line.
    assert rules(report) == [("s0.ts", "webvtt-timestamp-map", 2, 1)]


def test_byte_ranges_without_an_offset_continue_the_previous_one() -> None:
    def segment(uri: str, byterange: str | None) -> ScannedSegment:
        return ScannedSegment(uri, 1, 1.0, False, None, byterange)

    assert _byte_ranges([
        segment("a.ts", "100@0"), segment("a.ts", "50"), segment("b.ts", "10"),
        segment("b.ts", "20@5"), segment("c.ts", None), segment("c.ts", "5"),
    ]) == [ByteRange(length=100, offset=0), ByteRange(length=50, offset=100),
           ByteRange(length=10, offset=None), ByteRange(length=20, offset=5),
           None, ByteRange(length=5, offset=None)]


async def test_a_byte_range_segment_is_fetched_by_range(up: Upstream, vod: Path) -> None:
    data = b"".join((vod / f"seg{n}.ts").read_bytes() for n in range(2))
    first = (vod / "seg0.ts").stat().st_size
    up.add_bytes("/all.ts", data, "video/mp2t")
    text = ("#EXTM3U\n#EXT-X-VERSION:4\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n"
            f"#EXT-X-BYTERANGE:{first}@0\nall.ts\n#EXTINF:2,\n"
            f"#EXT-X-BYTERANGE:{len(data) - first}\nall.ts\n#EXT-X-ENDLIST\n")
    up.add_bytes("/ranges.m3u8", text.encode(), M3U8)
    report = await checker(Timeline(), segments=True).check(f"{up.url}/ranges.m3u8")
    assert (report.playlists[0].segments, rules(report)) == (2, [])
    assert [r.header("range") for r in up.requests if r.path == "/all.ts"] == [
        f"bytes=0-{first - 1}", f"bytes={first}-{len(data) - 1}"]


async def test_a_segment_too_large_to_check_is_a_note_not_a_fault(up: Upstream,
                                                                  vod: Path) -> None:
    url = serve_vod(up, vod)
    report = await checker(Timeline(), segments=True, segments_per_end=1,
                           max_segment_bytes=1000).check(url)
    assert (report.playlists[0].segments, rules(report)) == (0, [])
    assert report.notes == [f"{url}: segment seg{n}.ts not checked: "
                            "larger than the 1000 bytes read" for n in (0, 2)]
