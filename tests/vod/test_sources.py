import asyncio
import random
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hlsd import errors
from hlsd.infra.disk_budget import DiskBudget
from hlsd.infra.disk_cache import DiskLRU
from hlsd.infra.download import Fetcher, make_client
from hlsd.media import MediaError, build_index, build_segment
from hlsd.vod.errors import (
    InsufficientStorage,
    InvalidSourceId,
    SourceTooLarge,
    UpstreamFailed,
    UpstreamNotFound,
)
from hlsd.vod.ranged import RangedSource
from hlsd.vod.sources import RangeSettings, SourceStore, upstream_url
from tests._support import media as fx
from tests._support.hlsd_server import HlsdServer
from tests._support.servers import Upstream

BLOCK = 64 * 1024


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40 s MP4 of about 1.5 MB: two dozen blocks, seven segments."""
    return fx.h264_aac_mp4(tmp_path_factory.mktemp("src") / "clip.mp4", seconds=40)


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.wav(tmp_path_factory.mktemp("src") / "tone.wav", seconds=20)


@pytest.fixture
def up() -> Iterator[Upstream]:
    with Upstream() as upstream:
        yield upstream


def test_ids_are_one_encoded_path_segment() -> None:
    assert upstream_url("http://u/audio/", "a b") == "http://u/audio/a%20b"
    assert upstream_url("http://u/audio", "../../x") == "http://u/audio/..%2F..%2Fx"
    assert upstream_url("http://u/a", "@evil.com/x") == "http://u/a/%40evil.com%2Fx"
    assert upstream_url("http://u/a", "x?y#z") == "http://u/a/x%3Fy%23z"
    for bad in ("", ".", ".."):
        with pytest.raises(InvalidSourceId):
            upstream_url("http://u/a", bad)


class Rig:
    def __init__(self, root: Path, up: Upstream, *, ranges: RangeSettings | None,
                 cache_bytes: int = 10**9) -> None:
        self.client = make_client(connect_timeout=2, read_timeout=5, max_redirects=2)
        self.fetcher = Fetcher(self.client, root / "temp", deadline=10,
                               budget=DiskBudget("tempdir", 10**9, enforced=True))
        self.media = DiskLRU(root / "media", name="sources", max_bytes=cache_bytes,
                             max_entries=10)
        self.store = SourceStore(
            fetcher=self.fetcher, media_cache=self.media,
            vtt_cache=DiskLRU(root / "vtt", name="vtt", max_bytes=10**6, max_entries=10),
            media_prefix=f"{up.url}/m", vtt_prefix=None, max_bytes=10**9,
            max_vtt_bytes=10**5, ranges=ranges)


SMALL = RangeSettings(block_size=BLOCK, read_ahead=1)


def rig(tmp_path: Path, up: Upstream, ranges: RangeSettings | None = SMALL,
        **kw: int) -> Rig:
    return Rig(tmp_path, up, ranges=ranges, **kw)


async def ranged(r: Rig, qid: str) -> RangedSource:
    media = (await r.store.ensure(qid)).media
    assert isinstance(media, RangedSource)
    return media


async def test_a_ranged_source_reads_what_it_needs_and_builds_what_the_file_builds(
        tmp_path: Path, up: Upstream, clip: Path) -> None:
    up.add_file("/m/clip", clip)
    r = rig(tmp_path, up)
    source = await ranged(r, "clip")
    assert source.size == clip.stat().st_size
    assert up.requests[0].header("range") == f"bytes=0-{BLOCK - 1}"
    index = await asyncio.to_thread(build_index, source)
    assert index == build_index(clip)
    blocks = -(-source.size // BLOCK)
    assert len(source.present()) <= 4 < blocks  # the moov and the first keyframes
    first = await asyncio.to_thread(build_segment, source, index, 0)
    assert first == build_segment(clip, index, 0)
    assert max(source.present()) < blocks // 2
    last = len(index.segments) - 1
    assert await asyncio.to_thread(build_segment, source, index, last) == build_segment(
        clip, index, last)
    out = tmp_path / "first.ts"
    out.write_bytes(first)
    assert fx.decode_errors(str(out)) == ""
    assert r.store.fetches == 1 and (await r.store.ensure("clip")).media is source


async def test_an_upstream_that_ignores_ranges_is_downloaded_whole(
        tmp_path: Path, up: Upstream, clip: Path) -> None:
    up.add_drip("/m/clip", clip.read_bytes(), chunk=256 * 1024, interval=0.0)
    r = rig(tmp_path, up)
    media = (await r.store.ensure("clip")).media
    assert isinstance(media, Path) and media.read_bytes() == clip.read_bytes()
    assert up.count("/m/clip") == 1
    plain = rig(tmp_path / "plain", up, None)  # ranges off: one plain GET
    assert isinstance((await plain.store.ensure("clip")).media, Path)
    assert up.requests[-1].header("range") is None


async def test_a_fully_read_source_becomes_an_ordinary_cached_file(
        tmp_path: Path, up: Upstream, clip: Path) -> None:
    up.add_file("/m/clip", clip)
    r = rig(tmp_path, up)
    source = await ranged(r, "clip")
    assert len(r.media) == 1 and r.media.bytes == source.size  # counted whole from the start
    with source.open() as reader:
        reader.seek(source.size - 10)
        assert reader.read() == clip.read_bytes()[-10:]
        reader.seek(0)
        assert reader.read() == clip.read_bytes()
    assert source.complete
    files = await r.store.ensure("clip")
    assert isinstance(files.media, Path) and files.media.read_bytes() == clip.read_bytes()
    assert files.media == r.media.path_for(files.key)
    assert len(r.media) == 1 and r.media.bytes == source.size
    assert [p.name for p in r.media.root.iterdir()] == [files.key]
    assert source.exists() and source.path == files.media  # a reader of it still works
    with source.open() as reader:
        assert reader.read(4) == clip.read_bytes()[:4]


async def test_a_changed_upstream_body_is_noticed_never_mixed_in(
        tmp_path: Path, up: Upstream, clip: Path) -> None:
    data = clip.read_bytes()
    up.add_bytes("/m/clip", data, headers={"ETag": '"one"'})
    r = rig(tmp_path, up)
    source = await ranged(r, "clip")
    up.add_bytes("/m/clip", data[::-1], headers={"ETag": '"two"'})  # same size, new body
    with pytest.raises(UpstreamFailed, match="changed"), source.open() as reader:
        reader.seek(5 * BLOCK)
        reader.read(10)
    assert up.requests[-1].header("if-range") == '"one"'
    assert not source.exists()
    again = await ranged(r, "clip")  # a new probe, a new source
    assert again is not source and r.store.fetches == 2
    with again.open() as reader:
        reader.seek(5 * BLOCK)
        assert reader.read(10) == data[::-1][5 * BLOCK:5 * BLOCK + 10]


async def test_upstream_failures_while_reading_are_upstream_errors(
        tmp_path: Path, up: Upstream, clip: Path) -> None:
    up.add_file("/m/clip", clip)
    r = rig(tmp_path, up)
    source = await ranged(r, "clip")
    up.add_status("/m/clip", 503)
    with pytest.raises(UpstreamFailed, match="503"):
        await asyncio.to_thread(build_index, source)  # not MediaError: the media is fine
    assert source.exists()
    up.add_file("/m/clip", clip)
    assert await asyncio.to_thread(build_index, source) == build_index(clip)


async def test_ranged_sources_count_their_whole_size_in_the_cache(
        tmp_path: Path, up: Upstream, clip: Path) -> None:
    size = clip.stat().st_size
    up.add_file("/m/a", clip)
    up.add_file("/m/b", clip)
    r = rig(tmp_path, up, cache_bytes=size + size // 2)
    a = await ranged(r, "a")
    b = await ranged(r, "b")  # no room for both: the older goes
    assert r.media.bytes == size and not a.exists() and b.exists()
    assert (await ranged(r, "a")) is not a


async def test_concurrent_readers_fetch_each_block_once(
        tmp_path: Path, up: Upstream, clip: Path) -> None:
    data = clip.read_bytes()
    up.add_file("/m/clip", clip)
    r = rig(tmp_path, up, RangeSettings(block_size=BLOCK, read_ahead=2))
    source = await ranged(r, "clip")
    errors: list[BaseException] = []

    def reader(seed: int) -> None:
        rnd = random.Random(seed)
        try:
            with source.open() as f:
                for _ in range(40):
                    offset, n = rnd.randrange(source.size), rnd.randrange(1, 3 * BLOCK)
                    f.seek(offset)
                    assert f.read(n) == data[offset:offset + n]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    blocks = -(-source.size // BLOCK)
    ranges = [req.header("range") for req in up.requests]
    fetched = []
    for spec in ranges[1:]:
        assert spec is not None
        first, last = (int(x) for x in spec.removeprefix("bytes=").split("-"))
        fetched += range(first // BLOCK, last // BLOCK + 1)
    assert sorted(fetched) == sorted(set(fetched))  # no block twice
    assert len(fetched) <= blocks - 1


async def test_an_audio_file_indexes_from_its_header_and_tail(
        tmp_path: Path, up: Upstream, tone: Path) -> None:
    up.add_file("/m/tone", tone)
    r = rig(tmp_path, up)
    source = await ranged(r, "tone")
    index = await asyncio.to_thread(build_index, source)
    assert index == build_index(tone)
    blocks = -(-source.size // BLOCK)
    middle = set(range(blocks // 3, 2 * blocks // 3))  # the head and the tail are read
    assert not middle & set(source.present())
    assert await asyncio.to_thread(build_segment, source, index, 1) == build_segment(
        tone, index, 1)


async def test_not_media_over_ranges_is_a_media_error(tmp_path: Path, up: Upstream) -> None:
    up.add_bytes("/m/notes", b"this is not media\n" * 10_000)
    source = await ranged(rig(tmp_path, up), "notes")
    with pytest.raises(MediaError, match="not a media file"):
        await asyncio.to_thread(build_index, source)


async def test_sparse_files_of_an_earlier_run_are_cleared(
        tmp_path: Path, up: Upstream, clip: Path) -> None:
    up.add_file("/m/clip", clip)
    r = rig(tmp_path, up)
    source = await ranged(r, "clip")
    assert source.path.exists()
    again = rig(tmp_path, up)  # a restart: the block map is gone with the process
    assert not source.path.exists() and again.media.bytes == 0


def test_hlsd_plays_a_source_it_reads_by_range(tmp_path: Path, up: Upstream,
                                               clip: Path) -> None:
    """End to end: a real hlsd over a real upstream that honours ranges (the default
    block is 1 MiB, the clip about two): no request for the whole body, every block
    fetched once, and the stream decodes cleanly."""
    up.add_file("/media/clip.mp4", clip)
    config = {
        "handshake": "hs", "url": {"video": f"{up.url}/media"},
        "cache": {"dir": "cache", "size": "100MB", "limit": 10, "tempdir": "temp",
                  "static": "static", "expiry": "10m"},
    }
    with HlsdServer(config, tmp_dir=tmp_path / "hlsd") as hlsd:
        issued = httpx.post(f"{hlsd.url}/api/token", json={"handshake": "hs", "qid": "clip.mp4"})
        assert issued.status_code == 201, issued.text
        rid, token = issued.json()["rid"], issued.json()["token"]
        playlist = f"{hlsd.url}/hls/{rid}/index.m3u8?token={token}"
        assert fx.decode_errors(playlist) == ""
    gets = [r for r in up.requests if r.path == "/media/clip.mp4"]
    assert len(gets) >= 2 and all(r.header("range") for r in gets)
    spans = [tuple(int(x) for x in str(r.header("range")).removeprefix("bytes=").split("-"))
             for r in gets]
    assert sum(last - first + 1 for first, last in spans) <= clip.stat().st_size


@pytest.mark.parametrize("ranges", [None, SMALL])
async def test_download_failures_are_the_source_errors_clients_see(
        tmp_path: Path, up: Upstream, ranges: RangeSettings | None) -> None:
    up.add_status("/m/gone", 404)
    up.add_bytes("/m/big", b"x" * 5000)
    small = rig(tmp_path, up, ranges=ranges, cache_bytes=4000)  # sources up to 4000 bytes
    with pytest.raises(UpstreamNotFound):
        await small.store.ensure("gone")
    with pytest.raises(SourceTooLarge, match="upstream media is larger than 4000") as big:
        await small.store.ensure("big")
    assert isinstance(big.value, errors.TooLarge)  # a 413, as every "too large" is


async def test_a_full_temp_dir_is_insufficient_storage(tmp_path: Path, up: Upstream) -> None:
    up.add_bytes("/m/a", b"x" * 5000)
    full = rig(tmp_path, up, ranges=None)
    full.fetcher = Fetcher(full.client, tmp_path / "temp", deadline=10,
                           budget=DiskBudget("tempdir", 1000, enforced=True))
    full.store = SourceStore(
        fetcher=full.fetcher, media_cache=full.media,
        vtt_cache=DiskLRU(tmp_path / "vtt", name="vtt", max_bytes=10**6, max_entries=10),
        media_prefix=f"{up.url}/m", vtt_prefix=None, max_bytes=10**9, max_vtt_bytes=10**5,
        ranges=None)
    with pytest.raises(InsufficientStorage) as refused:
        await full.store.ensure("a")
    assert isinstance(refused.value, errors.NoSpace)
