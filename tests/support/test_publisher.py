"""Self-tests of tests/_support/publisher.py: ffmpeg's HLS muxer pushing to a Recorder.

These pin down what ffmpeg sends (see the module docstring of publisher.py): the URLs
of each mode, where the publish key travels, chunked bodies, connection handling, the
upload order and the final ENDLIST playlist.
"""

from __future__ import annotations

import http.client
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hlsd.hls.check import check_playlist
from tests._support.media import decode_errors
from tests._support.publisher import LivePublisher, RecordedRequest, Recorder, gop_frames

VARIANTS = [("720p", "640x360", "800k"), ("360p", "320x180", "300k")]
PDT = re.compile(r"^#EXT-X-PROGRAM-DATE-TIME:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")


@pytest.fixture
def rec() -> Iterator[Recorder]:
    with Recorder() as recorder:
        yield recorder


def _publish(rec: Recorder, stream: str, tmp_path: Path, **kwargs: Any) -> LivePublisher:
    """Push `duration` (default 4) seconds of 1 s segments and wait for the end."""
    kwargs.setdefault("duration", 4)
    pub = LivePublisher(f"{rec.url}/ingest/{stream}", log_path=tmp_path / f"{stream}.log",
                        **kwargs)
    with pub:
        code = pub.wait(30)
    assert code == 0, pub.log_text()
    assert rec.wait_idle(10), "the recorder still has connections open"
    return pub


def _uris(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def _map_uri(text: str) -> str | None:
    found = re.search(r'^#EXT-X-MAP:URI="([^"]+)"', text, re.M)
    return found.group(1) if found else None


def _check_history(rec: Recorder, path: str) -> str:
    """Every upload of the media playlist `path` is a valid live playlist that only
    grew from the one before; the last one ends with EXT-X-ENDLIST. Returns the last."""
    texts = [u.body.decode() for u in rec.uploads(path)]
    assert len(texts) >= 3, f"{path}: {len(texts)} uploads"
    previous: str | None = None
    for text in texts[:-1]:
        assert "#EXT-X-ENDLIST" not in text
        assert check_playlist(text, live=True, previous=previous) == [], text
        previous = text
    last = texts[-1]
    # ffmpeg ends every push (-t, q, SIGTERM) with ENDLIST: as a live playlist it
    # breaks exactly one rule, and as a finished one none.
    assert last.rstrip().endswith("#EXT-X-ENDLIST"), last
    assert [v.rule for v in check_playlist(last, live=True, previous=previous)] == [
        "live-endlist"], last
    assert check_playlist(last, live=False, previous=previous) == [], last
    return last


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0]


def _assert_whole(rec: Recorder, playlist_path: str, tmp_path: Path) -> list[RecordedRequest]:
    """Every segment (and the init segment) named in the last upload of the playlist
    arrived complete, and their concatenation decodes cleanly. Returns their uploads."""
    last = rec.uploads(playlist_path)[-1].body.decode()
    names = _uris(last)
    init = _map_uri(last)
    if init is not None:
        names.insert(0, init)
    assert names
    uploads: list[RecordedRequest] = []
    for name in names:
        found = rec.uploads(f"{_folder(playlist_path)}/{name}")
        assert len(found) == 1, f"{name} uploaded {len(found)} times"
        upload = found[0]
        assert upload.complete and upload.chunked and upload.body, upload
        assert rec.files[upload.path] == upload.body
        uploads.append(upload)
    media = tmp_path / ("whole" + (".mp4" if init is not None else ".ts"))
    media.write_bytes(b"".join(u.body for u in uploads))
    assert decode_errors(str(media)) == ""
    return uploads


def _assert_segment_before_playlist(rec: Recorder, playlist_path: str) -> None:
    """Each playlist upload was opened after the uploads of all segments it names."""
    folder = _folder(playlist_path)
    for upload in rec.uploads(playlist_path):
        text = upload.body.decode()
        names = _uris(text) + ([m] if (m := _map_uri(text)) else [])
        for name in names:
            seg = rec.uploads(f"{folder}/{name}")[0]
            assert seg.order < upload.order, (name, seg.order, upload.order)


def test_gop_divides_the_segment() -> None:
    assert [gop_frames(s, 25) for s in (1, 2, 3, 4, 6)] == [25, 50, 25, 50, 50]


def test_recorder_decodes_chunked_and_length_bodies(rec: Recorder) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", rec.port, timeout=5)
    conn.putrequest("PUT", "/ingest/a/seg-0.ts?key=k")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    conn.send(b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n")
    resp = conn.getresponse()
    assert (resp.status, resp.read()) == (201, b"")
    conn.request("POST", "/ingest/a/index.m3u8", body=b"#EXTM3U\n")  # same connection
    resp = conn.getresponse()
    assert (resp.status, resp.read()) == (200, b"")
    conn.request("GET", "/ingest/a/seg-0.ts")
    resp = conn.getresponse()
    assert (resp.status, resp.read()) == (200, b"hello world")
    conn.request("DELETE", "/ingest/a/seg-0.ts")
    resp = conn.getresponse()
    assert (resp.status, resp.read()) == (204, b"")
    conn.close()
    # A chunked body cut off by the client is recorded as incomplete and not stored.
    with socket.create_connection(("127.0.0.1", rec.port)) as sock:
        sock.sendall(b"PUT /ingest/a/cut.ts HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n100\r\nshort")
    assert rec.wait_idle(5)
    assert rec.files == {"/ingest/a/index.m3u8": b"#EXTM3U\n"}
    put, post, get, delete, cut = sorted(rec.requests, key=lambda r: r.order)
    assert (put.chunked, put.chunks, put.body, put.query) == (True, 2, b"hello world", "key=k")
    assert (post.chunked, post.content_length) == (False, 8)
    assert put.connection == post.connection == get.connection == delete.connection
    assert [put.index, post.index, get.index, delete.index] == [0, 1, 2, 3]
    assert delete.status == 204 and not cut.complete and cut.path == "/ingest/a/cut.ts"


def test_single_variant_mpegts(rec: Recorder, tmp_path: Path) -> None:
    _publish(rec, "ts", tmp_path)
    last = _check_history(rec, "/ingest/ts/index.m3u8")
    assert _uris(last) == ["seg-0.ts", "seg-1.ts", "seg-2.ts", "seg-3.ts"]
    assert "#EXT-X-TARGETDURATION:1" in last and "#EXT-X-INDEPENDENT-SEGMENTS" in last
    # PROGRAM-DATE-TIME after each EXTINF, right before the URI, zone written "+0000".
    lines = last.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("seg-"):
            assert lines[i - 2].startswith("#EXTINF:") and PDT.match(lines[i - 1]), lines
    segments = _assert_whole(rec, "/ingest/ts/index.m3u8", tmp_path)
    assert all(len(s.body) % 188 == 0 for s in segments)
    _assert_segment_before_playlist(rec, "/ingest/ts/index.m3u8")
    uploads = rec.uploads()
    assert {u.method for u in uploads} == {"PUT"}  # no DELETE without +delete_segments
    assert {u.path for u in uploads} == {
        "/ingest/ts/index.m3u8", *(f"/ingest/ts/seg-{n}.ts" for n in range(4))}
    for u in uploads:  # chunked, no length, no 100-continue, one connection each
        assert u.chunked and u.content_length is None and "content-length" not in u.headers
        assert u.header("expect") is None and u.header("connection") == "close"
        assert (u.header("user-agent") or "").startswith("Lavf/") and u.index == 0
    assert len({u.connection for u in uploads}) == len(uploads)


def test_single_variant_fmp4(rec: Recorder, tmp_path: Path) -> None:
    _publish(rec, "fm", tmp_path, segment_type="fmp4")
    last = _check_history(rec, "/ingest/fm/index.m3u8")
    assert _map_uri(last) == "init.mp4" and "#EXT-X-VERSION:7" in last
    assert _uris(last) == ["seg-0.m4s", "seg-1.m4s", "seg-2.m4s", "seg-3.m4s"]
    for upload in rec.uploads("/ingest/fm/index.m3u8"):
        assert _map_uri(upload.body.decode()) == "init.mp4"
    init, first, *_ = _assert_whole(rec, "/ingest/fm/index.m3u8", tmp_path)
    _assert_segment_before_playlist(rec, "/ingest/fm/index.m3u8")
    uploads = rec.uploads()
    assert uploads[0] is init and uploads[1] is first  # the init upload is opened first
    assert init.body[4:8] == b"ftyp" and b"moov" in init.body
    assert first.body[4:8] in (b"styp", b"moof")
    # Its headers come when the muxer starts, its body when the first segment is done.
    assert init.finished - init.started > 0.5


def test_variants_master_and_folders(rec: Recorder, tmp_path: Path) -> None:
    pub = _publish(rec, "mv", tmp_path, variants=VARIANTS)
    assert pub.master_playlist == "index.m3u8"
    assert pub.media_playlists == ["720p/index.m3u8", "360p/index.m3u8"]
    masters = rec.uploads("/ingest/mv/index.m3u8")
    assert len(masters) >= 2
    for master in masters:
        text = master.body.decode()
        assert check_playlist(text) == [], text
        assert _uris(text) == ["720p/index.m3u8", "360p/index.m3u8"]
        assert 'RESOLUTION=640x360' in text and 'RESOLUTION=320x180' in text
    assert "AVERAGE-BANDWIDTH" in masters[-1].body.decode()
    paths = {u.path for u in rec.uploads()}
    for name in ("720p", "360p"):
        playlist = f"/ingest/mv/{name}/index.m3u8"
        last = _check_history(rec, playlist)
        assert _uris(last) == [f"seg-{n}.ts" for n in range(4)]
        _assert_whole(rec, playlist, tmp_path)
        _assert_segment_before_playlist(rec, playlist)
        # The master goes up once every variant has its first playlist.
        assert rec.uploads(playlist)[0].order < masters[0].order
    assert paths == {"/ingest/mv/index.m3u8",
                     *(f"/ingest/mv/{v}/{f}" for v in ("720p", "360p")
                       for f in ("index.m3u8", "seg-0.ts", "seg-1.ts", "seg-2.ts", "seg-3.ts"))}


def test_variants_fmp4_init_per_folder(rec: Recorder, tmp_path: Path) -> None:
    _publish(rec, "mf", tmp_path, variants=VARIANTS, segment_type="fmp4", duration=3)
    for name in ("720p", "360p"):
        playlist = f"/ingest/mf/{name}/index.m3u8"
        last = _check_history(rec, playlist)
        assert _map_uri(last) == f"init_{name}.mp4"
        _assert_whole(rec, playlist, tmp_path)


def test_key_in_query_reaches_playlists_only(rec: Recorder, tmp_path: Path) -> None:
    _publish(rec, "kq", tmp_path, variants=VARIANTS, key="s3cret", duration=3)
    with_key = {u.path for u in rec.uploads() if u.query == "key=s3cret"}
    without = {u.path for u in rec.uploads() if u.query == ""}
    assert with_key == {"/ingest/kq/index.m3u8", "/ingest/kq/720p/index.m3u8",
                        "/ingest/kq/360p/index.m3u8"}
    assert without and all(p.endswith(".ts") for p in without)  # every segment
    assert with_key.isdisjoint(without)
    # ffmpeg copies the variant playlists' query into the master text: the key leaks.
    master = rec.uploads("/ingest/kq/index.m3u8")[-1].body.decode()
    assert _uris(master) == ["720p/index.m3u8?key=s3cret", "360p/index.m3u8?key=s3cret"]
    # ... but not into the media playlists, whose segment URIs are plain.
    assert _uris(rec.uploads("/ingest/kq/720p/index.m3u8")[-1].body.decode())[0] == "seg-0.ts"


def test_bearer_header_on_every_request_post_persistent(rec: Recorder, tmp_path: Path) -> None:
    _publish(rec, "hb", tmp_path, segment_type="fmp4", duration=3, method="POST",
             http_persistent=True, headers={"Authorization": "Bearer t0k"})
    uploads = rec.uploads()
    assert uploads and {u.method for u in uploads} == {"POST"}
    assert all(u.header("authorization") == "Bearer t0k" for u in uploads)
    assert all(u.query == "" for u in uploads)
    # One keep-alive connection carries everything, in order: init, segment, playlist.
    assert {u.connection for u in uploads} == {uploads[0].connection}
    assert all(u.header("connection") == "keep-alive" for u in uploads)
    assert [u.path.rsplit("/", 1)[1] for u in uploads[:3]] == [
        "init.mp4", "seg-0.m4s", "index.m3u8"]
    _check_history(rec, "/ingest/hb/index.m3u8")
    _assert_whole(rec, "/ingest/hb/index.m3u8", tmp_path)


def test_delete_segments_sends_delete(rec: Recorder, tmp_path: Path) -> None:
    _publish(rec, "dl", tmp_path, duration=5, list_size=2, key="k",
             hls_flags="+delete_segments+program_date_time")
    deletes = rec.uploads(method="DELETE")
    assert [d.path for d in deletes] == ["/ingest/dl/seg-0.ts", "/ingest/dl/seg-1.ts"]
    assert all(d.chunked and d.body == b"" and d.query == "" for d in deletes)
    # Each DELETE comes after the new segment and before the playlist that drops it.
    order = [u.path.rsplit("/", 1)[1] + (" DELETE" if u.method == "DELETE" else "")
             for u in rec.uploads()]
    at = order.index("seg-0.ts DELETE")
    assert order[at - 1] == "seg-3.ts" and order[at + 1] == "index.m3u8"
    last = rec.uploads("/ingest/dl/index.m3u8")[-1].body.decode()
    assert _uris(last) == ["seg-3.ts", "seg-4.ts"] and "#EXT-X-MEDIA-SEQUENCE:3" in last
    assert set(rec.files) == {"/ingest/dl/index.m3u8",
                              *(f"/ingest/dl/seg-{n}.ts" for n in (2, 3, 4))}


def test_http_errors_do_not_stop_ffmpeg(rec: Recorder, tmp_path: Path) -> None:
    rec.status = 403
    _publish(rec, "er", tmp_path, duration=2.5)  # exit code 0 is asserted inside
    assert {u.status for u in rec.uploads()} == {403}
    assert rec.files == {}
    assert len(rec.uploads("/ingest/er/index.m3u8")) >= 2


@pytest.mark.parametrize("how", ["q", "sigterm"])
def test_stop_uploads_a_final_endlist_playlist(rec: Recorder, tmp_path: Path,
                                               how: str) -> None:
    path = f"/ingest/st{how}/index.m3u8"
    pub = LivePublisher(f"{rec.url}/ingest/st{how}", log_path=tmp_path / "st.log")
    with pub:
        assert rec.wait_for(lambda r: len(r.uploads(path)) >= 2, 15), pub.log_text()
        assert pub.running
        code = pub.stop(send_q=how == "q")
    assert not pub.running
    assert code == (0 if how == "q" else 255), pub.log_text()
    assert rec.wait_idle(10)
    last = _check_history(rec, path) if len(rec.uploads(path)) >= 3 else \
        rec.uploads(path)[-1].body.decode()
    assert last.rstrip().endswith("#EXT-X-ENDLIST")
    _assert_whole(rec, path, tmp_path)
