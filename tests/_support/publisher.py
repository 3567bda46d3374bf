"""A real live HLS publisher (ffmpeg's HLS muxer pushing over HTTP) and a recorder.

    with Recorder() as rec, LivePublisher(rec.url + "/ingest/cam1", duration=4) as pub:
        pub.wait(20)
        rec.text("/ingest/cam1/index.m3u8")

`LivePublisher(url)` runs ffmpeg with `-re` on lavfi sources (testsrc2 + sine) or on a
looped file, encodes H.264 (libx264 veryfast, yuv420p, fixed GOP, no scene cuts) + AAC
and pushes with `-f hls -method PUT|POST` to `<url>/...`, where `url` is the stream's
ingest folder, e.g. `http://127.0.0.1:8080/ingest/cam1`. `Recorder` is a tiny HTTP server
that stores whatever is pushed to it; the self-test uses it to pin down what ffmpeg
sends. hlsd's ingest must accept exactly this.

What ffmpeg 9.0.2 (imageio-ffmpeg's build, Lavf/63) sends, as observed with `Recorder`:

URLs (paths below are relative to `url`; `seg-%d` names are set by this module with
`-hls_segment_filename`, ffmpeg's default would be `index%d.ts` after the playlist):

* single variant, mpegts: `seg-0.ts`, `seg-1.ts`, ... and `index.m3u8`;
* single variant, fmp4: `init.mp4` (`#EXT-X-MAP:URI="init.mp4"`), `seg-0.m4s`, ...,
  `index.m3u8` (EXT-X-VERSION 7 instead of 6);
* variants ("720p", "360p"): `720p/seg-0.ts`, `720p/index.m3u8`, `360p/seg-0.ts`,
  `360p/index.m3u8`, and the master `index.m3u8` (its STREAM-INF URIs are
  `720p/index.m3u8`, `360p/index.m3u8`). In fmp4, ffmpeg will not use one init name
  for several variants: a name without `%v` gets the variant's index appended
  (`init.mp4` -> `720p/init_0.mp4`), so this module asks for `init_%v.mp4`, giving
  `720p/init_720p.mp4` and `360p/init_360p.mp4`.

The publish key:

* A query string on the output URL stays on that playlist's own uploads only. Segment
  and init URLs are derived without it (`seg-3.ts`, not `seg-3.ts?key=..`), DELETEs too,
  and the master URL is derived from the directory (no query either). `key=` therefore
  also puts `?key=` into `-master_pl_name`, so every *playlist* upload carries it; but
  ffmpeg then also copies the variant playlists' query into the master's STREAM-INF URIs
  (`720p/index.m3u8?key=..`): the key is in the published master text. Segments and
  init segments never carry the query key: with `key=` alone a server that checks
  the key on every upload rejects the media.
* `headers={"Authorization": "Bearer .."}` (ffmpeg's `-headers`) is sent on every
  request: segments, init segments, playlists, master, DELETE. This is the one that
  covers everything.

HTTP:

* Every upload (PUT or POST, as `-method` says) has `Transfer-Encoding: chunked` and
  no Content-Length; no `Expect: 100-continue`. Headers: `User-Agent: Lavf/63.1.102`,
  `Accept: */*`, `Icy-MetaData: 1` (sic), `Connection: close` with
  `-http_persistent 0`, `Connection: keep-alive` with `-http_persistent 1`.
* Segments are buffered by the muxer and sent whole when they end (all chunks within
  ~1 ms). The init segment is different: its request line and headers are sent when
  the muxer starts, and its body only when the first segment is complete, i.e. the
  request sits idle for one segment duration (measured: ~1.2 s with 1 s segments,
  ~3.2 s with 3 s segments).
* `-http_persistent 0`: one connection per upload; ffmpeg sends the terminating chunk
  and closes without reading the response. Consecutive uploads (segment, then playlist)
  therefore overlap at the server: the playlist naming a segment may be handled while
  the segment's handler is still running, and at the end, where ffmpeg flushes a
  segment, a playlist, the last segment and the ENDLIST playlist within ~1 ms, the
  second-to-last playlist was seen to finish *after* the final one. A server must order
  uploads by arrival, not by completion. `-http_persistent 1`: one keep-alive
  connection per variant (plus one for the master) carrying requests in order; the
  connection is closed without reading the last response (the server sees a reset).
* HTTP error statuses are ignored: with a server answering 403 to everything, ffmpeg
  logs nothing (even at `-v verbose`) and exits 0, in both persistent modes. A refused
  connection does stop it ("Failed to open file ...", exit code 145).
* DELETE is sent only with `-hls_flags +delete_segments` (not in the default flags):
  `DELETE <segment URL>` with a chunked empty body, after the new segment and before
  the playlist, keeping `list_size + 1` segments.
* Order per segment: the segment (for fmp4 the first time: init, then the segment),
  then the (variant's) playlist naming it; with variants each variant in turn, and the
  master once after every variant has its first playlist, then again at the end
  (once per variant, with AVERAGE-BANDWIDTH).
* `#EXT-X-PROGRAM-DATE-TIME` (from `program_date_time`) is written after each
  `#EXTINF` and before the URI, on every segment, as `2026-11-21T20:46:13.975+0000`
  (zone without a colon: not RFC 3339's `+00:00`; Python's `fromisoformat` reads it).
* The end: on `-t` running out, on `q` on stdin, on SIGTERM and on SIGINT alike,
  ffmpeg uploads the last (short) segment and then a final playlist with
  `#EXT-X-ENDLIST` (exit code 0 for `-t` and `q`, 255 for the signals).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import quote, unquote, urlsplit

from tests._support.media import FFMPEG
from tests._support.servers import LoopbackServer

__all__ = ["LivePublisher", "RecordedRequest", "Recorder", "Variant", "gop_frames"]

#: (name, size "WxH", video bitrate like "800k") of one variant of a multi-variant push.
Variant = tuple[str, str, str]
SegmentType = Literal["mpegts", "fmp4"]


def gop_frames(seconds_per_segment: float, rate: int) -> int:
    """The GOP length in frames: the largest divisor of a segment's frame count that is
    at most 2 s of frames, so that every segment holds whole GOPs and is cut on time."""
    frames = max(1, round(seconds_per_segment * rate))
    return max(d for d in range(1, min(frames, 2 * rate) + 1) if frames % d == 0)


class LivePublisher:
    """ffmpeg pushing a live HLS stream to `url` (a folder URL, no trailing slash).

    `input=None` encodes lavfi testsrc2 (at `size`) + a 440 Hz sine; a file is looped
    forever (`-stream_loop -1`) and must have audio unless `audio=False`. Segments are
    `seconds_per_segment` long (`-g` is the largest whole fraction of a segment that is at
    most 2 s of frames: 1 s segments get 1 s GOPs, 6 s segments 2 s GOPs).
    `variants` switches to a master playlist with one folder per variant (see the
    module docstring for the URLs). `key` goes into the playlist URLs' query string,
    `headers` into every request. `extra_args` are output options placed just before
    the URL. stderr goes to `log_path` (a temporary file by default).
    """

    def __init__(
        self,
        url: str,
        *,
        input: Path | str | None = None,
        segment_type: SegmentType = "mpegts",
        variants: Sequence[Variant] | None = None,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
        duration: float | None = None,
        seconds_per_segment: float = 1.0,
        list_size: int = 6,
        hls_flags: str = "+program_date_time+independent_segments",
        method: Literal["PUT", "POST"] = "PUT",
        http_persistent: bool = False,
        size: str = "640x360",
        rate: int = 25,
        video_bitrate: str | None = None,
        audio: bool = True,
        zerolatency: bool = False,
        realtime: bool = True,
        playlist_name: str = "index.m3u8",
        extra_args: Sequence[str] = (),
        log_path: Path | None = None,
        loglevel: str = "info",
    ) -> None:
        if segment_type not in ("mpegts", "fmp4"):
            raise ValueError(f"segment_type must be 'mpegts' or 'fmp4', not {segment_type!r}")
        if variants is not None and len(variants) == 0:
            raise ValueError("variants must name at least one variant (or be None)")
        self.url = url.rstrip("/")
        self.input = input
        self.segment_type: SegmentType = segment_type
        self.variants: list[Variant] | None = list(variants) if variants is not None else None
        self.key = key
        self.headers = dict(headers or {})
        self.duration = duration
        self.seconds_per_segment = seconds_per_segment
        self.list_size = list_size
        self.hls_flags = hls_flags
        self.method = method
        self.http_persistent = http_persistent
        self.size = size
        self.rate = rate
        self.video_bitrate = video_bitrate
        self.audio = audio
        self.zerolatency = zerolatency
        self.realtime = realtime
        self.playlist_name = playlist_name
        self.extra_args = list(extra_args)
        self.loglevel = loglevel
        self._own_log = log_path is None
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="publisher-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- what gets pushed where -------------------------------------------------------
    @property
    def segment_ext(self) -> str:
        return ".m4s" if self.segment_type == "fmp4" else ".ts"

    @property
    def master_playlist(self) -> str | None:
        """The master playlist's path relative to `url`, or None for a single variant."""
        return self.playlist_name if self.variants else None

    @property
    def media_playlists(self) -> list[str]:
        """Media playlist paths relative to `url` (one per variant)."""
        if not self.variants:
            return [self.playlist_name]
        return [f"{name}/{self.playlist_name}" for name, _, _ in self.variants]

    @property
    def gop_frames(self) -> int:
        return gop_frames(self.seconds_per_segment, self.rate)

    def _query(self) -> str:
        return f"?key={quote(self.key, safe='')}" if self.key is not None else ""

    def _inputs(self) -> tuple[list[str], str, str]:
        """Input args, the video stream spec and the audio stream spec."""
        re = ["-re"] if self.realtime else []
        if self.input is not None:
            return [*re, "-stream_loop", "-1", "-i", str(self.input)], "0:v:0", "0:a:0"
        args = [*re, "-f", "lavfi", "-i", f"testsrc2=size={self.size}:rate={self.rate}"]
        if self.audio:
            args += [*re, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
        return args, "0:v:0", "1:a:0"

    def _encode(self, video: str, audio: str) -> list[str]:
        gop = str(self.gop_frames)
        args: list[str] = []
        if self.variants:
            n = len(self.variants)
            chains = [f"[{video}]split={n}" + "".join(f"[s{i}]" for i in range(n))]
            for i, (_, vsize, _) in enumerate(self.variants):
                width, height = vsize.lower().split("x")
                chains.append(f"[s{i}]scale={width}:{height}[v{i}]")
            args += ["-filter_complex", ";".join(chains)]
            for i in range(n):
                args += ["-map", f"[v{i}]"]
            if self.audio:
                for _ in range(n):
                    args += ["-map", audio]
            for i, (_, _, bitrate) in enumerate(self.variants):
                args += [f"-b:v:{i}", bitrate]
        else:
            args += ["-map", video]
            if self.audio:
                args += ["-map", audio]
            if self.input is not None:
                args += ["-s", self.size]
            if self.video_bitrate:
                args += ["-b:v", self.video_bitrate]
        args += ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                 "-r", str(self.rate), "-g", gop, "-keyint_min", gop, "-sc_threshold", "0"]
        if self.zerolatency:
            args += ["-tune", "zerolatency"]
        if self.audio:
            args += ["-c:a", "aac", "-b:a", "64k", "-ar", "48000"]
        return args

    def _hls(self) -> list[str]:
        args = ["-f", "hls", "-hls_time", f"{self.seconds_per_segment:g}",
                "-hls_list_size", str(self.list_size)]
        if self.hls_flags:
            args += ["-hls_flags", self.hls_flags]
        if self.segment_type == "fmp4":
            init = "init_%v.mp4" if self.variants else "init.mp4"
            args += ["-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", init]
        args += ["-method", self.method, "-http_persistent", "1" if self.http_persistent else "0"]
        if self.headers:
            args += ["-headers", "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())]
        folder = f"{self.url}/%v" if self.variants else self.url
        args += ["-hls_segment_filename", f"{folder}/seg-%d{self.segment_ext}"]
        if self.variants:
            stream_map = " ".join(
                f"v:{i},a:{i},name:{name}" if self.audio else f"v:{i},name:{name}"
                for i, (name, _, _) in enumerate(self.variants))
            args += ["-var_stream_map", stream_map,
                     "-master_pl_name", self.playlist_name + self._query()]
        return args

    def command(self) -> list[str]:
        """The ffmpeg argument list (no shell)."""
        inputs, video, audio = self._inputs()
        duration = ["-t", f"{self.duration:g}"] if self.duration is not None else []
        folder = f"{self.url}/%v" if self.variants else self.url
        return [FFMPEG, "-hide_banner", "-loglevel", self.loglevel, *inputs,
                *self._encode(video, audio), *duration, *self._hls(), *self.extra_args,
                f"{folder}/{self.playlist_name}{self._query()}"]

    # -- lifecycle --------------------------------------------------------------------
    def __enter__(self) -> LivePublisher:
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> LivePublisher:
        if self.running:
            raise RuntimeError("the publisher is already running")
        args = self.command()
        self._log = self.log_path.open("ab")
        self._log.write(("==== " + " ".join(args) + "\n").encode())
        self._log.flush()
        self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=self._log)
        return self

    def wait(self, timeout: float | None = None) -> int:
        """Wait for ffmpeg to exit; raises subprocess.TimeoutExpired."""
        if self._proc is None:
            raise RuntimeError("the publisher was not started")
        code = self._proc.wait(timeout=timeout)
        self._close_pipes()
        return code

    def stop(self, grace: float = 5.0, *, send_q: bool = True) -> int | None:
        """End the stream and return the exit code: `q` on stdin (ffmpeg uploads the
        last segment and a playlist with ENDLIST; exit code 0), after `grace` s SIGTERM
        (same uploads; exit code 255), after 5 s more SIGKILL. `send_q=False` starts
        with SIGTERM."""
        proc = self._proc
        if proc is None:
            return None
        if send_q and proc.poll() is None and proc.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                proc.stdin.write(b"q")
                proc.stdin.flush()
        steps = [(None, grace)] if send_q else []
        for action, timeout in [*steps, (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)]:
            if proc.poll() is not None:
                break
            if action is not None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(action)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=timeout)
        self._close_pipes()
        return proc.poll()

    def _close_pipes(self) -> None:
        proc = self._proc
        if proc is not None and proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_text(self) -> str:
        """Everything ffmpeg printed on stderr so far (after the command line)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def cleanup(self) -> None:
        """Stop and remove the log file if this object created it."""
        self.stop()
        if self._own_log:
            with contextlib.suppress(FileNotFoundError):
                self.log_path.unlink()


# -- Recorder -------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request as the Recorder saw it.

    `path` is URL-decoded and without the query; `target` is the request target as sent.
    `headers` keys are lower-case. `chunked` tells how the body came: chunked transfer
    coding (`chunks` = number of data chunks) or Content-Length (`content_length`).
    `complete` is False when the body was cut off. Times are `time.monotonic()`:
    `accepted` (the TCP connection), `started` (headers read), `finished` (body read).
    `connection` numbers connections in accept order; `index` counts requests on it.
    """

    method: str
    target: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes = b""
    chunked: bool = False
    chunks: int = 0
    content_length: int | None = None
    complete: bool = True
    connection: int = 0
    index: int = 0
    client_port: int = 0
    accepted: float = 0.0
    started: float = 0.0
    finished: float = 0.0
    status: int = 0
    response_error: str | None = None

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    @property
    def order(self) -> tuple[int, int]:
        """Sort key in the order the uploads were opened: connection (numbered as
        accepted), then request on it. ffmpeg's muxer is one thread: it opens the next
        upload only after it has sent the previous one whole (the fmp4 init segment,
        opened at the start and sent after the first segment, is the exception)."""
        return (self.connection, self.index)


class _BodyCut(Exception):
    pass


class _RecorderHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _RecorderServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self._served = 0

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._connection_closed()

    def _read_chunked(self) -> tuple[bytes, int]:
        parts: list[bytes] = []
        count = 0
        while True:
            line = self.rfile.readline(65537)
            if not line:
                raise _BodyCut
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError as err:
                raise _BodyCut from err
            if size == 0:
                while True:  # trailers, up to the empty line
                    trailer = self.rfile.readline(65537)
                    if trailer in (b"\r\n", b"\n"):
                        return b"".join(parts), count
                    if not trailer:
                        raise _BodyCut
            data = self.rfile.read(size)
            if len(data) < size:
                parts.append(data)
                raise _BodyCut
            parts.append(data)
            count += 1
            if self.rfile.readline(65537) not in (b"\r\n", b"\n"):
                raise _BodyCut

    def _handle(self) -> None:
        owner = self.server.owner
        started = time.monotonic()
        conn_no, accepted = owner._connection_info(self.client_address)
        parts = urlsplit(self.path)
        rec = RecordedRequest(
            method=self.command, target=self.path, path=unquote(parts.path),
            query=parts.query, headers={k.lower(): v for k, v in self.headers.items()},
            connection=conn_no, index=self._served, client_port=int(self.client_address[1]),
            accepted=accepted, started=started,
        )
        self._served += 1
        encoding = self.headers.get("Transfer-Encoding", "").lower()
        length = self.headers.get("Content-Length")
        try:
            if "chunked" in encoding:
                rec.chunked = True
                rec.body, rec.chunks = self._read_chunked()
            elif length is not None and length.strip().isdigit():
                rec.content_length = int(length)
                rec.body = self.rfile.read(rec.content_length)
                if len(rec.body) < rec.content_length:
                    raise _BodyCut
        except (_BodyCut, OSError):
            rec.complete = False
            self.close_connection = True
        rec.finished = time.monotonic()
        if rec.complete:
            rec.status = owner._apply(rec)
        owner._record(rec)
        if not rec.complete:
            return
        try:
            body = b""
            if self.command == "GET":
                stored = owner.files.get(rec.path)
                body = stored if stored is not None and rec.status == 200 else b""
            self.send_response(rec.status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)
            self.wfile.flush()
        except OSError as err:
            rec.response_error = repr(err)
            self.close_connection = True

    do_PUT = do_POST = do_DELETE = do_GET = _handle


class _RecorderServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, owner: Recorder) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _RecorderHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Runs in the accept loop, so connection numbers follow the accept order.
        self.owner._accepted(client_address, request)
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # peers that reset the connection (ffmpeg does) are not errors here


class Recorder(LoopbackServer):
    """An HTTP server on 127.0.0.1:<ephemeral> that stores what is pushed to it.

    PUT and POST store the body under the decoded path (query dropped) and answer 201
    (PUT) or 200 (POST); DELETE removes it and answers 204; GET returns a stored body
    (200) or 404. Chunked request bodies are decoded; HTTP/1.1 keep-alive works. Of two
    uploads of one path the one sent later (`RecordedRequest.order`) wins, whichever
    was handled first. `status` (if set) overrides the answer to PUT/POST/DELETE, and
    then nothing is stored or removed. Every request is kept in `requests`, in the
    order handling finished; `uploads()` sorts them in the order they were sent.
    """

    def __init__(self) -> None:
        self.status: int | None = None
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._files: dict[str, bytes] = {}
        self._applied: dict[str, tuple[int, int]] = {}
        self._open = 0
        self._requests: list[RecordedRequest] = []
        self._conns: dict[Any, tuple[int, float]] = {}
        self._sockets: list[socket.socket] = []
        self._next_conn = 0
        self._serve(_RecorderServer(self), "recorder")

    # -- server side ------------------------------------------------------------------
    def _accepted(self, client_address: Any, sock: socket.socket) -> None:
        with self._lock:
            self._next_conn += 1
            self._open += 1
            self._conns[client_address] = (self._next_conn, time.monotonic())
            self._sockets.append(sock)

    def _connection_closed(self) -> None:
        with self._changed:
            self._open -= 1
            self._changed.notify_all()

    def _connection_info(self, client_address: Any) -> tuple[int, float]:
        with self._lock:
            return self._conns.get(client_address, (0, 0.0))

    def _apply(self, rec: RecordedRequest) -> int:
        with self._lock:
            if rec.method == "GET":
                return 200 if rec.path in self._files else 404
            if self.status is not None:
                return self.status
            # ffmpeg does not wait for answers: a later upload of the same path can be
            # handled first. The one sent last wins, as it must in a real server.
            newest = self._applied.get(rec.path)
            if newest is None or rec.order > newest:
                self._applied[rec.path] = rec.order
                if rec.method == "DELETE":
                    self._files.pop(rec.path, None)
                else:
                    self._files[rec.path] = rec.body
            if rec.method == "DELETE":
                return 204
            return 201 if rec.method == "PUT" else 200

    def _record(self, rec: RecordedRequest) -> None:
        with self._changed:
            self._requests.append(rec)
            self._changed.notify_all()

    # -- what was recorded ----------------------------------------------------------
    @property
    def files(self) -> dict[str, bytes]:
        """A snapshot: path -> last stored body."""
        with self._lock:
            return dict(self._files)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request, in the order their handling finished."""
        with self._lock:
            return list(self._requests)

    def uploads(self, path: str | None = None, *, method: str | None = None,
                ordered: bool = True) -> list[RecordedRequest]:
        """Requests other than GET (to `path`, by `method`), in upload order."""
        found = [r for r in self.requests if r.method != "GET"
                 and (path is None or r.path == path)
                 and (method is None or r.method == method)]
        return sorted(found, key=lambda r: r.order) if ordered else found

    def body(self, path: str) -> bytes:
        with self._lock:
            return self._files[path]

    def text(self, path: str) -> str:
        return self.body(path).decode("utf-8")

    def wait_for(self, predicate: Callable[[Recorder], bool], timeout: float = 10.0) -> bool:
        """Wait until `predicate(self)` holds (checked after every request)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.2))
            return True

    @property
    def open_connections(self) -> int:
        with self._lock:
            return self._open

    def wait_idle(self, timeout: float = 10.0, quiet: float = 0.2) -> bool:
        """Wait until no connection is open or waiting to be accepted, for `quiet` s in
        a row, so every request made so far is recorded (after ffmpeg has exited its
        last uploads may still be in the handlers, or even in the listen queue)."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.wait_for(lambda r: r.open_connections == 0,
                                 max(0.0, deadline - time.monotonic())):
                return False
            with self._lock:
                seen = self._next_conn
            time.sleep(quiet)
            pending, _, _ = select.select([self._server.socket], [], [], 0)
            with self._lock:
                if not pending and self._open == 0 and self._next_conn == seen:
                    return True
            if time.monotonic() >= deadline:
                return False

    def close(self) -> None:
        self._server.shutdown()
        with self._lock:
            socks = list(self._sockets)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._thread.join(timeout=5)
