"""Resolving channel sources against real HLS VODs made by ffmpeg, served by a real
HTTP server (URL sources) or read from a real folder (library sources)."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from hlsd.channels.program import Program, SourceKind
from hlsd.channels.sources import (
    UNDECLARED_BANDWIDTH,
    InvalidSourcePath,
    SourceUnavailable,
    SourceUnusable,
    library_file,
    resolve_library,
    resolve_url,
)
from hlsd.infra.bounded import TooLarge
from tests._support.hls_vod import abr_vod, media_only_vod
from tests._support.servers import Upstream

SECONDS = 12
SEGMENT = 2
CLIP_SECONDS = 8


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library folder: `show/` (ABR, 2 variants), `clip/` (a media playlist alone)
    and `show/reversed.m3u8`, a master listing the low variant first."""
    root = tmp_path_factory.mktemp("library")
    master = abr_vod(root / "show", seconds=SECONDS, segment=SEGMENT)
    media_only_vod(root / "clip", seconds=CLIP_SECONDS, segment=SEGMENT)
    (root / "show" / "reversed.m3u8").write_text(_reverse_master(master.read_text()))
    return root


def _reverse_master(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    header = [line for line in lines if not line.startswith("#EXT-X-STREAM-INF")
              and line.startswith("#")]
    pairs = [(lines[i], lines[i + 1]) for i, line in enumerate(lines)
             if line.startswith("#EXT-X-STREAM-INF")]
    return "\n".join([*header, *(f"{a}\n{b}" for a, b in reversed(pairs))]) + "\n"


@pytest.fixture(scope="module")
def server(library: Path) -> Iterator[Upstream]:
    with Upstream() as up:
        up.add_dir("/lib", library)
        yield up


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5, follow_redirects=True) as c:
        yield c


def _media(durations: list[float], *, endlist: bool = True, head: str = "",
           prefix: str = "seg") -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3",
             f"#EXT-X-TARGETDURATION:{max(round(d) for d in durations)}", head]
    for n, d in enumerate(durations):
        lines += [f"#EXTINF:{d:.3f},", f"{prefix}{n}.ts"]
    if endlist:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(line for line in lines if line) + "\n"


def _master(*entries: tuple[int, str], head: str = "") -> str:
    lines = ["#EXTM3U", head]
    for bandwidth, uri in entries:
        lines += [f"#EXT-X-STREAM-INF:BANDWIDTH={bandwidth}", uri]
    return "\n".join(line for line in lines if line) + "\n"


def _serve(up: Upstream, path: str, text: str) -> str:
    up.add_bytes(path, text.encode(), "application/vnd.apple.mpegurl")
    return up.url + path


# -- URL sources ------------------------------------------------------------------------


async def test_master_with_two_variants(server: Upstream, client: httpx.AsyncClient) -> None:
    url = f"{server.url}/lib/show/master.m3u8"
    program = await resolve_url(url, client=client)

    assert program.kind is SourceKind.URL and program.ref == url
    assert len(program.variants) == 2
    high, low = program.variants
    assert high.bandwidth > low.bandwidth > 0
    assert high.resolution == (640, 360) and low.resolution == (320, 180)
    for variant in program.variants:
        assert variant.codecs is not None and variant.codecs.startswith("avc1.")
        assert "mp4a.40.2" in variant.codecs
        assert variant.has_video and variant.has_audio
        assert variant.average_bandwidth is not None and variant.init is None
        assert len(variant.uris) == SECONDS // SEGMENT
    assert high.uris[0] == f"{server.url}/lib/show/v0/seg0.ts"
    assert low.uris[-1] == f"{server.url}/lib/show/v1/seg{SECONDS // SEGMENT - 1}.ts"
    assert abs(program.duration_us - SECONDS * 1_000_000) <= 100_000
    assert all(d == SEGMENT * 1_000_000 for d in program.durations_us)
    # The URIs are real segments.
    response = await client.get(high.uris[-1])
    assert response.status_code == 200 and response.content[:1] == b"\x47"


async def test_variants_are_ordered_highest_bandwidth_first(
        server: Upstream, client: httpx.AsyncClient) -> None:
    program = await resolve_url(f"{server.url}/lib/show/reversed.m3u8", client=client)
    assert [v.resolution for v in program.variants] == [(640, 360), (320, 180)]
    assert program.variants[0].bandwidth > program.variants[1].bandwidth


async def test_a_media_playlist_alone_is_one_variant(
        server: Upstream, client: httpx.AsyncClient) -> None:
    url = f"{server.url}/lib/clip/index.m3u8"
    program = await resolve_url(url, client=client)
    (variant,) = program.variants
    assert variant.bandwidth == UNDECLARED_BANDWIDTH
    assert variant.resolution is None and variant.codecs is None
    assert variant.uris == tuple(f"{server.url}/lib/clip/seg{n}.ts"
                                 for n in range(CLIP_SECONDS // SEGMENT))
    assert abs(program.duration_us - CLIP_SECONDS * 1_000_000) <= 100_000


async def test_uris_resolve_against_the_url_after_redirects(
        server: Upstream, client: httpx.AsyncClient) -> None:
    server.add_redirect("/moved/master.m3u8", "/lib/show/master.m3u8")
    program = await resolve_url(f"{server.url}/moved/master.m3u8", client=client)
    assert program.ref == f"{server.url}/moved/master.m3u8"
    assert program.variants[0].uris[0] == f"{server.url}/lib/show/v0/seg0.ts"


async def test_init_sections_become_absolute(server: Upstream,
                                             client: httpx.AsyncClient) -> None:
    url = _serve(server, "/fmp4/a/index.m3u8",
                 _media([2.0, 2.0], head='#EXT-X-MAP:URI="../init.mp4"'))
    (variant,) = (await resolve_url(url, client=client)).variants
    assert variant.init == f"{server.url}/fmp4/init.mp4"
    assert variant.uris == (f"{server.url}/fmp4/a/seg0.ts", f"{server.url}/fmp4/a/seg1.ts")


async def test_program_json_round_trip(server: Upstream, client: httpx.AsyncClient,
                                       library: Path) -> None:
    for program in (await resolve_url(f"{server.url}/lib/show/master.m3u8", client=client),
                    resolve_library(library, "show/master.m3u8")):
        again = Program.from_json(json.loads(json.dumps(program.to_json())))
        assert again == program
        assert again.canonical() == program.canonical() and again.key == program.key


async def test_a_404_is_unavailable(server: Upstream, client: httpx.AsyncClient) -> None:
    with pytest.raises(SourceUnavailable, match="404"):
        await resolve_url(f"{server.url}/lib/nothing.m3u8", client=client)
    # A master whose variant is gone is unavailable too.
    url = _serve(server, "/gone/master.m3u8", _master((100_000, "missing.m3u8")))
    with pytest.raises(SourceUnavailable, match=r"missing\.m3u8 answered HTTP 404"):
        await resolve_url(url, client=client)


async def test_refused_and_slow_sources_are_unavailable(
        server: Upstream, client: httpx.AsyncClient) -> None:
    with Upstream() as closed:
        dead = f"{closed.url}/x.m3u8"
    with pytest.raises(SourceUnavailable, match="could not be read"):
        await resolve_url(dead, client=client)

    url = _serve(server, "/slow.m3u8", _media([2.0]))
    server.add_delay("/slow.m3u8", 5)
    async with httpx.AsyncClient(timeout=0.3) as impatient:
        with pytest.raises(SourceUnavailable, match="did not answer in time"):
            await resolve_url(url, client=impatient)


async def test_something_else_than_a_playlist_is_unavailable(
        server: Upstream, client: httpx.AsyncClient) -> None:
    server.add_bytes("/page.m3u8", b"<html>hello</html>", "text/html")
    with pytest.raises(SourceUnavailable, match="not an HLS playlist"):
        await resolve_url(f"{server.url}/page.m3u8", client=client)


async def test_oversized_playlists_are_too_large(server: Upstream,
                                                 client: httpx.AsyncClient) -> None:
    url = f"{server.url}/lib/show/master.m3u8"
    with pytest.raises(TooLarge, match=f"a playlist at {url} is larger than 100 bytes"):
        await resolve_url(url, client=client, max_playlist_bytes=100)
    # Without a Content-Length, reading stops at the limit (the body never ends).
    server.add_endless("/endless.m3u8", "application/vnd.apple.mpegurl")
    with pytest.raises(TooLarge, match="larger than 65536 bytes"):
        await resolve_url(f"{server.url}/endless.m3u8", client=client,
                          max_playlist_bytes=65536)


async def test_only_http_urls(client: httpx.AsyncClient) -> None:
    for url in ("file:///etc/passwd", "ftp://example.com/a.m3u8", "show/master.m3u8",
                "http:///a.m3u8"):
        with pytest.raises(SourceUnusable, match="not an http"):
            await resolve_url(url, client=client)


async def test_segment_uris_must_be_web_urls(server: Upstream,
                                             client: httpx.AsyncClient) -> None:
    text = _media([2.0]).replace("seg0.ts", "file:///etc/passwd")
    with pytest.raises(SourceUnusable, match="not an http"):
        await resolve_url(_serve(server, "/file-uri.m3u8", text), client=client)


async def test_live_playlists_are_unusable(server: Upstream, client: httpx.AsyncClient) -> None:
    url = _serve(server, "/live/index.m3u8", _media([2.0, 2.0, 2.0], endlist=False))
    with pytest.raises(SourceUnusable, match="live playlist"):
        await resolve_url(url, client=client)
    event = _media([2.0, 2.0], endlist=False, head="#EXT-X-PLAYLIST-TYPE:EVENT")
    with pytest.raises(SourceUnusable, match="live playlist"):
        await resolve_url(_serve(server, "/live/event.m3u8", event), client=client)
    # A master whose variant is live is refused as well.
    master = _serve(server, "/live/master.m3u8", _master((100_000, "index.m3u8")))
    with pytest.raises(SourceUnusable, match="live playlist"):
        await resolve_url(master, client=client)


async def test_a_finished_event_playlist_is_usable(server: Upstream,
                                                   client: httpx.AsyncClient) -> None:
    text = _media([2.0, 2.0], head="#EXT-X-PLAYLIST-TYPE:EVENT")
    program = await resolve_url(_serve(server, "/event-done.m3u8", text), client=client)
    assert program.durations_us == (2_000_000, 2_000_000)


async def test_encrypted_playlists_are_unusable(server: Upstream,
                                                client: httpx.AsyncClient) -> None:
    text = _media([2.0, 2.0], head='#EXT-X-KEY:METHOD=AES-128,URI="key.bin"')
    with pytest.raises(SourceUnusable, match="EXT-X-KEY"):
        await resolve_url(_serve(server, "/enc.m3u8", text), client=client)


async def test_byte_ranges_are_unusable(server: Upstream, client: httpx.AsyncClient) -> None:
    text = ("#EXTM3U\n#EXT-X-VERSION:4\n#EXT-X-TARGETDURATION:2\n"
            "#EXTINF:2.0,\n#EXT-X-BYTERANGE:1000@0\nall.ts\n"
            "#EXTINF:2.0,\n#EXT-X-BYTERANGE:1000\nall.ts\n#EXT-X-ENDLIST\n")
    with pytest.raises(SourceUnusable, match="byte range"):
        await resolve_url(_serve(server, "/ranges.m3u8", text), client=client)


async def test_alternative_audio_is_unusable(server: Upstream,
                                             client: httpx.AsyncClient) -> None:
    head = '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="English",DEFAULT=YES,URI="a.m3u8"'
    text = _master((500_000, "v.m3u8"), head=head).replace(
        "BANDWIDTH=500000", 'BANDWIDTH=500000,AUDIO="aud"')
    with pytest.raises(SourceUnusable, match="alternative audio"):
        await resolve_url(_serve(server, "/alt/master.m3u8", text), client=client)


async def test_discontinuities_and_empty_playlists_are_unusable(
        server: Upstream, client: httpx.AsyncClient) -> None:
    text = _media([2.0, 2.0]).replace(
        "#EXTINF:2.000,\nseg1.ts", "#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\nseg1.ts")
    with pytest.raises(SourceUnusable, match="DISCONTINUITY"):
        await resolve_url(_serve(server, "/disc.m3u8", text), client=client)
    empty = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-ENDLIST\n"
    with pytest.raises(SourceUnusable, match="no segments"):
        await resolve_url(_serve(server, "/empty.m3u8", empty), client=client)


async def test_misaligned_variants_are_unusable(server: Upstream,
                                                client: httpx.AsyncClient) -> None:
    _serve(server, "/mis/a.m3u8", _media([2.0, 2.0, 2.0]))
    _serve(server, "/mis/b.m3u8", _media([2.0, 2.0]))
    _serve(server, "/mis/c.m3u8", _media([2.0, 3.0, 1.0]))
    count = _serve(server, "/mis/count.m3u8", _master((900_000, "a.m3u8"), (300_000, "b.m3u8")))
    with pytest.raises(SourceUnusable, match=r"variant .*/mis/b\.m3u8 has 2 segments"):
        await resolve_url(count, client=client)
    lengths = _serve(server, "/mis/lengths.m3u8",
                     _master((900_000, "a.m3u8"), (300_000, "c.m3u8")))
    with pytest.raises(SourceUnusable, match=r"segment 1 of variant .*/mis/c\.m3u8"):
        await resolve_url(lengths, client=client)
    # Within the tolerance, a variant still counts as aligned.
    _serve(server, "/mis/d.m3u8", _media([2.1, 1.9, 2.0]))
    near = _serve(server, "/mis/near.m3u8", _master((300_000, "d.m3u8"), (900_000, "a.m3u8")))
    program = await resolve_url(near, client=client)
    assert program.durations_us == (2_000_000,) * 3  # the highest bandwidth sets the grid


async def test_malformed_playlists_are_unusable(server: Upstream,
                                                client: httpx.AsyncClient) -> None:
    text = "#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1\nv.m3u8\n"  # no BANDWIDTH
    with pytest.raises(SourceUnusable, match="BANDWIDTH"):
        await resolve_url(_serve(server, "/bad/master.m3u8", text), client=client)


# -- library sources --------------------------------------------------------------------


def test_library_master(library: Path) -> None:
    program = resolve_library(library, "show/master.m3u8")
    assert program.kind is SourceKind.LIBRARY and program.ref == "show/master.m3u8"
    high, low = program.variants
    assert high.resolution == (640, 360) and high.bandwidth > low.bandwidth
    assert high.uris[0] == "show/v0/seg0.ts" and low.uris[2] == "show/v1/seg2.ts"
    for variant in program.variants:
        for uri in variant.uris:
            assert library_file(library, uri).is_file()
    assert abs(program.duration_us - SECONDS * 1_000_000) <= 100_000
    reversed_ = resolve_library(library, "show/reversed.m3u8")
    assert reversed_.variants == program.variants


def test_library_media_playlist_and_normalised_ref(library: Path) -> None:
    program = resolve_library(library, "clip/./sub/../index.m3u8")
    assert program.ref == "clip/index.m3u8"
    assert program.key == resolve_library(library, "clip/index.m3u8").key
    (variant,) = program.variants
    assert variant.bandwidth == UNDECLARED_BANDWIDTH
    assert variant.uris[0] == "clip/seg0.ts"


@pytest.mark.parametrize("relpath", ["../x", "/etc/passwd", "a/../../x", "..", ".", "",
                                     "show\\..\\..\\x"])
def test_library_paths_may_not_escape(library: Path, relpath: str) -> None:
    with pytest.raises(InvalidSourcePath):
        resolve_library(library, relpath)
    with pytest.raises(InvalidSourcePath):
        library_file(library, relpath)


def test_library_symlinks_may_not_escape(library: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    shutil.copytree(library / "clip", outside)
    root = tmp_path / "root"
    root.mkdir()
    (root / "link.m3u8").symlink_to(outside / "index.m3u8")
    (root / "dir").symlink_to(outside, target_is_directory=True)
    for relpath in ("link.m3u8", "dir/index.m3u8"):
        with pytest.raises(InvalidSourcePath):
            resolve_library(root, relpath)
        with pytest.raises(InvalidSourcePath):
            library_file(root, relpath)
    # A link that stays inside the root is followed; URIs keep the path as given.
    shutil.copytree(library / "clip", root / "clip")
    (root / "alias").symlink_to(root / "clip", target_is_directory=True)
    program = resolve_library(root, "alias/index.m3u8")
    assert program.ref == "alias/index.m3u8"
    assert program.variants[0].uris[0] == "alias/seg0.ts"


def test_library_missing_playlists_are_unavailable(library: Path) -> None:
    with pytest.raises(SourceUnavailable, match="does not exist"):
        resolve_library(library, "nothing/index.m3u8")
    with pytest.raises(SourceUnavailable, match="folder"):
        resolve_library(library, "show")


def test_library_segments_must_exist_inside_the_root(library: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(library / "clip", root / "clip")
    (root / "clip" / "seg1.ts").unlink()
    with pytest.raises(SourceUnusable, match=r"'seg1\.ts' does not exist"):
        resolve_library(root, "clip/index.m3u8")

    (tmp_path / "secret.ts").write_bytes(b"\x47")
    (root / "up.m3u8").write_text(_media([2.0], prefix="../secret"))
    with pytest.raises(SourceUnusable, match="outside the library"):
        resolve_library(root, "up.m3u8")

    (root / "web.m3u8").write_text(_media([2.0], prefix="http://example.com/seg"))
    with pytest.raises(SourceUnusable, match="absolute URL"):
        resolve_library(root, "web.m3u8")

    (root / "abs.m3u8").write_text(_media([2.0], prefix="/clip/seg"))
    with pytest.raises(SourceUnusable, match="not a relative path"):
        resolve_library(root, "abs.m3u8")


def test_library_uris_are_percent_decoded(library: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a b").mkdir(parents=True)
    shutil.copy(library / "clip" / "seg0.ts", root / "a b" / "seg 0.ts")
    (root / "a b" / "index.m3u8").write_text(_media([2.0], prefix="seg%20"))
    (variant,) = resolve_library(root, "a b/index.m3u8").variants
    assert variant.uris == ("a b/seg 0.ts",)
    assert library_file(root, variant.uris[0]) == (root / "a b" / "seg 0.ts").resolve()


def test_library_same_rules_as_urls(library: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "live.m3u8").write_text(_media([2.0], endlist=False))
    (root / "seg0.ts").write_bytes(b"\x47")
    (root / "seg1.ts").write_bytes(b"\x47")
    with pytest.raises(SourceUnusable, match="live playlist"):
        resolve_library(root, "live.m3u8")
    (root / "a.m3u8").write_text(_media([2.0, 2.0]))
    (root / "b.m3u8").write_text(_media([2.0]))
    (root / "master.m3u8").write_text(_master((900_000, "a.m3u8"), (300_000, "b.m3u8")))
    with pytest.raises(SourceUnusable, match=r"variant b\.m3u8 has 1 segments"):
        resolve_library(root, "master.m3u8")
    (root / "gone.m3u8").write_text(_master((900_000, "nothing.m3u8")))
    with pytest.raises(SourceUnusable, match="does not exist"):
        resolve_library(root, "gone.m3u8")
    with pytest.raises(TooLarge, match=r"a playlist at \S+\.m3u8 is larger than 100 bytes"):
        resolve_library(root, "master.m3u8", max_playlist_bytes=100)
    (root / "movie.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    with pytest.raises(SourceUnavailable, match="not an HLS playlist"):
        resolve_library(root, "movie.mp4")


def test_library_file_does_not_check_existence(library: Path) -> None:
    assert library_file(library, "show/v9/seg99.ts") == library.resolve() / "show/v9/seg99.ts"
