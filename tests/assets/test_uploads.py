"""tus 1.0 uploads against a real uvicorn server: the tuspy client for whole and resumed
uploads, raw httpx and raw sockets for the protocol's edges and a dropped connection."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import json
import random
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from tusclient.client import TusClient

from hlsd.api.uploads import router
from hlsd.assets import uploads
from hlsd.assets.uploads import Upload, UploadStore
from hlsd.auth.access import BadCredential
from tests._support.clock import FakeClock
from tests._support.polling import wait_until

TOKEN = "Bearer upload-secret"
AUTH = {"Authorization": TOKEN}
TUS = {"Tus-Resumable": "1.0.0", **AUTH}
STREAM = {**TUS, "Content-Type": "application/offset+octet-stream"}
MAX_BYTES = 4 << 20
DATA = random.Random(7).randbytes(3 << 19)  # 1.5 MiB


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Served:
    url: str
    store: UploadStore
    root: Path
    clock: FakeClock
    completed: list[tuple[str, str]] = field(default_factory=list)  # (id, sha256)

    @property
    def endpoint(self) -> str:
        return self.url + "/api/uploads"

    def create(self, length: int, **headers: str) -> str:
        r = httpx.post(self.endpoint, headers={**TUS, "Upload-Length": str(length), **headers})
        assert r.status_code == 201, r.text
        return self.url + r.headers["location"]


def authorize(request: Request) -> None:
    if request.headers.get("authorization") != TOKEN:
        raise BadCredential("the admin key is required")


@contextlib.contextmanager
def serve(root: Path, clock: FakeClock | None = None, **limits: float) -> Iterator[Served]:
    clock = clock or FakeClock(time.time())
    completed: list[tuple[str, str]] = []

    async def on_complete(upload: Upload, path: Path) -> None:
        assert upload.complete and upload.offset == upload.length == path.stat().st_size
        completed.append((upload.id, sha256(path.read_bytes())))

    settings: dict[str, float] = {"max_bytes": MAX_BYTES, "max_total_bytes": 64 << 20,
                                  "max_uploads": 50, "expire_after": 3600, **limits}
    store = UploadStore(root, max_bytes=int(settings["max_bytes"]),
                        max_total_bytes=int(settings["max_total_bytes"]),
                        max_uploads=int(settings["max_uploads"]),
                        expire_after=settings["expire_after"], on_complete=on_complete,
                        clock=clock)
    app = FastAPI()
    app.include_router(router(store=store, authorize=authorize))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off",
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Served(f"http://127.0.0.1:{port}", store, root, clock, completed)
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def tus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("uploads")) as served:
        yield served


def head(url: str) -> httpx.Response:
    return httpx.head(url, headers=TUS)


def offset_of(url: str) -> int:
    r = head(url)
    assert r.status_code == 200, r.status_code
    return int(r.headers["upload-offset"])


def drop_mid_patch(url: str, offset: int, body: bytes, declared: int) -> None:
    """Send a PATCH declaring `declared` bytes, send only `body`, then reset the socket."""
    parts = httpx.URL(url)
    head_lines = [f"PATCH {parts.raw_path.decode()} HTTP/1.1", f"Host: {parts.host}",
                  f"Upload-Offset: {offset}", f"Content-Length: {declared}",
                  *(f"{k}: {v}" for k, v in STREAM.items())]
    with socket.create_connection((parts.host, parts.port or 80)) as sock:
        sock.sendall(("\r\n".join(head_lines) + "\r\n\r\n").encode() + body)
        time.sleep(0.3)  # let the server take in what was sent
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def wait_for_offset(url: str, expected: int) -> None:
    deadline = time.monotonic() + 5
    while offset_of(url) != expected:
        assert time.monotonic() < deadline, f"offset stayed {offset_of(url)}, not {expected}"
        time.sleep(0.02)


# -- the tuspy client -----------------------------------------------------------------
def test_whole_upload_in_chunks_with_checksums(tus: Served) -> None:
    client = TusClient(tus.endpoint, headers=AUTH)
    uploader = client.uploader(file_stream=io.BytesIO(DATA), chunk_size=256 << 10,
                               metadata={"filename": "clip one.mp4", "kind": "video"},
                               upload_checksum=True)
    uploader.upload()
    upload_id = uploader.url.rsplit("/", 1)[1]

    assert tus.completed.count((upload_id, sha256(DATA))) == 1
    assert tus.store.path(upload_id).read_bytes() == DATA
    r = head(uploader.url)
    assert r.headers["upload-offset"] == r.headers["upload-length"] == str(len(DATA))
    assert r.headers["cache-control"] == "no-store"
    assert "upload-expires" not in r.headers  # complete uploads do not expire
    assert tus.store.get(upload_id).metadata == {"filename": "clip one.mp4", "kind": "video"}
    assert r.headers["upload-metadata"] == "filename Y2xpcCBvbmUubXA0,kind dmlkZW8="


def test_resume_after_a_dropped_connection_with_a_new_client(tus: Served) -> None:
    half, quarter = len(DATA) // 2, len(DATA) // 4
    first = TusClient(tus.endpoint, headers=AUTH).uploader(
        file_stream=io.BytesIO(DATA), chunk_size=half // 3)
    first.upload(stop_at=half)
    url = first.url
    upload_id = url.rsplit("/", 1)[1]
    assert offset_of(url) == half

    # The connection dies a quarter into a PATCH for the rest: what arrived is kept.
    drop_mid_patch(url, half, DATA[half:half + quarter], declared=len(DATA) - half)
    wait_for_offset(url, half + quarter)
    assert (tus.root / f"{upload_id}.part").stat().st_size == half + quarter
    assert not any(done == upload_id for done, _ in tus.completed)  # never presented whole
    assert not (tus.root / f"{upload_id}.bin").exists()

    second = TusClient(tus.endpoint, headers=AUTH).uploader(
        file_stream=io.BytesIO(DATA), url=url, chunk_size=256 << 10)
    assert second.offset == half + quarter  # from HEAD
    second.upload()
    assert [digest for done, digest in tus.completed if done == upload_id] == [sha256(DATA)]
    assert tus.store.path(upload_id).read_bytes() == DATA


def test_restart_keeps_the_offset_and_drops_unacknowledged_bytes(tmp_path: Path) -> None:
    half = len(DATA) // 2
    with serve(tmp_path) as before:
        uploader = TusClient(before.endpoint, headers=AUTH).uploader(
            file_stream=io.BytesIO(DATA), chunk_size=half)
        uploader.upload(stop_at=half)
        path = httpx.URL(uploader.url).path
    upload_id = path.rsplit("/", 1)[1]
    # Bytes written but never recorded (a crash mid-request) are not trusted.
    with open(tmp_path / f"{upload_id}.part", "ab") as f:
        f.write(b"garbage" * 1000)

    with serve(tmp_path) as after:
        assert after.store.get(upload_id).offset == half
        assert (tmp_path / f"{upload_id}.part").stat().st_size == half
        resumed = TusClient(after.endpoint, headers=AUTH).uploader(
            file_stream=io.BytesIO(DATA), url=after.url + path, chunk_size=half)
        assert resumed.offset == half
        resumed.upload()
        assert after.completed == [(upload_id, sha256(DATA))]
    assert before.completed == []


# -- the protocol's edges, raw --------------------------------------------------------
def test_options_advertises_the_server(tus: Served) -> None:
    r = httpx.options(tus.endpoint)
    assert r.status_code == 204
    assert r.headers["tus-resumable"] == r.headers["tus-version"] == "1.0.0"
    assert set(r.headers["tus-extension"].split(",")) >= {
        "creation", "creation-with-upload", "termination", "checksum", "expiration"}
    assert r.headers["tus-max-size"] == str(MAX_BYTES)
    assert {"sha1", "sha256"} <= set(r.headers["tus-checksum-algorithm"].split(","))


def test_version_and_authorization_are_required(tus: Served) -> None:
    url = tus.create(10)
    for headers in ({**AUTH}, {**AUTH, "Tus-Resumable": "0.2.2"}):
        r = httpx.head(url, headers=headers)
        assert r.status_code == 412
        assert r.headers["tus-version"] == "1.0.0"
        r = httpx.post(tus.endpoint, headers={**headers, "Upload-Length": "5"})
        assert r.status_code == 412 and r.json() == {"error": "Tus-Resumable 1.0.0 is required"}
    r = httpx.patch(url, headers={**STREAM, "Authorization": "Bearer nope",
                                  "Upload-Offset": "0"}, content=b"x")
    assert r.status_code == 401 and r.headers["tus-resumable"] == "1.0.0"
    assert "error" in r.json()


def test_wrong_offset_and_wrong_content_type(tus: Served) -> None:
    url = tus.create(10)
    r = httpx.patch(url, headers={**STREAM, "Upload-Offset": "3"}, content=b"abc")
    assert r.status_code == 409 and r.headers["tus-resumable"] == "1.0.0"
    r = httpx.patch(url, headers={**TUS, "Content-Type": "application/octet-stream",
                                  "Upload-Offset": "0"}, content=b"abc")
    assert r.status_code == 415
    r = httpx.patch(url, headers={**STREAM, "Upload-Offset": "0"}, content=b"abc")
    assert r.status_code == 204 and r.headers["upload-offset"] == "3"
    assert "upload-expires" in r.headers
    r = httpx.patch(url, headers={**STREAM, "Upload-Offset": "0"}, content=b"abc")
    assert r.status_code == 409
    assert offset_of(url) == 3


def test_checksums_verify_each_request(tus: Served) -> None:
    url = tus.create(8)
    good = base64.b64encode(hashlib.sha256(b"abcd").digest()).decode()
    r = httpx.patch(url, headers={**STREAM, "Upload-Offset": "0",
                                  "Upload-Checksum": f"sha256 {good}"}, content=b"abcd")
    assert r.status_code == 204 and r.headers["upload-offset"] == "4"
    r = httpx.patch(url, headers={**STREAM, "Upload-Offset": "4",
                                  "Upload-Checksum": f"sha1 {good}"}, content=b"efgh")
    assert r.status_code == 460
    assert offset_of(url) == 4
    upload_id = url.rsplit("/", 1)[1]
    assert (tus.root / f"{upload_id}.part").read_bytes() == b"abcd"
    r = httpx.patch(url, headers={**STREAM, "Upload-Offset": "4",
                                  "Upload-Checksum": f"crc99 {good}"}, content=b"efgh")
    assert r.status_code == 400


def test_sizes_are_bounded_at_creation_and_while_streaming(tus: Served) -> None:
    r = httpx.post(tus.endpoint, headers={**TUS, "Upload-Length": str(MAX_BYTES + 1)})
    assert r.status_code == 413 and r.headers["tus-resumable"] == "1.0.0"

    url = tus.create(100_000)
    upload_id = url.rsplit("/", 1)[1]
    r = httpx.patch(url, headers={**STREAM, "Upload-Offset": "0"}, content=b"x" * 100_001)
    assert r.status_code == 413  # refused on Content-Length, before reading

    def body() -> Iterator[bytes]:  # chunked: no length to refuse early
        for _ in range(15):
            yield b"y" * 10_000

    r = httpx.patch(url, headers={**STREAM, "Upload-Offset": "0"}, content=body())
    assert r.status_code == 413
    assert offset_of(url) == 0
    assert (tus.root / f"{upload_id}.part").stat().st_size == 0

    r = httpx.post(tus.endpoint, headers={**TUS, "Upload-Defer-Length": "1"})
    deferred = tus.url + r.headers["location"]
    r = httpx.patch(deferred, headers={**STREAM, "Upload-Offset": "0"},
                    content=(b"z" * (1 << 20) for _ in range(5)))
    assert r.status_code == 413
    assert offset_of(deferred) == 0


def test_creation_with_upload_and_deferred_length(tus: Served) -> None:
    r = httpx.post(tus.endpoint, content=b"hello", headers={
        **STREAM, "Upload-Length": "11", "Upload-Metadata": "filename aGkudHh0,empty"})
    assert r.status_code == 201 and r.headers["upload-offset"] == "5"
    url = tus.url + r.headers["location"]
    assert r.headers["location"].startswith("/api/uploads/")
    assert tus.store.get(url.rsplit("/", 1)[1]).metadata == {"filename": "hi.txt", "empty": ""}
    r = httpx.patch(url, headers={**STREAM, "Upload-Offset": "5"}, content=b" world")
    assert r.status_code == 204 and "upload-expires" not in r.headers
    r = httpx.patch(url, headers={**STREAM, "Upload-Offset": "11"}, content=b"")
    assert r.status_code == 204 and r.headers["upload-offset"] == "11"  # a harmless repeat
    r = httpx.patch(url, headers={**STREAM, "Upload-Offset": "11"}, content=b"!")
    assert r.status_code == 413

    r = httpx.post(tus.endpoint, headers={**TUS, "Upload-Defer-Length": "1"})
    deferred = tus.url + r.headers["location"]
    assert head(deferred).headers["upload-defer-length"] == "1"
    r = httpx.patch(deferred, headers={**STREAM, "Upload-Offset": "0"}, content=b"abc")
    assert r.status_code == 204
    r = httpx.patch(deferred, headers={**STREAM, "Upload-Offset": "3", "Upload-Length": "6"},
                    content=b"def")
    assert r.status_code == 204
    deferred_id = deferred.rsplit("/", 1)[1]
    assert tus.store.path(deferred_id).read_bytes() == b"abcdef"
    assert (deferred_id, sha256(b"abcdef")) in tus.completed

    r = httpx.post(tus.endpoint, headers={**TUS, "Upload-Length": "0"})
    empty_id = r.headers["location"].rsplit("/", 1)[1]
    assert (empty_id, sha256(b"")) in tus.completed

    for bad in ({"Upload-Length": "-1"}, {"Upload-Defer-Length": "2"}, {},
                {"Upload-Length": "5", "Upload-Metadata": "k not*base64"}):
        assert httpx.post(tus.endpoint, headers={**TUS, **bad}).status_code == 400


def test_termination_and_method_override(tus: Served) -> None:
    url = tus.create(10)
    upload_id = url.rsplit("/", 1)[1]
    r = httpx.post(url, headers={**TUS, "X-HTTP-Method-Override": "HEAD"})
    assert r.status_code == 200 and r.headers["upload-offset"] == "0"
    r = httpx.delete(url, headers=TUS)
    assert r.status_code == 204 and r.headers["tus-resumable"] == "1.0.0"
    assert head(url).status_code == 404
    assert not list(tus.root.glob(f"{upload_id}.*"))
    r = httpx.post(url, headers={**TUS, "X-HTTP-Method-Override": "DELETE"})
    assert r.status_code == 404
    for bad in ("ABCDEF", "..", "0" * 31 + "g"):
        assert head(f"{tus.endpoint}/{bad}").status_code == 404


def test_expired_uploads_are_gone_then_swept(tmp_path: Path) -> None:
    with serve(tmp_path, expire_after=60) as served:
        url = served.create(10)
        done = served.create(0)
        assert "upload-expires" in head(url).headers
        served.clock.advance(61)
        assert head(url).status_code == 410
        r = httpx.patch(url, headers={**STREAM, "Upload-Offset": "0"}, content=b"abc")
        assert r.status_code == 410
        assert served.store.sweep() == 1
        assert head(url).status_code == 404
        assert head(done).status_code == 200  # complete uploads stay until deleted
        assert [p.suffix for p in tmp_path.iterdir()] != []
        assert not list(tmp_path.glob(url.rsplit("/", 1)[1] + ".*"))


def test_the_store_is_bounded_in_count_and_total_bytes(tmp_path: Path) -> None:
    with serve(tmp_path, max_uploads=2, max_total_bytes=1000) as served:
        served.create(600)
        r = httpx.post(served.endpoint, headers={**TUS, "Upload-Length": "500"})
        assert r.status_code == 507
        served.create(100)
        r = httpx.post(served.endpoint, headers={**TUS, "Upload-Length": "1"})
        assert r.status_code == 507


def test_long_requests_checkpoint_and_keep_one_writer(
        tus: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads, "CHECKPOINT", 64 << 10)
    url = tus.create(len(DATA))
    upload_id = url.rsplit("/", 1)[1]
    during: dict[str, int] = {}

    def body() -> Iterator[bytes]:
        yield DATA[:5 << 18]
        deadline = time.monotonic() + 5
        while (offset := offset_of(url)) < 1 << 20:  # progress shows mid-request
            assert time.monotonic() < deadline
            time.sleep(0.02)
        during["offset"] = offset
        during["recorded"] = json.loads((tus.root / f"{upload_id}.json").read_text())["offset"]
        during["second"] = httpx.patch(url, headers={**STREAM, "Upload-Offset": str(offset)},
                                       content=b"x").status_code
        yield DATA[5 << 18:]

    r = httpx.patch(url, headers={**STREAM, "Upload-Offset": "0"}, content=body())
    assert r.status_code == 204
    assert during["recorded"] == during["offset"] >= 1 << 20
    assert during["second"] == 409
    assert tus.store.path(upload_id).read_bytes() == DATA


def test_termination_during_a_patch_leaves_nothing(tus: Served) -> None:
    url = tus.create(len(DATA))
    upload_id = url.rsplit("/", 1)[1]

    def body() -> Iterator[bytes]:
        yield DATA[:100_000]
        time.sleep(0.2)
        assert httpx.delete(url, headers=TUS).status_code == 204
        yield DATA[100_000:]

    with contextlib.suppress(httpx.TransportError):  # the server may stop reading
        r = httpx.patch(url, headers={**STREAM, "Upload-Offset": "0"}, content=body())
        assert r.status_code == 404
    wait_until(lambda: not list(tus.root.glob(f"{upload_id}.*")), 10, "the upload's files gone")
    assert head(url).status_code == 404


# -- the store alone: cancellation, crashes, a failing consumer ----------------------------
def make_store(root: Path, on_complete: uploads.OnComplete | None = None) -> UploadStore:
    return UploadStore(root, max_bytes=1000, max_total_bytes=10_000, max_uploads=10,
                       expire_after=60, on_complete=on_complete)


async def chunks_of(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_a_cancelled_request_keeps_what_arrived_unless_checksummed(
        tmp_path: Path) -> None:
    store = make_store(tmp_path)
    upload = store.create(length=100, metadata={})

    async def cancel_after(data: bytes, checksum: tuple[str, str] | None) -> None:
        arrived = asyncio.Event()

        async def stalling() -> AsyncIterator[bytes]:
            yield data
            arrived.set()
            await asyncio.Event().wait()
            yield b""

        task = asyncio.create_task(store.append(upload.id, store.get(upload.id).offset,
                                                stalling(), checksum=checksum))
        await arrived.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    await cancel_after(b"a" * 10, None)
    assert store.get(upload.id).offset == 10
    digest = base64.b64encode(hashlib.sha1(b"b" * 10).digest()).decode()
    await cancel_after(b"b" * 10, ("sha1", digest))
    assert store.get(upload.id).offset == 10
    assert make_store(tmp_path).get(upload.id).offset == 10
    assert (tmp_path / f"{upload.id}.part").read_bytes() == b"a" * 10


async def test_recovery_trusts_the_smaller_offset_and_a_renamed_file(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    short = store.create(length=6, metadata={})
    await store.append(short.id, 0, chunks_of(b"abcd"))
    renamed = store.create(length=6, metadata={"k": "v"})
    await store.append(renamed.id, 0, chunks_of(b"abc"))
    # A lost tail (the sidecar claims 4 bytes, the disk has 2) ...
    with open(tmp_path / f"{short.id}.part", "r+b") as f:
        f.truncate(2)
    # ... and a crash after the rename to .bin, before the sidecar said so.
    with open(tmp_path / f"{renamed.id}.part", "ab") as f:
        f.write(b"def")
    (tmp_path / f"{renamed.id}.part").rename(tmp_path / f"{renamed.id}.bin")
    (tmp_path / "0123.part").write_bytes(b"stray")

    calls: list[str] = []

    async def on_complete(upload: Upload, path: Path) -> None:
        calls.append(path.read_text())

    after = make_store(tmp_path, on_complete)
    assert after.get(short.id).offset == 2
    assert after.get(renamed.id).complete and after.get(renamed.id).metadata == {"k": "v"}
    assert await after.redeliver() == 1 and calls == ["abcdef"]
    assert await make_store(tmp_path, on_complete).redeliver() == 0
    assert not (tmp_path / "0123.part").exists()


async def test_a_failing_consumer_is_redelivered(tmp_path: Path) -> None:
    calls: list[str] = []
    failing = [True]

    async def on_complete(upload: Upload, path: Path) -> None:
        calls.append(upload.id)
        if failing[0]:
            raise RuntimeError("consumer down")

    store = make_store(tmp_path, on_complete)
    upload = store.create(length=3, metadata={})
    done = await store.append(upload.id, 0, chunks_of(b"ab", b"c"))
    assert done.complete and calls == [upload.id]
    restarted = make_store(tmp_path, on_complete)  # still owed after a restart
    failing[0] = False
    assert await restarted.redeliver() == 1
    assert await restarted.redeliver() == 0
    assert calls == [upload.id, upload.id]
