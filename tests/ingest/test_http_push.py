"""HTTP push ingest logic on real ffmpeg HLS output (made into a folder, then fed in)."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import pytest

from hlsd.errors import Gone, Invalid, Malformed, NoSpace, TooLarge, TooMany, Unavailable
from hlsd.hls.check import assert_valid
from hlsd.ingest.http_push import Accepted, HttpPushIngest, IngestError, Publisher
from hlsd.metrics import Metrics
from hlsd.streams import LiveRendition, PublishPolicy, StreamBusy, StreamHub
from tests._support.clock import FakeClock
from tests._support.media import hls_folder

P = Publisher("p")


def _hls(out: Path, *, fmp4: bool = False, seconds: int = 4) -> Path:
    return hls_folder(out, "-f", "lavfi", "-i",
                      f"testsrc2=size=160x120:rate=25:duration={seconds}", fmp4=fmp4,
                      flags="+program_date_time")


@pytest.fixture(scope="module")
def ts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _hls(tmp_path_factory.mktemp("ts"))


@pytest.fixture(scope="module")
def fmp4_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _hls(tmp_path_factory.mktemp("fmp4"), fmp4=True)


def _ingest(policy: PublishPolicy = PublishPolicy.REJECT, **kw: object
            ) -> tuple[StreamHub, HttpPushIngest]:
    clock = kw.get("clock")
    hub = StreamHub(window=6, policy=policy, idle_timeout=15, retention=60, max_streams=10,
                    **({"clock": clock} if clock is not None else {}))  # type: ignore[arg-type]
    options: dict[str, object] = {"max_pending_bytes": 50_000_000, "max_feeds": 10}
    options.update(kw)
    return hub, HttpPushIngest(hub, **options)  # type: ignore[arg-type]


def _upload(ingest: HttpPushIngest, stream: str, path: str, data: bytes,
            publisher: Publisher = P) -> Accepted:
    ingest.admit_upload(stream, path, publisher)
    return ingest.receive_upload(stream, path, data, publisher)


def _rendition(hub: StreamHub, stream: str = "cam", variant: str = "") -> LiveRendition:
    live = hub.get(stream)
    assert live is not None
    return live.renditions[variant]


def _lost(metrics: Metrics, reason: str) -> float:
    return metrics.registry.get_sample_value(
        "hlsd_live_lost_segments_total", {"reason": reason}) or 0.0


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
                                  P)
    rendition = hub.get("cam").renditions[""]  # type: ignore[union-attr]
    assert [s.data for s in rendition.segments] == [(ts_dir / "seg-0.ts").read_bytes()]
    assert_valid(rendition.playlist().body.decode(), live=True)  # type: ignore[union-attr]


async def test_the_answer_waits_until_the_hubs_keepers_kept_the_segment(
        ts_dir: Path) -> None:
    # An edge's cache is such a keeper: its publisher is told only of what it holds.
    hub, ingest = _ingest(keep_timeout=0.05)
    keeper = hub.keeper()
    _upload(ingest, "cam", "seg-0.ts", (ts_dir / "seg-0.ts").read_bytes())
    playlist = _playlist_upto(ts_dir / "index.m3u8", 1)
    with pytest.raises(IngestError) as refused:
        await ingest.receive_playlist("cam", "index.m3u8", playlist, P)
    assert isinstance(refused.value, Unavailable) and "send them again" in refused.value.message
    assert len(_rendition(hub).segments) == 1  # taken all the same: live goes on

    keeper.kept_up_to(hub.commits)
    await ingest.receive_playlist("cam", "index.m3u8", playlist, P)  # kept: answered


async def test_a_playlist_before_its_segment_is_accepted_and_the_segment_kept(
        ts_dir: Path) -> None:
    # A buffering proxy (nginx) sends the playlist on before the segment it names.
    hub, ingest = _ingest()
    playlist = await ingest.receive_playlist(
        "cam", "index.m3u8", _playlist_upto(ts_dir / "index.m3u8", 1), P)
    assert playlist == Accepted(committed=0, awaited=("seg-0.ts",))
    assert _rendition(hub).segments == ()
    segment = _upload(ingest, "cam", "seg-0.ts", (ts_dir / "seg-0.ts").read_bytes())
    assert segment.committed == 1
    assert [s.data for s in _rendition(hub).segments] == [(ts_dir / "seg-0.ts").read_bytes()]
    assert not _rendition(hub).segments[0].discontinuity


async def test_segments_arriving_in_any_order_are_committed_in_sequence(ts_dir: Path) -> None:
    hub, ingest = _ingest()
    for n in (1, 2, 3):  # every playlist first, each naming one more segment
        accepted = await ingest.receive_playlist(
            "cam", "index.m3u8", _playlist_upto(ts_dir / "index.m3u8", n), P)
    assert accepted.awaited == ("seg-0.ts", "seg-1.ts", "seg-2.ts")
    # Later segments queue behind the first one still missing.
    assert _upload(ingest, "cam", "seg-2.ts", (ts_dir / "seg-2.ts").read_bytes()).committed == 0
    assert _upload(ingest, "cam", "seg-1.ts", (ts_dir / "seg-1.ts").read_bytes()).committed == 0
    assert _rendition(hub).segments == ()
    assert _upload(ingest, "cam", "seg-0.ts", (ts_dir / "seg-0.ts").read_bytes()).committed == 3
    segments = _rendition(hub).segments
    assert [s.data for s in segments] == [(ts_dir / f"seg-{n}.ts").read_bytes()
                                          for n in range(3)]
    assert not any(s.discontinuity for s in segments)
    assert_valid(_rendition(hub).playlist().body.decode(), live=True)  # type: ignore[union-attr]


async def test_a_very_late_segment_within_the_wait_is_kept(ts_dir: Path) -> None:
    clock, metrics = FakeClock(1000.0), Metrics()
    hub, ingest = _ingest(clock=clock, metrics=metrics, wait_durations=3.0)
    _upload(ingest, "cam", "seg-0.ts", (ts_dir / "seg-0.ts").read_bytes())
    await ingest.receive_playlist("cam", "index.m3u8",
                                  _playlist_upto(ts_dir / "index.m3u8", 2), P)
    clock.now += 2.9  # the playlist's target duration is 1 s
    ingest.sweep()
    assert len(_rendition(hub).segments) == 1
    assert _upload(ingest, "cam", "seg-1.ts", (ts_dir / "seg-1.ts").read_bytes()).committed == 1
    assert not _rendition(hub).segments[1].discontinuity
    assert _lost(metrics, "not_uploaded") == 0
    assert metrics.registry.get_sample_value("hlsd_live_reordered_segments_total") == 1


async def test_a_segment_missing_past_the_wait_is_given_up_counted_and_refused_later(
        ts_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock, metrics = FakeClock(1000.0), Metrics()
    hub, ingest = _ingest(clock=clock, metrics=metrics, wait_durations=3.0)
    for n in (0, 2):
        _upload(ingest, "cam", f"seg-{n}.ts", (ts_dir / f"seg-{n}.ts").read_bytes())
    accepted = await ingest.receive_playlist("cam", "index.m3u8",
                                             _playlist_upto(ts_dir / "index.m3u8", 3), P)
    assert accepted == Accepted(committed=1, awaited=("seg-1.ts", "seg-2.ts"))
    clock.now += 3.0
    with caplog.at_level(logging.WARNING, logger="hlsd.ingest.http_push"):
        ingest.sweep()
        ingest.sweep()
    segments = _rendition(hub).segments
    assert [s.data for s in segments] == [(ts_dir / f"seg-{n}.ts").read_bytes() for n in (0, 2)]
    assert segments[1].discontinuity
    assert _lost(metrics, "not_uploaded") == 1
    assert [r.getMessage() for r in caplog.records if "seg-1.ts" in r.getMessage()] == [
        "stream cam: seg-1.ts: named by a playlist but not uploaded in time; the stream "
        "went on after a discontinuity"]
    # Its upload, should it still come, is refused rather than acknowledged and lost.
    with pytest.raises(IngestError) as err:
        _upload(ingest, "cam", "seg-1.ts", (ts_dir / "seg-1.ts").read_bytes())
    assert isinstance(err.value, Gone) and err.value.limit == "live.segment_wait_durations"
    assert metrics.registry.get_sample_value(
        "hlsd_live_refused_uploads_total", {"reason": "given_up"}) == 1


async def test_a_publisher_whose_segments_never_arrive_is_told_why(ts_dir: Path) -> None:
    """ffmpeg with a local -hls_segment_filename uploads playlists only: after three
    segments given up in a row, its playlists are refused with the reason (ffmpeg logs
    the HTTP error), while a segment that does arrive resets the count."""
    clock = FakeClock(1000.0)
    hub, ingest = _ingest(clock=clock, wait_durations=1.0)
    for n in range(1, 3):
        await ingest.receive_playlist("cam", "720p/index.m3u8",
                                      _playlist_upto(ts_dir / "index.m3u8", n), P)
        clock.now += 3.0
        ingest.sweep()
    await ingest.receive_playlist("cam", "720p/index.m3u8",
                                  _playlist_upto(ts_dir / "index.m3u8", 3), P)
    clock.now += 3.0
    ingest.sweep()
    with pytest.raises(IngestError) as err:  # seg-0, seg-1 and seg-2 never came
        await ingest.receive_playlist("cam", "720p/index.m3u8",
                                      _playlist_upto(ts_dir / "index.m3u8", 3), P)
    assert isinstance(err.value, Invalid)
    assert "never arrive (seg-0.ts, seg-1.ts, seg-2.ts" in err.value.message
    assert "/ingest/cam/720p/<segment>" in err.value.message
    assert "-hls_segment_filename" in err.value.message
    # The publisher mends its ways: segments arrive, playlists are taken again.
    _upload(ingest, "cam", "720p/seg-3.ts", (ts_dir / "seg-3.ts").read_bytes())
    accepted = await ingest.receive_playlist("cam", "720p/index.m3u8",
                                             _playlist_upto(ts_dir / "index.m3u8", 4), P)
    assert accepted.committed == 1
    assert [s.data for s in _rendition(hub, variant="720p").segments] == [
        (ts_dir / "seg-3.ts").read_bytes()]


async def test_too_many_segments_behind_a_missing_one_give_it_up(ts_dir: Path) -> None:
    metrics = Metrics()
    hub, ingest = _ingest(metrics=metrics, max_awaited=3)
    await ingest.receive_playlist("cam", "index.m3u8",
                                  _playlist_upto(ts_dir / "index.m3u8", 1), P)
    for n in (1, 2):
        _upload(ingest, "cam", f"seg-{n}.ts", (ts_dir / f"seg-{n}.ts").read_bytes())
        accepted = await ingest.receive_playlist(
            "cam", "index.m3u8", _playlist_upto(ts_dir / "index.m3u8", n + 1), P)
        assert accepted.awaited == tuple(f"seg-{i}.ts" for i in range(n + 1))
    _upload(ingest, "cam", "seg-3.ts", (ts_dir / "seg-3.ts").read_bytes())
    accepted = await ingest.receive_playlist("cam", "index.m3u8",
                                             _playlist_upto(ts_dir / "index.m3u8", 4), P)
    # Three queued behind seg-0, one more than the bound: seg-0 is given up.
    assert accepted == Accepted(committed=3, awaited=())
    segments = _rendition(hub).segments
    assert len(segments) == 3 and segments[0].data == (ts_dir / "seg-1.ts").read_bytes()
    assert _lost(metrics, "not_uploaded") == 1


async def test_endlist_before_the_last_segment_ends_the_stream_after_it(ts_dir: Path) -> None:
    hub, ingest = _ingest()
    for n in range(2):
        _upload(ingest, "cam", f"seg-{n}.ts", (ts_dir / f"seg-{n}.ts").read_bytes())
    accepted = await ingest.receive_playlist(
        "cam", "index.m3u8", _playlist_upto(ts_dir / "index.m3u8", 3, end=True), P)
    assert accepted.awaited == ("seg-2.ts",)
    assert not _rendition(hub).ended
    assert _upload(ingest, "cam", "seg-2.ts", (ts_dir / "seg-2.ts").read_bytes()).committed == 1
    rendition = _rendition(hub)
    assert rendition.ended and len(rendition.segments) == 3
    text = rendition.playlist().body.decode()  # type: ignore[union-attr]
    assert "#EXT-X-ENDLIST" in text and "#EXT-X-DISCONTINUITY\n" not in text


async def test_endlist_with_a_segment_that_never_comes_ends_once_it_is_given_up(
        ts_dir: Path) -> None:
    clock = FakeClock(1000.0)
    hub, ingest = _ingest(clock=clock)
    _upload(ingest, "cam", "seg-0.ts", (ts_dir / "seg-0.ts").read_bytes())
    await ingest.receive_playlist(
        "cam", "index.m3u8", _playlist_upto(ts_dir / "index.m3u8", 2, end=True), P)
    assert not _rendition(hub).ended
    clock.now += 10
    ingest.sweep()
    assert _rendition(hub).ended and len(_rendition(hub).segments) == 1


async def test_fmp4_init_and_segment_after_their_playlist(fmp4_dir: Path) -> None:
    hub, ingest = _ingest()
    accepted = await ingest.receive_playlist(
        "cam", "index.m3u8", _playlist_upto(fmp4_dir / "index.m3u8", 1), P)
    assert accepted.awaited == ("seg-0.m4s",)
    # The segment alone is not enough: it waits for its init section.
    assert _upload(ingest, "cam", "seg-0.m4s",
                   (fmp4_dir / "seg-0.m4s").read_bytes()).committed == 0
    assert _upload(ingest, "cam", "init.mp4",
                   (fmp4_dir / "init.mp4").read_bytes()).committed == 1
    _upload(ingest, "cam", "seg-1.m4s", (fmp4_dir / "seg-1.m4s").read_bytes())
    await ingest.receive_playlist("cam", "index.m3u8",
                                  _playlist_upto(fmp4_dir / "index.m3u8", 2), P)
    rendition = _rendition(hub)
    text = rendition.playlist().body.decode()  # type: ignore[union-attr]
    assert_valid(text, live=True)
    init_uri = text.split('#EXT-X-MAP:URI="')[1].split('"')[0]
    assert rendition.get(init_uri).data == (fmp4_dir / "init.mp4").read_bytes()  # type: ignore[union-attr]
    assert len(rendition.segments) == 2 and not rendition.segments[1].discontinuity


async def test_variants_await_their_own_segments(ts_dir: Path) -> None:
    hub, ingest = _ingest()
    master = (b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nhi/index.m3u8\n"
              b"#EXT-X-STREAM-INF:BANDWIDTH=200000\nlo/index.m3u8\n")
    await ingest.receive_playlist("cam", "index.m3u8", master, P)
    playlist = _playlist_upto(ts_dir / "index.m3u8", 1)
    for variant in ("hi", "lo"):
        accepted = await ingest.receive_playlist("cam", f"{variant}/index.m3u8", playlist, P)
        assert accepted.awaited == ("seg-0.ts",)
    _upload(ingest, "cam", "lo/seg-0.ts", (ts_dir / "seg-0.ts").read_bytes())
    assert len(_rendition(hub, variant="lo").segments) == 1
    assert _rendition(hub, variant="hi").segments == ()
    _upload(ingest, "cam", "hi/seg-0.ts", (ts_dir / "seg-0.ts").read_bytes())
    assert len(_rendition(hub, variant="hi").segments) == 1


async def test_a_restart_gives_up_what_the_last_session_still_awaited(ts_dir: Path) -> None:
    metrics = Metrics()
    hub, ingest = _ingest(PublishPolicy.TAKEOVER, metrics=metrics)
    for n in (0, 1, 3):
        _upload(ingest, "cam", f"seg-{n}.ts", (ts_dir / f"seg-{n}.ts").read_bytes())
    accepted = await ingest.receive_playlist("cam", "index.m3u8",
                                             _playlist_upto(ts_dir / "index.m3u8", 4), P)
    assert accepted.awaited == ("seg-2.ts", "seg-3.ts")
    # The publisher starts over from zero; its numbering goes back.
    _upload(ingest, "cam", "seg-0.ts", (ts_dir / "seg-0.ts").read_bytes())
    accepted = await ingest.receive_playlist("cam", "index.m3u8",
                                             _playlist_upto(ts_dir / "index.m3u8", 1), P)
    assert accepted == Accepted(committed=1, awaited=())
    segments = _rendition(hub).segments
    assert [s.data for s in segments] == [(ts_dir / f"seg-{n}.ts").read_bytes()
                                          for n in (0, 1, 3, 0)]
    assert [s.discontinuity for s in segments] == [False, False, True, True]
    assert _lost(metrics, "not_uploaded") == 1


async def test_a_restart_whose_first_playlist_comes_before_its_segment(ts_dir: Path) -> None:
    hub, ingest = _ingest(PublishPolicy.TAKEOVER)
    for n in range(3):
        _upload(ingest, "cam", f"seg-{n}.ts", (ts_dir / f"seg-{n}.ts").read_bytes())
    await ingest.receive_playlist("cam", "index.m3u8",
                                  _playlist_upto(ts_dir / "index.m3u8", 3), P)
    # The new session's first playlist looks like a late copy: nothing yet tells them
    # apart, and it changes nothing.
    await ingest.receive_playlist("cam", "index.m3u8",
                                  _playlist_upto(ts_dir / "index.m3u8", 1), P)
    _upload(ingest, "cam", "seg-0.ts", b"G" * 188)
    # Its next playlist names a segment uploaded anew: a restart, and nothing is lost.
    await ingest.receive_playlist("cam", "index.m3u8",
                                  _playlist_upto(ts_dir / "index.m3u8", 2), P)
    _upload(ingest, "cam", "seg-1.ts", b"H" * 188)
    segments = _rendition(hub).segments
    assert [s.data[:1] for s in segments[3:]] == [b"G", b"H"]
    assert segments[3].discontinuity and not segments[4].discontinuity


async def test_delete_forgets_only_uploads_no_playlist_named(ts_dir: Path) -> None:
    hub, ingest = _ingest()
    for n in (1, 2):
        await ingest.receive_playlist("cam", "index.m3u8",
                                      _playlist_upto(ts_dir / "index.m3u8", n), P)
    _upload(ingest, "cam", "seg-1.ts", (ts_dir / "seg-1.ts").read_bytes())
    _upload(ingest, "cam", "stray.ts", b"G" * 188)
    ingest.delete("cam", "seg-1.ts")  # named, behind seg-0: kept
    ingest.delete("cam", "stray.ts")  # never named: forgotten
    assert _upload(ingest, "cam", "seg-0.ts", (ts_dir / "seg-0.ts").read_bytes()).committed == 2
    assert len(_rendition(hub).segments) == 2
    await ingest.receive_playlist("cam", "index.m3u8",
                                  b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:2\n"
                                  b"#EXTINF:1.0,\nstray.ts\n", P)
    assert len(_rendition(hub).segments) == 2  # stray.ts is awaited: it is gone


async def test_an_acknowledged_upload_never_named_is_counted_and_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    clock, metrics = FakeClock(1000.0), Metrics()
    _, ingest = _ingest(clock=clock, metrics=metrics, pending_ttl=60)
    _upload(ingest, "cam", "stray.ts", b"x" * 188)
    clock.now += 61
    with caplog.at_level(logging.WARNING, logger="hlsd.ingest.http_push"):
        ingest.sweep()
        ingest.sweep()
    assert _lost(metrics, "not_named") == 1
    assert len([r for r in caplog.records if "stray.ts" in r.getMessage()]) == 1


@pytest.mark.parametrize("body", [b"not a playlist", b"\xff\xfe", b"#EXTM3U\n#EXTINF:x,\na.ts\n"])
async def test_malformed_playlists_are_400(body: bytes) -> None:
    _, ingest = _ingest()
    with pytest.raises(IngestError) as err:
        await ingest.receive_playlist("cam", "index.m3u8", body, P)
    assert isinstance(err.value, Malformed)


@pytest.mark.parametrize(("stream", "path"), [
    ("..", "index.m3u8"), ("a" * 129, "x.ts"), ("cam", "../x.ts"), ("cam", "a/b/c.ts"),
    ("cam", ".hidden"), ("ca/m", "x.ts"), ("cam", ""),
])
def test_bad_ids_and_paths_are_400(stream: str, path: str) -> None:
    _, ingest = _ingest()
    with pytest.raises(IngestError) as err:
        ingest.admit_upload(stream, path, P)
    assert isinstance(err.value, Malformed)


async def test_fmp4_init_sections_travel_with_their_segments(fmp4_dir: Path) -> None:
    hub, ingest = _ingest()
    _upload(ingest, "cam", "init.mp4", (fmp4_dir / "init.mp4").read_bytes())
    for n in range(3):
        _upload(ingest, "cam", f"seg-{n}.m4s", (fmp4_dir / f"seg-{n}.m4s").read_bytes())
    await ingest.receive_playlist("cam", "index.m3u8",
                                  _playlist_upto(fmp4_dir / "index.m3u8", 3), P)
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
                                  _playlist_upto(ts_dir / "index.m3u8", 3), P)
    _upload(ingest, "cam", "seg-0.ts", (ts_dir / "seg-0.ts").read_bytes())  # starting over
    with pytest.raises(StreamBusy):
        await ingest.receive_playlist("cam", "index.m3u8",
                                      _playlist_upto(ts_dir / "index.m3u8", 1), P)


async def test_a_restarted_publisher_continues_after_a_discontinuity(ts_dir: Path) -> None:
    hub, ingest = _ingest(PublishPolicy.TAKEOVER)
    for n in range(3):
        _upload(ingest, "cam", f"seg-{n}.ts", (ts_dir / f"seg-{n}.ts").read_bytes())
    await ingest.receive_playlist("cam", "index.m3u8",
                                  _playlist_upto(ts_dir / "index.m3u8", 3), P)
    _upload(ingest, "cam", "seg-0.ts", (ts_dir / "seg-0.ts").read_bytes())
    await ingest.receive_playlist("cam", "index.m3u8",
                                  _playlist_upto(ts_dir / "index.m3u8", 1), P)
    rendition = hub.get("cam").renditions[""]  # type: ignore[union-attr]
    assert len(rendition.segments) == 4 and rendition.segments[-1].discontinuity
    assert [s.sequence for s in rendition.segments] == [0, 1, 2, 3]


async def test_endlist_ends_the_rendition(ts_dir: Path) -> None:
    hub, ingest = _ingest()
    _upload(ingest, "cam", "seg-0.ts", (ts_dir / "seg-0.ts").read_bytes())
    await ingest.receive_playlist(
        "cam", "index.m3u8", _playlist_upto(ts_dir / "index.m3u8", 1, end=True), P)
    text = hub.get("cam").renditions[""].playlist().body.decode()  # type: ignore[union-attr]
    assert "#EXT-X-ENDLIST" in text


async def test_a_second_publisher_is_refused_under_the_reject_policy(ts_dir: Path) -> None:
    _, ingest = _ingest()
    _upload(ingest, "cam", "seg-0.ts", (ts_dir / "seg-0.ts").read_bytes())
    await ingest.receive_playlist("cam", "index.m3u8",
                                  _playlist_upto(ts_dir / "index.m3u8", 1), P)
    with pytest.raises(StreamBusy):
        await ingest.receive_playlist("cam", "index.m3u8",
                                      _playlist_upto(ts_dir / "index.m3u8", 1),
                                      Publisher("intruder"))


async def test_an_upload_past_the_pending_bound_is_refused_not_an_older_one_dropped(
        ts_dir: Path) -> None:
    metrics = Metrics()
    hub, ingest = _ingest(max_pending_bytes=1000, metrics=metrics)
    with pytest.raises(IngestError) as err:
        _upload(ingest, "cam", "big.ts", b"x" * 1001)
    assert isinstance(err.value, TooLarge)
    for n in range(2):
        assert _upload(ingest, "cam", f"seg-{n}.ts", b"G" * 400) == Accepted()
    with pytest.raises(IngestError) as err:
        _upload(ingest, "cam", "seg-2.ts", b"G" * 400)
    assert isinstance(err.value, NoSpace) and err.value.limit == "live.max_pending_bytes"
    assert metrics.registry.get_sample_value(
        "hlsd_live_refused_uploads_total", {"reason": "pending_full"}) == 1
    # What was acknowledged is all still there.
    playlist = _playlist_upto(ts_dir / "index.m3u8", 2)
    assert (await ingest.receive_playlist("cam", "index.m3u8", playlist, P)).committed == 2
    assert len(_rendition(hub).segments) == 2


async def test_the_segment_next_in_line_is_taken_even_with_the_pending_bytes_full(
        ts_dir: Path) -> None:
    hub, ingest = _ingest(max_pending_bytes=1000)
    for n in (1, 2, 3):
        await ingest.receive_playlist("cam", "index.m3u8",
                                      _playlist_upto(ts_dir / "index.m3u8", n), P)
    _upload(ingest, "cam", "seg-1.ts", b"G" * 400)
    _upload(ingest, "cam", "seg-2.ts", b"G" * 400)
    # seg-0 would pass the bound, but it is what the others wait for: it goes live at once.
    assert _upload(ingest, "cam", "seg-0.ts", b"G" * 400).committed == 3
    assert len(_rendition(hub).segments) == 3


async def test_a_late_copy_of_an_older_playlist_changes_nothing(ts_dir: Path) -> None:
    hub, ingest = _ingest(PublishPolicy.TAKEOVER)
    for n in range(3):
        _upload(ingest, "cam", f"seg-{n}.ts", (ts_dir / f"seg-{n}.ts").read_bytes())
    await ingest.receive_playlist("cam", "index.m3u8",
                                  _playlist_upto(ts_dir / "index.m3u8", 3, end=True), P)
    late = await ingest.receive_playlist("cam", "index.m3u8",
                                         _playlist_upto(ts_dir / "index.m3u8", 2), P)
    rendition = hub.get("cam").renditions[""]  # type: ignore[union-attr]
    assert late.committed == 0 and rendition.ended
    assert not any(s.discontinuity for s in rendition.segments)


async def test_without_publisher_times_segments_stay_contiguous() -> None:
    hub, ingest = _ingest()
    playlist = ("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{n}\n"
                "#EXTINF:2.0,\nseg-{n}.ts\n")
    for n in range(4):  # pushed in a burst, faster than real time
        _upload(ingest, "cam", f"seg-{n}.ts", b"x" * 188)
        await ingest.receive_playlist("cam", "index.m3u8", playlist.format(n=n).encode(), P)
    segments = hub.get("cam").renditions[""].segments  # type: ignore[union-attr]
    times = [s.program_date_time for s in segments]
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [2.0, 2.0, 2.0]


def test_the_number_of_streams_being_pushed_is_bounded() -> None:
    clock = FakeClock(0.0)
    hub = StreamHub(window=6, policy=PublishPolicy.REJECT, idle_timeout=15, retention=60,
                    max_streams=10)
    ingest = HttpPushIngest(hub, max_pending_bytes=1000, max_feeds=3, pending_ttl=60,
                            clock=clock)
    for n in range(3):
        _upload(ingest, f"s{n}", "seg-0.ts", b"x")
    with pytest.raises(IngestError) as err:
        _upload(ingest, "s3", "seg-0.ts", b"x")
    assert isinstance(err.value, Unavailable)
    clock.now += 61  # uploads never named by a playlist, for streams that never began
    _upload(ingest, "s3", "seg-0.ts", b"x")


async def test_one_publish_key_pushes_a_bounded_number_of_streams() -> None:
    clock = FakeClock(1000.0)
    hub, ingest = _ingest(max_streams_per_key=2, clock=clock)
    a, b, keyless = Publisher("h:aaa", key="aaa"), Publisher("h:bbb", key="bbb"), P
    playlist = b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nseg-0.ts\n"
    for stream in ("s0", "s1"):
        _upload(ingest, stream, "seg-0.ts", b"G" * 188, a)
        await ingest.receive_playlist(stream, "index.m3u8", playlist, a)
    for refused in (lambda: ingest.admit_upload("s2", "seg-0.ts", a),
                    lambda: _upload(ingest, "s2", "seg-0.ts", b"G" * 188, a)):
        with pytest.raises(IngestError) as err:
            refused()
        assert isinstance(err.value, TooMany) and err.value.limit == "live.max_streams_per_key"
        assert "live.max_streams_per_key" in err.value.message
    with pytest.raises(IngestError):
        await ingest.receive_playlist("s2", "index.m3u8", playlist, a)
    # Streams it already pushes carry on; other keys, and keyless publishers, are not held.
    _upload(ingest, "s0", "seg-1.ts", b"G" * 188, a)
    _upload(ingest, "s2", "seg-0.ts", b"G" * 188, b)
    for n in range(3, 6):
        _upload(ingest, f"s{n}", "seg-0.ts", b"G" * 188, keyless)
    # Once the hub has forgotten one of its streams, the key may push another.
    s1 = hub.get("s1")
    assert s1 is not None
    s1.end()
    clock.now += 61
    hub.sweep()
    hub.sweep()
    ingest.sweep()
    _upload(ingest, "s6", "seg-0.ts", b"G" * 188, a)


async def test_joining_a_push_under_way_starts_at_once_from_what_was_uploaded(
        ts_dir: Path) -> None:
    # hlsd restarted while ffmpeg pushed: its next playlist names segments sent before.
    metrics = Metrics()
    hub, ingest = _ingest(metrics=metrics)
    _upload(ingest, "cam", "seg-3.ts", (ts_dir / "seg-3.ts").read_bytes())
    accepted = await ingest.receive_playlist("cam", "index.m3u8",
                                             _playlist_upto(ts_dir / "index.m3u8", 4), P)
    assert accepted == Accepted(committed=1, awaited=())
    assert [s.data for s in _rendition(hub).segments] == [(ts_dir / "seg-3.ts").read_bytes()]
    assert _lost(metrics, "not_uploaded") == 0


async def test_a_late_copy_while_a_segment_is_awaited_changes_nothing(ts_dir: Path) -> None:
    hub, ingest = _ingest()
    _upload(ingest, "cam", "seg-0.ts", (ts_dir / "seg-0.ts").read_bytes())
    await ingest.receive_playlist("cam", "index.m3u8",
                                  _playlist_upto(ts_dir / "index.m3u8", 1), P)
    await ingest.receive_playlist("cam", "index.m3u8",
                                  _playlist_upto(ts_dir / "index.m3u8", 2), P)
    late = await ingest.receive_playlist("cam", "index.m3u8",
                                         _playlist_upto(ts_dir / "index.m3u8", 1), P)
    assert late == Accepted(committed=0, awaited=("seg-1.ts",))
    _upload(ingest, "cam", "seg-1.ts", (ts_dir / "seg-1.ts").read_bytes())
    segments = _rendition(hub).segments
    assert len(segments) == 2 and not any(s.discontinuity for s in segments)


async def test_a_first_playlist_overtaken_by_the_next_one_changes_nothing(ts_dir: Path) -> None:
    hub, ingest = _ingest(PublishPolicy.REJECT)
    second = await ingest.receive_playlist("cam", "index.m3u8",
                                           _playlist_upto(ts_dir / "index.m3u8", 2), P)
    assert second.awaited == ("seg-1.ts",)  # joined at the newest: seg-0 is not awaited
    first = await ingest.receive_playlist("cam", "index.m3u8",
                                          _playlist_upto(ts_dir / "index.m3u8", 1), P)
    assert first == Accepted(committed=0, awaited=("seg-1.ts",))  # a late copy
    with pytest.raises(IngestError) as err:
        _upload(ingest, "cam", "seg-0.ts", (ts_dir / "seg-0.ts").read_bytes())
    assert isinstance(err.value, Gone)  # refused, not acknowledged and lost
    assert _upload(ingest, "cam", "seg-1.ts", (ts_dir / "seg-1.ts").read_bytes()).committed == 1
    assert [s.data for s in _rendition(hub).segments] == [(ts_dir / "seg-1.ts").read_bytes()]
