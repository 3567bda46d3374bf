"""Upload throughput: hlsd's tus endpoint (and ``PUT /api/assets/{id}/content``) against
the disk it writes to, a bare ASGI app and nginx, in one run.

    python bench/uploads.py [--size 1GiB,256MiB] [--chunks 8MiB,64MiB] [--rounds 4] \
                            [--engine granian|uvicorn] [--no-nginx]

About 3 minutes with the defaults on 2 cores. Loopback only.

The bytes: one file of random bytes as large as the largest ``--size`` is written into a
scratch directory under bench/out/ (and fsynced, untimed); smaller sizes send its first
bytes. Everything the run writes (the source, hlsd's data dir, the other servers' files)
lives in that scratch directory, which is removed at the end.

The client is one blocking socket per upload (keep-alive across a tus upload's PATCHes)
that sends each body with ``os.sendfile`` from the source file in the page cache, so it
copies nothing itself; the per-chunk sha1 digests are computed before the timed part. Its
CPU (getrusage of the uploading thread) is printed with each row.

Rows, per size:

  hlsd tus          POST /api/assets {"size"}, then PATCHes of --chunks bytes to the
                    asset's tus URL (Upload-Offset; with or without
                    ``Upload-Checksum: sha1 <b64>``); timed from the POST to the last 204.
                    The asset is then transcoded and fails (random bytes); the run waits
                    for that and deletes it, untimed.
  ... bare upload   the same with POST /api/uploads (no asset): hlsd deletes the upload
                    when it completes, inside the last PATCH.
  hlsd PUT content  POST /api/assets {"size"}, then the whole file in one
                    PUT /api/assets/{id}/content.
  disk              anchors on the same filesystem: Python os.write of the same bytes in
                    8 MiB writes + one fsync at the end (measured at both ends of every
                    round); the same with an fsync every 16 MiB (hlsd's checkpoint
                    interval); dd if=/dev/zero bs=8M conv=fsync; os.write without fsync
                    (the page cache: a ceiling).
  bare              (reference) `sink` below, a framework-free ASGI app under the same
                    engine as hlsd, one worker: the whole file in one PUT, the body
                    dropped (the engine's receive path), or written with os.write on the
                    event loop and fsynced at the end (the least an ASGI upload costs).
  nginx             (optional) serving.py's nginx config plus ``dav_methods PUT``,
                    ``client_body_buffer_size 1m``: the whole file in one PUT (nginx
                    writes it to a temp file and renames it; no fsync), then the same plus
                    an fsync of the stored file by the client, for a like-for-like figure.

Between rows the written files are removed and ``sync`` runs (untimed), so no row pays for
an earlier row's dirty pages. ``--rounds`` rounds go through the rows (the order reversed
every other round) after an untimed warm-up; MB/s (10^6 bytes) is the median over rounds.
Printed: MB/s, min-max, the ratio to the disk anchor (os.write + fsync at the end), the
server's and the client's CPU as % of one core over the upload, and for hlsd the slowest
answer to ``GET /api/health``, polled every 20 ms by a thread of the client during the
upload (an event-loop stall shows there). Then, per size, how long deleting an uploaded
asset takes (and the slowest health answer meanwhile) against an os.unlink of the same
size.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import mmap
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common as c
from serving import NGINX_CONF, session_cpu_seconds

from hlsd._units import parse_size

MiB = 1 << 20
WRITE_BLOCK = 8 * MiB  # the disk anchor's os.write size (and dd's bs)
CHECKPOINT = 16 * MiB  # hlsd.assets.uploads.CHECKPOINT, for the reference row
TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = "application/offset+octet-stream"


# -- a small blocking HTTP/1.1 client with sendfile bodies ---------------------------------


class HttpError(RuntimeError):
    pass


class Conn:
    """One keep-alive connection. Bodies are bytes or (fd, offset, length) for sendfile."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        # Blocking (os.sendfile needs it), with kernel timeouts against a stuck server.
        self.sock.settimeout(None)
        limit = struct.pack("ll", 300, 0)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                body: bytes | tuple[int, int, int] = b"") -> tuple[int, dict[str, str], bytes]:
        length = len(body) if isinstance(body, bytes) else body[2]
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1",
                 *(f"{k}: {v}" for k, v in (headers or {}).items()),
                 f"Content-Length: {length}", "", ""]
        head = "\r\n".join(lines).encode()
        if isinstance(body, bytes):
            self.sock.sendall(head + body)
        else:
            self.sock.sendall(head)
            fd, offset, left = body
            out = self.sock.fileno()
            while left > 0:
                sent = os.sendfile(out, fd, offset, left)
                if sent == 0:
                    raise HttpError(f"{method} {path}: sendfile sent nothing")
                offset += sent
                left -= sent
        return self._response()

    def _fill(self) -> None:
        data = self.sock.recv(1 << 16)
        if not data:
            raise HttpError("the server closed the connection")
        self._buf += data

    def _take(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._fill()
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def _line(self) -> bytes:
        while b"\r\n" not in self._buf:
            self._fill()
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line

    def _response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self._buf:
            self._fill()
        raw, self._buf = self._buf.split(b"\r\n\r\n", 1)
        status_line, *header_lines = raw.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while size := int(self._line().split(b";")[0], 16):
                body += self._take(size)
                self._take(2)
            while self._line():  # trailers, then the blank line
                pass
        else:
            body = self._take(int(headers.get("content-length", "0")))
        return status, headers, body


def expect(answer: tuple[int, dict[str, str], bytes], *ok: int, what: str) -> dict[str, str]:
    status, headers, body = answer
    if status not in ok:
        raise HttpError(f"{what}: HTTP {status} {body[:300]!r}")
    return headers


# -- measurements ------------------------------------------------------------------------


@dataclass
class Sample:
    seconds: float
    client_cpu: float
    server_cpu: float | None  # None: no server (the disk anchors)
    start: float = 0.0  # perf_counter() window, for the health probe
    end: float = 0.0


@dataclass
class Row:
    group: str
    name: str
    samples: dict[int, list[Sample]] = field(default_factory=dict)  # size -> samples


def client_cpu() -> float:
    """This thread's CPU (the uploader's; not the health probe's)."""
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime


def timed(session: int | None, run: Callable[[], None]) -> Sample:
    """Run `run`, with the client's CPU and the CPU of the server's session."""
    server_before = session_cpu_seconds(session) if session is not None else 0.0
    cpu_before = client_cpu()
    started = time.perf_counter()
    run()
    ended = time.perf_counter()
    cpu = client_cpu() - cpu_before
    server = session_cpu_seconds(session) - server_before if session is not None else None
    return Sample(ended - started, cpu, server, started, ended)


class HealthProbe:
    """``GET /api/health`` every 20 ms on its own connection, in a thread: how long hlsd's
    event loop took to answer while an upload ran (a stall shows as a slow answer)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.samples: list[tuple[float, float]] = []  # (sent at, seconds to answer)
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-probe", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with Conn(self.port) as conn:
                while not self._stop.is_set():
                    sent = time.perf_counter()
                    expect(conn.request("GET", "/api/health"), 200, what="GET /api/health")
                    self.samples.append((sent, time.perf_counter() - sent))
                    self._stop.wait(0.02)
        except BaseException as exc:
            self.error = exc

    def worst(self, start: float, end: float) -> float:
        """The slowest answer to a probe sent between `start` and `end`, in seconds."""
        return max((took for sent, took in list(self.samples) if start <= sent <= end),
                   default=0.0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def settle_disk(*paths: Path) -> None:
    """Untimed between rows: remove what a row wrote, then flush whatever is dirty."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    os.sync()


def make_source(path: Path, size: int) -> None:
    print(f"writing {size / 1e6:,.0f} MB of random bytes to {path} …", file=sys.stderr,
          flush=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        left = size
        while left > 0:
            block = os.urandom(min(64 * MiB, left))
            view = memoryview(block)
            while view:
                view = view[os.write(fd, view):]
            left -= len(block)
        os.fsync(fd)
    finally:
        os.close(fd)


def chunk_plan(size: int, chunk: int) -> list[tuple[int, int]]:
    return [(offset, min(chunk, size - offset)) for offset in range(0, size, chunk)]


def sha1_digests(source: mmap.mmap, plans: list[list[tuple[int, int]]]) -> dict[
        tuple[int, int], str]:
    digests: dict[tuple[int, int], str] = {}
    view = memoryview(source)
    for plan in plans:
        for offset, length in plan:
            if (offset, length) not in digests:
                digest = hashlib.sha1(view[offset:offset + length], usedforsecurity=False)
                digests[offset, length] = base64.b64encode(digest.digest()).decode()
    view.release()
    return digests


class Bench:
    def __init__(self, source: Path, scratch: Path, digests: dict[tuple[int, int], str],
                 hlsd: c.HlsdServer, probe: HealthProbe) -> None:
        self.source = source
        self.scratch = scratch
        self.digests = digests
        self.hlsd = hlsd
        self.probe = probe
        self.deletes: dict[int, list[tuple[float, float]]] = {}  # size -> (took, health)
        self.unlinks: dict[int, list[float]] = {}  # size -> seconds
        self.fd = os.open(source, os.O_RDONLY)
        self.map = mmap.mmap(self.fd, 0, prot=mmap.PROT_READ)

    def close(self) -> None:
        self.map.close()
        os.close(self.fd)

    # -- hlsd ------------------------------------------------------------------------
    def tus(self, size: int, chunk: int, checksum: bool, *, asset: bool = True) -> Sample:
        """An asset's upload (POST /api/assets {"size"}, then its tus URL), or with
        `asset` False a bare one (POST /api/uploads), which hlsd deletes on completion."""
        plan = chunk_plan(size, chunk)
        made: dict[str, str] = {}

        def run() -> None:
            with Conn(self.hlsd.port) as conn:
                if asset:
                    made.update(self._new_asset(conn, size))
                    location = made["url"]
                else:
                    location = expect(conn.request("POST", "/api/uploads",
                                                   {**TUS, "Upload-Length": str(size)}),
                                      201, what="POST /api/uploads")["location"]
                for offset, length in plan:
                    patch = {**TUS, "Content-Type": OFFSET_STREAM,
                             "Upload-Offset": str(offset)}
                    if checksum:
                        patch["Upload-Checksum"] = "sha1 " + self.digests[offset, length]
                    got = expect(conn.request("PATCH", location, patch,
                                              (self.fd, offset, length)),
                                 204, what=f"PATCH {location} @{offset}")
                    if int(got["upload-offset"]) != offset + length:
                        raise HttpError(f"PATCH @{offset}: offset {got['upload-offset']}")

        sample = timed(self.hlsd.pid, run)
        if asset:
            self._drop_asset(made["id"], size)
        else:
            settle_disk()  # hlsd removed the bare upload when it completed
        return sample

    @staticmethod
    def _new_asset(conn: Conn, size: int) -> dict[str, str]:
        status, _, body = conn.request(
            "POST", "/api/assets", {"Content-Type": "application/json"},
            json.dumps({"size": size, "title": "bench"}).encode())
        if status != 201:
            raise HttpError(f"POST /api/assets: {status} {body[:300]!r}")
        made = json.loads(body)
        return {"id": made["id"], "url": made["upload"]["url"]}

    def put_content(self, size: int) -> Sample:
        asset: dict[str, str] = {}

        def run() -> None:
            with Conn(self.hlsd.port) as conn:
                asset.update(self._new_asset(conn, size))
                expect(conn.request("PUT", f"/api/assets/{asset['id']}/content",
                                    {"Content-Type": "application/octet-stream"},
                                    (self.fd, 0, size)),
                       200, what="PUT content")

        sample = timed(self.hlsd.pid, run)
        self._drop_asset(asset["id"], size)
        return sample

    def _drop_asset(self, asset_id: str, size: int) -> None:
        """Untimed: wait for the transcode of random bytes to give up, then delete (the
        DELETE's round trip and the health probe meanwhile are kept for a note)."""
        deadline = time.monotonic() + 60
        with Conn(self.hlsd.port) as conn:
            while time.monotonic() < deadline:
                status, _, body = conn.request("GET", f"/api/assets/{asset_id}")
                if status != 200 or json.loads(body)["state"] in ("failed", "ready"):
                    break
                time.sleep(0.1)
            time.sleep(0.05)  # a probe in flight before the DELETE
            started = time.perf_counter()
            expect(conn.request("DELETE", f"/api/assets/{asset_id}"), 204, 404,
                   what="DELETE asset")
            ended = time.perf_counter()
        time.sleep(0.05)
        self.deletes.setdefault(size, []).append(
            (ended - started, self.probe.worst(started - 0.03, ended)))
        settle_disk()

    # -- disk anchors ----------------------------------------------------------------
    def disk_write(self, size: int, fsync_every: int | None, fsync_end: bool) -> Sample:
        target = self.scratch / "disk.bin"

        def run() -> None:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                view = memoryview(self.map)
                offset = unsynced = 0
                while offset < size:
                    n = os.write(fd, view[offset:min(offset + WRITE_BLOCK, size)])
                    offset += n
                    unsynced += n
                    if fsync_every is not None and unsynced >= fsync_every:
                        os.fsync(fd)
                        unsynced = 0
                view.release()
                if fsync_end:
                    os.fsync(fd)
            finally:
                os.close(fd)

        sample = timed(None, run)
        started = time.perf_counter()
        target.unlink()
        self.unlinks.setdefault(size, []).append(time.perf_counter() - started)
        settle_disk()
        return sample

    def dd(self, size: int) -> Sample:
        target = self.scratch / "dd.bin"

        def run() -> None:
            subprocess.run(["dd", "if=/dev/zero", f"of={target}", f"bs={WRITE_BLOCK}",
                            f"count={size}", "iflag=count_bytes", "conv=fsync"],
                           check=True, capture_output=True)

        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        sample = timed(None, run)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        sample.client_cpu += (after.ru_utime + after.ru_stime
                              - before.ru_utime - before.ru_stime)
        settle_disk(target)
        return sample

    # -- the bare ASGI app and nginx ----------------------------------------------------
    def bare_put(self, bare: Peer, size: int, path: str) -> Sample:
        def run() -> None:
            with Conn(bare.port) as conn:
                _, _, body = conn.request("PUT", path, {}, (self.fd, 0, size))
                if body != str(size).encode():
                    raise HttpError(f"bare PUT {path}: {body[:200]!r}")

        sample = timed(bare.pid, run)
        settle_disk(bare.root / "sink.bin")
        return sample

    def nginx_put(self, nginx: Peer, size: int) -> tuple[Sample, Sample]:
        """(the PUT, the PUT + the client's fsync of the stored file)."""
        stored = nginx.root / "put" / "upload.bin"

        def run() -> None:
            with Conn(nginx.port) as conn:
                expect(conn.request("PUT", "/put/upload.bin",
                                    {"Content-Type": "application/octet-stream"},
                                    (self.fd, 0, size)), 201, 204, what="nginx PUT")

        put = timed(nginx.pid, run)
        started = time.perf_counter()
        fd = os.open(stored, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        synced = Sample(put.seconds + time.perf_counter() - started, put.client_cpu,
                        put.server_cpu)
        if stored.stat().st_size != size:
            raise HttpError(f"nginx stored {stored.stat().st_size} bytes, not {size}")
        settle_disk(stored)
        return put, synced


@dataclass
class Peer:
    """A server other than hlsd: its process (the session leader) and port."""

    pid: int
    port: int
    root: Path  # where it writes


def wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited: {log.read_text()[-500:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port),
                                                                    timeout=1):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.args!r} did not listen: {log.read_text()[-500:]}")
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers of its own session


# -- the bare ASGI reference ---------------------------------------------------------------

SINK_DIR_ENV = "UPLOADS_BENCH_SINK_DIR"


async def sink(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
               send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    """A framework-free ASGI app, served by the same engine as hlsd (`bare_server`).
    ``PUT /discard`` reads the body and drops it: the engine's receive path alone.
    ``PUT /write`` also writes each body chunk with os.write on the event loop (no
    thread, no checkpoints) and fsyncs at the end: the least an ASGI upload costs."""
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "http":
        return
    fd = (os.open(Path(os.environ[SINK_DIR_ENV], "sink.bin"),
                  os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
          if scope["path"] == "/write" else None)
    received = 0
    try:
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body = message.get("body", b"")
            received += len(body)
            if fd is not None:
                view = memoryview(body)
                while view:
                    view = view[os.write(fd, view):]
            more = message.get("more_body", False)
        if fd is not None:
            os.fsync(fd)
    finally:
        if fd is not None:
            os.close(fd)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": str(received).encode()})


@contextlib.contextmanager
def bare_server(engine: str, tmp: Path) -> Iterator[Peer]:
    """`sink` from this file under `engine` with one worker, in its own session."""
    tmp.mkdir(parents=True)
    port = c.free_port()
    if engine == "granian":
        command = [sys.executable, "-m", "granian", "--interface", "asgi", "--host",
                   "127.0.0.1", "--port", str(port), "--workers", "1", "--log-level",
                   "warning", "uploads:sink"]
    else:
        command = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port",
                   str(port), "--log-level", "warning", "--no-access-log", "uploads:sink"]
    log = tmp / "bare.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=Path(__file__).resolve().parent,
                                env={**os.environ, SINK_DIR_ENV: str(tmp)},
                                stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_listening(proc, port, log)
        yield Peer(proc.pid, port, tmp)
    finally:
        stop(proc, signal.SIGTERM)


@contextlib.contextmanager
def nginx_server(binary: str, tmp: Path) -> Iterator[Peer]:
    """serving.py's nginx config, plus WebDAV PUT into `tmp/root/put/`."""
    root = tmp / "root"
    (root / "put").mkdir(parents=True)
    port = c.free_port()
    conf = NGINX_CONF.format(tmp=tmp, port=port, root=root)
    for old, new in ((f"        root {root};\n",
                      f"        root {root};\n        dav_methods PUT;\n"),
                     ("    access_log off;\n",
                      "    access_log off;\n    client_max_body_size 0;\n"
                      "    client_body_buffer_size 1m;\n")):
        if old not in conf:
            raise RuntimeError(f"serving.NGINX_CONF has changed: no {old.strip()!r}")
        conf = conf.replace(old, new)
    (tmp / "nginx.conf").write_text(conf)
    # Started as root, nginx's master hands requests to an unprivileged worker.
    for p in (tmp, root, root / "put"):
        p.chmod(0o777)
    log = tmp / "nginx.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, "-p", str(tmp), "-c", str(tmp / "nginx.conf")],
                                stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_listening(proc, port, log)
        yield Peer(proc.pid, port, root)
    finally:
        stop(proc, signal.SIGQUIT)  # graceful


# -- the run -------------------------------------------------------------------------------


def label(size: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", MiB), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"


DISK_ROW = "os.write 8M + fsync at end"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1GiB,256MiB",
                        help="file sizes, comma-separated (1GiB, 256MiB, 500MB, bytes)")
    parser.add_argument("--chunks", default="8MiB,64MiB", help="tus PATCH sizes")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--engine", default="granian", choices=["granian", "uvicorn"])
    parser.add_argument("--nginx", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    sizes = [parse_size(s) for s in args.size.split(",") if s.strip()]
    chunks = [parse_size(s) for s in args.chunks.split(",") if s.strip()]
    if not sizes or min(sizes) <= 0 or not chunks or min(chunks) <= 0:
        sys.exit("--size and --chunks need positive sizes")
    nginx_binary = c.require_tools("nginx")["nginx"] if args.nginx else None
    c.require_tools("dd")

    c.OUT_DIR.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="uploads-", dir=c.OUT_DIR))
    scratch.chmod(0o755)  # nginx's unprivileged worker goes through it
    started = time.perf_counter()
    try:
        run(args, sizes, chunks, scratch, nginx_binary)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n(total {time.perf_counter() - started:.0f} s; scratch removed)")


def run(args: argparse.Namespace, sizes: list[int], chunks: list[int], scratch: Path,
        nginx_binary: str | None) -> None:
    source = scratch / "source.bin"
    make_source(source, max(sizes))
    with open(source, "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
        t0 = time.perf_counter()
        digests = sha1_digests(m, [chunk_plan(s, ch) for s in sizes for ch in chunks])
        sha1_seconds = time.perf_counter() - t0
    print(f"client sha1 of the chunks, precomputed (untimed): {sha1_seconds:.1f} s "
          f"({sum(sizes) * len(chunks) / 1e6 / sha1_seconds:,.0f} MB/s)", file=sys.stderr)

    with contextlib.ExitStack() as stack:
        hlsd = stack.enter_context(c.HlsdServer(
            {"log_level": "warning"}, tmp_dir=scratch / "hlsd",
            extra_args=["--server", args.engine, "--workers", "1"]))
        bare = stack.enter_context(bare_server(args.engine, scratch / "bare"))
        nginx = (stack.enter_context(nginx_server(nginx_binary, scratch / "nginx"))
                 if nginx_binary else None)
        probe = HealthProbe(hlsd.port)
        stack.callback(probe.close)
        bench = Bench(source, scratch, digests, hlsd, probe)
        stack.callback(bench.close)

        rows: list[Row] = []
        steps: list[tuple[Row, Callable[[int], list[Sample]]]] = []

        def add(group: str, name: str, measure: Callable[[int], list[Sample]]) -> Row:
            row = Row(group, name)
            rows.append(row)
            steps.append((row, measure))
            return row

        disk = add("disk", DISK_ROW, lambda s: [bench.disk_write(s, None, True)])
        add("disk", "os.write 8M + fsync every 16M", lambda s: [
            bench.disk_write(s, CHECKPOINT, True)])
        add("disk", "dd bs=8M conv=fsync (zeros)", lambda s: [bench.dd(s)])
        add("disk", "os.write 8M, no fsync (cache)", lambda s: [
            bench.disk_write(s, None, False)])
        for chunk in chunks:
            for checksum in (False, True):
                add("hlsd", f"tus PATCH {label(chunk)}{' + sha1' if checksum else ''}",
                    lambda s, ch=chunk, ck=checksum: [bench.tus(s, ch, ck)])
        add("hlsd", f"tus PATCH {label(max(chunks))}, bare upload",
            lambda s: [bench.tus(s, max(chunks), False, asset=False)])
        add("hlsd", "PUT /api/assets/{id}/content", lambda s: [bench.put_content(s)])
        add("bare", "PUT, body discarded", lambda s: [bench.bare_put(bare, s, "/discard")])
        add("bare", "PUT, os.write + fsync at end", lambda s: [
            bench.bare_put(bare, s, "/write")])
        if nginx is not None:
            synced = Row("nginx", "PUT, then client fsync")

            def nginx_step(s: int) -> list[Sample]:
                put, after = bench.nginx_put(nginx, s)
                synced.samples.setdefault(s, []).append(after)
                return [put]

            add("nginx", "PUT (dav, no fsync)", nginx_step)
            rows.append(synced)
        # The ratios' denominator again at the other end of each round's order (it is
        # the row the shared disk moves most).
        steps.append((disk, lambda s: [bench.disk_write(s, None, True)]))

        # Warm-up, untimed: imports, the database, the first connections.
        warm = min(max(sizes), 16 * MiB)
        bench.tus(warm, min(chunks), True)
        bench.tus(warm, min(chunks), False, asset=False)
        bench.put_content(warm)
        bench.bare_put(bare, warm, "/write")
        if nginx is not None:
            bench.nginx_put(nginx, warm)

        load_before = os.getloadavg()[0]
        for n in range(args.rounds):
            order = steps if n % 2 == 0 else steps[::-1]
            for size in sizes:
                for row, measure in order:
                    row.samples.setdefault(size, []).extend(measure(size))
            print(f"round {n + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        load = (load_before, os.getloadavg()[0])
        if probe.error is not None:
            raise RuntimeError(f"the health probe failed: {probe.error!r}")
        report(rows, sizes, args, bench, load)


def report(rows: list[Row], sizes: list[int], args: argparse.Namespace, bench: Bench,
           load: tuple[float, float]) -> None:
    cores = os.cpu_count() or 1
    print(f"\nupload throughput over loopback: {args.rounds} rounds, hlsd {args.engine} with "
          f"1 worker, {cores} cores, load average {load[0]:.1f} before, {load[1]:.1f} after")
    print(f"MB = 10^6 bytes; ratio = MB/s / disk ({DISK_ROW}); CPU = % of one core over "
          "the upload; health = slowest GET /api/health (sent every 20 ms) during it")
    for size in sizes:
        disk = next(r for r in rows if r.name == DISK_ROW)
        disk_mbps = c.median([size / 1e6 / s.seconds for s in disk.samples[size]])
        table = []
        for row in rows:
            samples = row.samples.get(size, [])
            if not samples:
                continue
            rates = [size / 1e6 / s.seconds for s in samples]
            seconds = sum(s.seconds for s in samples)
            servers = [s.server_cpu for s in samples if s.server_cpu is not None]
            health = (f"{1000 * max(bench.probe.worst(s.start, s.end) for s in samples):.0f}"
                      if row.group == "hlsd" else "-")
            table.append([
                row.group, row.name, f"{c.median(rates):,.0f}",
                f"{min(rates):,.0f}-{max(rates):,.0f}", f"{c.median(rates) / disk_mbps:.2f}",
                f"{100 * sum(servers) / seconds:.0f}" if servers else "-",
                f"{100 * sum(s.client_cpu for s in samples) / seconds:.0f}", health])
        c.print_table(["", "row", "MB/s", "min-max", "ratio", "server CPU%", "client CPU%",
                       "health ms"], table, title=f"{label(size)} ({size / 1e6:,.0f} MB)")
    print()
    for size in sizes:
        deletes = bench.deletes.get(size, [])
        unlinks = bench.unlinks.get(size, [])
        if deletes and unlinks:
            print(f"{label(size)}: DELETE /api/assets/{{id}} (removes the uploaded source) "
                  f"median {1000 * c.median([d[0] for d in deletes]):.0f} ms, health up to "
                  f"{1000 * max(d[1] for d in deletes):.0f} ms meanwhile; os.unlink of the "
                  f"anchor's file median {1000 * c.median(unlinks):.0f} ms")
    tracebacks = bench.hlsd.log_text().count("Traceback")
    if tracebacks:
        print(f"hlsd logged {tracebacks} traceback(s): see {bench.hlsd.log_path}")


if __name__ == "__main__":
    main()
