"""HTTP push ingest logic on real ffmpeg HLS output (made into a folder, then fed in)."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
from pathlib import Path

import pytest

from hlsd.hls.rules import assert_valid
from hlsd.ingest.http_push import HttpPushIngest, IngestError
from hlsd.streams import PublishPolicy, StreamBusy, StreamHub
from tests._support.media import FFMPEG


def _hls(out: Path, *, fmp4: bool = False, seconds: int = 4) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    args = [FFMPEG, "-hide_banner", "-v", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size=160x120:rate=25:duration={seconds}",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-sc_threshold", "0",
            "-pix_fmt", "yuv420p", "-f", "hls", "-hls_time", "1", "-hls_list_size", "0",
            "-hls_flags", "+program_date_time"]
    if fmp4:
        args += ["-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4",
                 "-hls_segment_filename", str(out / "seg-%d.m4s")]
    else:
        args += ["-hls_segment_filename", str(out / "seg-%d.ts")]
    subprocess.run([*args, str(out / "index.m3u8")], check=True)
    return out


@pytest.fixture(scope="module")
def ts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _hls(tmp_path_factory.mktemp("ts"))


@pytest.fixture(scope="module")
def fmp4_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _hls(tmp_path_factory.mktemp("fmp4"), fmp4=True)


def _ingest(policy: PublishPolicy = PublishPolicy.REJECT) -> tuple[StreamHub, HttpPushIngest]:
    hub = StreamHub(window=6, policy=policy, idle_timeout=15, retention=60, max_streams=10)
    return hub, HttpPushIngest(hub, max_pending_bytes=50_000_000, max_feeds=10,
                               upload_grace=0.5)


def _upload(ingest: HttpPushIngest, stream: str, path: str, data: bytes) -> None:
    ingest.upload_started(stream, path)
    ingest.upload_finished(stream, path, data)


def _playlist_upto(src: Path, n: int, *, end: bool = False) -> bytes:
    """The publisher's playlist after its n-th segment."""
    lines = src.read_text().splitlines()
    out, count = [], 0
    for line in lines:
        if line == "#EXT-X-ENDLIST":
            continue
        out.append(line)
        if line and not line.startswith("#"):
            count += 1
            if count == n:
                break
    if end:
        out.append("#EXT-X-ENDLIST")
    return ("\n".join(out) + "\n").encode()


async def test_segments_are_visible_only_once_a_playlist_names_them(ts_dir: Path) -> None:
    hub, ingest = _ingest()
    _upload(ingest, "cam", "seg-0.ts", (ts_dir / "seg-0.ts").read_bytes())
    assert hub.get("cam") is None  # an upload alone publishes nothing
    await ingest.receive_playlist("cam", "index.m3u8", _playlist_upto(ts_dir / "index.m3u8", 1),
                                  "p")
    rendition = hub.get("cam").renditions[""]  # type: ignore[union-attr]
    assert [s.data for s in rendition.segments] == [(ts_dir / "seg-0.ts").read_bytes()]
    assert_valid(rendition.playlist().body.decode(), live=True)  # type: ignore[union-attr]


async def test_a_playlist_may_arrive_before_its_segment_finishes(ts_dir: Path) -> None:
    _, ingest = _ingest()
    ingest.upload_started("cam", "seg-0.ts")

    async def finish_late() -> None:
        await asyncio.sleep(0.1)
        ingest.upload_finished("cam", "seg-0.ts", (ts_dir / "seg-0.ts").read_bytes())

    finishing = asyncio.ensure_future(finish_late())
    accepted = await ingest.receive_playlist(
        "cam", "index.m3u8", _playlist_upto(ts_dir / "index.m3u8", 1), "p")
    await finishing
    assert accepted.committed == 1


async def test_a_playlist_naming_a_missing_segment_is_400_and_keeps_the_rest(
        ts_dir: Path) -> None:
    hub, ingest = _ingest()
    for n in (0, 2):
        _upload(ingest, "cam", f"seg-{n}.ts", (ts_dir / f"seg-{n}.ts").read_bytes())
    with pytest.raises(IngestError) as err:
        await ingest.receive_playlist("cam", "index.m3u8",
                                      _playlist_upto(ts_dir / "index.m3u8", 3), "p")
    assert err.value.status == 400 and "seg-1.ts" in err.value.message
    rendition = hub.get("cam").renditions[""]  # type: ignore[union-attr]
    assert len(rendition.segments) == 2 and rendition.segments[1].discontinuity


async def test_a_half_uploaded_segment_is_never_kept(ts_dir: Path) -> None:
    hub, ingest = _ingest()
    ingest.upload_started("cam", "seg-0.ts")
    ingest.upload_finished("cam", "seg-0.ts", None)  # the publisher vanished mid-upload
    with pytest.raises(IngestError):
        await ingest.receive_playlist("cam", "index.m3u8",
                                      _playlist_upto(ts_dir / "index.m3u8", 1), "p")
    assert hub.get("cam").renditions[""].segments == ()  # type: ignore[union-attr]


@pytest.mark.parametrize("body", [b"not a playlist", b"\xff\xfe", b"#EXTM3U\n#EXTINF:x,\na.ts\n"])
async def test_malformed_playlists_are_400(body: bytes) -> None:
    _, ingest = _ingest()
    with pytest.raises(IngestError) as err:
        await ingest.receive_playlist("cam", "index.m3u8", body, "p")
    assert err.value.status == 400


@pytest.mark.parametrize(("stream", "path"), [
    ("..", "index.m3u8"), ("a" * 129, "x.ts"), ("cam", "../x.ts"), ("cam", "a/b/c.ts"),
    ("cam", ".hidden"), ("ca/m", "x.ts"), ("cam", ""),
])
def test_bad_ids_and_paths_are_400(stream: str, path: str) -> None:
    _, ingest = _ingest()
    with pytest.raises(IngestError) as err:
        ingest.upload_started(stream, path)
    assert err.value.status == 400


async def test_fmp4_init_sections_travel_with_their_segments(fmp4_dir: Path) -> None:
    hub, ingest = _ingest()
    _upload(ingest, "cam", "init.mp4", (fmp4_dir / "init.mp4").read_bytes())
    for n in range(3):
        _upload(ingest, "cam", f"seg-{n}.m4s", (fmp4_dir / f"seg-{n}.m4s").read_bytes())
    await ingest.receive_playlist("cam", "index.m3u8",
                                  _playlist_upto(fmp4_dir / "index.m3u8", 3), "p")
    rendition = hub.get("cam").renditions[""]  # type: ignore[union-attr]
    text = rendition.playlist().body.decode()  # type: ignore[union-attr]
    assert_valid(text, live=True)
    init_uri = text.split('#EXT-X-MAP:URI="')[1].split('"')[0]
    assert rendition.get(init_uri).data == (fmp4_dir / "init.mp4").read_bytes()  # type: ignore[union-attr]
    assert all(s.name.endswith(".m4s") for s in rendition.segments)


async def test_a_restart_is_refused_while_active_under_reject(ts_dir: Path) -> None:
    _, ingest = _ingest(PublishPolicy.REJECT)
    for n in range(3):
        _upload(ingest, "cam", f"seg-{n}.ts", (ts_dir / f"seg-{n}.ts").read_bytes())
    await ingest.receive_playlist("cam", "index.m3u8",
                                  _playlist_upto(ts_dir / "index.m3u8", 3), "p")
    _upload(ingest, "cam", "seg-0.ts", (ts_dir / "seg-0.ts").read_bytes())  # starting over
    with pytest.raises(StreamBusy):
        await ingest.receive_playlist("cam", "index.m3u8",
                                      _playlist_upto(ts_dir / "index.m3u8", 1), "p")


async def test_a_restarted_publisher_continues_after_a_discontinuity(ts_dir: Path) -> None:
    hub, ingest = _ingest(PublishPolicy.TAKEOVER)
    for n in range(3):
        _upload(ingest, "cam", f"seg-{n}.ts", (ts_dir / f"seg-{n}.ts").read_bytes())
    await ingest.receive_playlist("cam", "index.m3u8",
                                  _playlist_upto(ts_dir / "index.m3u8", 3), "p")
    _upload(ingest, "cam", "seg-0.ts", (ts_dir / "seg-0.ts").read_bytes())
    await ingest.receive_playlist("cam", "index.m3u8",
                                  _playlist_upto(ts_dir / "index.m3u8", 1), "p")
    rendition = hub.get("cam").renditions[""]  # type: ignore[union-attr]
    assert len(rendition.segments) == 4 and rendition.segments[-1].discontinuity
    assert [s.sequence for s in rendition.segments] == [0, 1, 2, 3]


async def test_endlist_ends_the_rendition(ts_dir: Path) -> None:
    hub, ingest = _ingest()
    _upload(ingest, "cam", "seg-0.ts", (ts_dir / "seg-0.ts").read_bytes())
    await ingest.receive_playlist(
        "cam", "index.m3u8", _playlist_upto(ts_dir / "index.m3u8", 1, end=True), "p")
    text = hub.get("cam").renditions[""].playlist().body.decode()  # type: ignore[union-attr]
    assert "#EXT-X-ENDLIST" in text


async def test_a_second_publisher_is_refused_under_the_reject_policy(ts_dir: Path) -> None:
    _, ingest = _ingest()
    _upload(ingest, "cam", "seg-0.ts", (ts_dir / "seg-0.ts").read_bytes())
    await ingest.receive_playlist("cam", "index.m3u8",
                                  _playlist_upto(ts_dir / "index.m3u8", 1), "p")
    with pytest.raises(StreamBusy):
        await ingest.receive_playlist("cam", "index.m3u8",
                                      _playlist_upto(ts_dir / "index.m3u8", 1), "intruder")


def test_pending_uploads_are_bounded() -> None:
    hub = StreamHub(window=6, policy=PublishPolicy.REJECT, idle_timeout=15, retention=60,
                    max_streams=10)
    ingest = HttpPushIngest(hub, max_pending_bytes=1000, max_feeds=10)
    for n in range(5):
        _upload(ingest, "cam", f"seg-{n}.ts", b"x" * 400)
    with pytest.raises(IngestError) as err:
        _upload(ingest, "cam", "big.ts", b"x" * 1001)
    assert err.value.status == 413


async def test_a_late_copy_of_an_older_playlist_changes_nothing(ts_dir: Path) -> None:
    hub, ingest = _ingest(PublishPolicy.TAKEOVER)
    for n in range(3):
        _upload(ingest, "cam", f"seg-{n}.ts", (ts_dir / f"seg-{n}.ts").read_bytes())
    await ingest.receive_playlist("cam", "index.m3u8",
                                  _playlist_upto(ts_dir / "index.m3u8", 3, end=True), "p")
    late = await ingest.receive_playlist("cam", "index.m3u8",
                                         _playlist_upto(ts_dir / "index.m3u8", 2), "p")
    rendition = hub.get("cam").renditions[""]  # type: ignore[union-attr]
    assert late.committed == 0 and rendition.ended
    assert not any(s.discontinuity for s in rendition.segments)


async def test_without_publisher_times_segments_stay_contiguous() -> None:
    hub, ingest = _ingest()
    playlist = ("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{n}\n"
                "#EXTINF:2.0,\nseg-{n}.ts\n")
    for n in range(4):  # pushed in a burst, faster than real time
        _upload(ingest, "cam", f"seg-{n}.ts", b"x" * 188)
        await ingest.receive_playlist("cam", "index.m3u8", playlist.format(n=n).encode(), "p")
    segments = hub.get("cam").renditions[""].segments  # type: ignore[union-attr]
    times = [s.program_date_time for s in segments]
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [2.0, 2.0, 2.0]


def test_the_number_of_streams_being_pushed_is_bounded() -> None:
    class Clock:
        now = 0.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    hub = StreamHub(window=6, policy=PublishPolicy.REJECT, idle_timeout=15, retention=60,
                    max_streams=10)
    ingest = HttpPushIngest(hub, max_pending_bytes=1000, max_feeds=3, pending_ttl=60,
                            clock=clock)
    for n in range(3):
        _upload(ingest, f"s{n}", "seg-0.ts", b"x")
    with pytest.raises(IngestError) as err:
        _upload(ingest, "s3", "seg-0.ts", b"x")
    assert err.value.status == 503
    clock.now += 61  # uploads never named by a playlist, for streams that never began
    _upload(ingest, "s3", "seg-0.ts", b"x")
