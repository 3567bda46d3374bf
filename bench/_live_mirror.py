"""A live HLS stream copied as files for a static server (bench/workers.py's nginx anchor).

A thread in the bench process reads the source's media playlist every `interval` seconds,
fetches each segment it names that is not yet on disk and writes it, then writes the
playlist; every file goes in by atomic rename, segments first, so a player of the copy
never sees a playlist naming a segment that is not whole. Its CPU is the bench
process's, not the static server's: what it costs is measured (`cpu`) and reported
apart.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx


class LiveMirror:
    """`sync()` once before the static server starts (it makes the folder and the first
    files), then `with mirror:` keeps the copy live until the block ends."""

    def __init__(self, url: str, playlist_path: str, folder: Path,
                 interval: float = 0.2) -> None:
        self.playlist_path = playlist_path
        self.base = playlist_path.rsplit("/", 1)[0] + "/"
        self.folder = folder
        self.interval = interval
        self.http = httpx.Client(base_url=url, timeout=10)
        self.have: set[str] = set()
        self.playlist = b""
        self.passes = 0
        self.updates = 0  # playlists written (the source's changed)
        self.segments = 0
        self.errors: Counter[str] = Counter()
        self.cpu = 0.0  # the thread's CPU seconds while it ran
        self.seconds = 0.0  # how long it ran
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _write(self, name: str, data: bytes) -> None:
        part = self.folder / (name + ".part")
        part.write_bytes(data)
        # nginx's workers run unprivileged: the file must be readable by them.
        part.chmod(0o644)
        part.replace(self.folder / name)

    def _name(self, uri: str) -> str:
        """The file name for a URI the playlist names (relative, or a path under base)."""
        path = uri.split("?", 1)[0]
        if path.startswith(self.base):
            path = path[len(self.base):]
        if not path or "/" in path or "://" in uri:
            raise ValueError(f"cannot mirror a segment URI outside the playlist's folder: {uri}")
        return path

    def sync(self) -> None:
        """One pass: new segments, then the playlist if it changed."""
        self.passes += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        got = self.http.get(self.playlist_path)
        if got.status_code != 200:
            self.errors[f"playlist {got.status_code}"] += 1
            return
        body = got.content
        if body == self.playlist:
            return
        uris = [line for line in body.decode().splitlines()
                if line and not line.startswith("#")]
        for uri in uris:
            name = self._name(uri)
            if name in self.have:
                continue
            seg = self.http.get(self.base + uri if not uri.startswith("/") else uri)
            if seg.status_code != 200:
                # Not whole on disk: the playlist naming it waits for the next pass.
                self.errors[f"segment {seg.status_code}"] += 1
                return
            self._write(name, seg.content)
            self.have.add(name)
            self.segments += 1
        self._write(self.playlist_path.rsplit("/", 1)[-1], body)
        self.playlist = body
        self.updates += 1

    def _run(self) -> None:
        started, cpu = time.monotonic(), time.thread_time()
        try:
            while not self._stop.wait(self.interval):
                try:
                    self.sync()
                except (httpx.HTTPError, OSError, ValueError) as exc:
                    self.errors[type(exc).__name__] += 1
        finally:
            self.cpu = time.thread_time() - cpu
            self.seconds = time.monotonic() - started

    def summary(self) -> str:
        """What the mirror did and cost, for the report."""
        errors = f"errors {dict(self.errors)}" if self.errors else "no errors"
        share = 100 * self.cpu / self.seconds if self.seconds else 0.0
        return (f"mirror (a thread in the bench process, not nginx's CPU): {self.passes} "
                f"passes every {1000 * self.interval:.0f} ms, {self.updates} playlists and "
                f"{self.segments} segments written, {errors}, {share:.1f}% of a core")

    def __enter__(self) -> LiveMirror:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="live-mirror", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self.http.close()
