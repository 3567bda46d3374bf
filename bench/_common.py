"""Shared pieces of the hand-run benchmarks: paths, media, hlsd and tool helpers.

Run the scripts from the repository root as ``python bench/<name>.py``; this module puts
the repository root on ``sys.path`` so that ``tests._support`` (media generators, the
real ``Upstream`` server, ``HlsdServer``) is importable.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402

from tests._support import media  # noqa: E402
from tests._support.hlsd_server import HlsdServer, free_port  # noqa: E402
from tests._support.servers import Upstream  # noqa: E402

__all__ = [
    "FFMPEG",
    "HANDSHAKE",
    "OUT_DIR",
    "REPO_ROOT",
    "TOKEN_HEADER",
    "HlsdServer",
    "Issued",
    "Link",
    "Upstream",
    "free_port",
    "hlsd_config",
    "issue_token",
    "media",
    "median",
    "mp4_720p",
    "print_table",
    "require_tools",
    "serve_file",
    "stopwatch",
    "wav_tone",
]

FFMPEG: str = media.FFMPEG
OUT_DIR = REPO_ROOT / "bench" / "out"  # gitignored: generated media, scratch dirs
HANDSHAKE = "bench-handshake"
TOKEN_HEADER = "x-gostreamer-token"

# -- media (generated once, kept in bench/out/) ----------------------------------------


def _generate_once(path: Path, make: Callable[[Path], object]) -> Path:
    """Make `path` with `make(tmp)` unless it exists; atomic, so an interrupt leaves none."""
    if path.is_file() and path.stat().st_size > 0:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.stem + ".part" + path.suffix)  # keeps the suffix for ffmpeg
    part.unlink(missing_ok=True)
    print(f"generating {path.relative_to(REPO_ROOT)} (once) …", file=sys.stderr, flush=True)
    started = time.perf_counter()
    make(part)
    part.replace(path)
    print(f"  done in {time.perf_counter() - started:.1f} s, "
          f"{path.stat().st_size / 1e6:.1f} MB", file=sys.stderr, flush=True)
    return path


def mp4_720p(seconds: int = 600, video_kbps: int = 2500) -> Path:
    """1280x720 25 fps H.264 (keyframe every 2 s, ~`video_kbps`) + AAC 128k in MP4.

    2.5 Mbit/s is a typical 720p web bit rate (about 190 MB for 10 minutes); x264's
    ultrafast preset at its default CRF would make ~6.6 Mbit/s (500 MB) of the test
    pattern, which mostly measures the whole-file download.
    """
    path = OUT_DIR / f"h264-aac-720p-{video_kbps}k-{seconds}s.mp4"

    def make(out: Path) -> None:
        subprocess.run(
            [FFMPEG, "-hide_banner", "-v", "error", "-y",
             "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=25:duration={seconds}",
             "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
             "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
             "-b:v", f"{video_kbps}k", "-maxrate", f"{video_kbps}k",
             "-bufsize", f"{2 * video_kbps}k",
             "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
             "-c:a", "aac", "-b:a", "128k", "-shortest", "-movflags", "+faststart",
             str(out)],
            check=True)

    return _generate_once(path, make)


def flv_1080p(seconds: int = 30, gop_seconds: int = 1) -> Path:
    """1920x1080 30 fps H.264 at 6 Mbit/s (CBR-ish, a keyframe every `gop_seconds`;
    noise keeps x264 from undershooting on the test pattern) + AAC 128k in FLV, what an
    encoder publishes over RTMP; made once per length and GOP."""
    path = OUT_DIR / f"h264-aac-1080p30-6M-gop{gop_seconds}-{seconds}s.flv"
    gop = str(30 * gop_seconds)

    def make(out: Path) -> None:
        subprocess.run(
            [FFMPEG, "-hide_banner", "-v", "error", "-y",
             "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds}",
             "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
             "-vf", "noise=alls=16:allf=t", "-c:v", "libx264", "-preset", "veryfast",
             "-pix_fmt", "yuv420p", "-b:v", "6M", "-maxrate", "6M", "-bufsize", "6M",
             "-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
             "-c:a", "aac", "-b:a", "128k", "-shortest", "-f", "flv", str(out)],
            check=True)

    return _generate_once(path, make)

def wav_tone(seconds: int = 600) -> Path:
    """48 kHz 16-bit mono PCM WAV (a sine tone)."""
    path = OUT_DIR / f"tone-{seconds}s.wav"
    return _generate_once(path, lambda out: media.wav(out, seconds=seconds))


# -- upstream links -----------------------------------------------------------------------


class Link:
    """The network between the upstream and its clients: one shared bottleneck.

    Every response on the link waits `rtt` seconds before its headers (a request's round
    trip), then its body goes out in 64 KB chunks, each taking `size / rate` of the
    link's time: concurrent responses share the rate, as on a real link. `rate` None is
    loopback as it is. `sent` counts body bytes.
    """

    def __init__(self, name: str, rate_bits: float | None = None, rtt: float = 0.0) -> None:
        self.name = name
        self.rate = rate_bits / 8 if rate_bits else None
        self.rtt = rtt
        self.sent = 0
        self._free_at = 0.0
        self._lock = threading.Lock()

    def pace(self, n: int) -> None:
        """Wait until `n` more bytes have had their time on the link."""
        with self._lock:
            self.sent += n
            if self.rate is None:
                return
            now = time.perf_counter()
            self._free_at = max(self._free_at, now) + n / self.rate
            done = self._free_at
        delay = done - time.perf_counter()
        if delay > 0:
            time.sleep(delay)


def serve_file(up: Upstream, route: str, file: Path, link: Link, *, ranges: bool) -> None:
    """Serve `file` at `route` over `link`; with `ranges` False the upstream ignores Range
    (answers 200 with the whole body, no Accept-Ranges), as many simple servers do."""
    size = file.stat().st_size

    def read(start: int, length: int) -> Iterator[bytes]:
        with file.open("rb") as f:
            f.seek(start)
            while length > 0:
                data = f.read(min(64 * 1024, length))
                if not data:
                    return
                link.pace(len(data))
                length -= len(data)
                yield data

    def handle(h: Any) -> None:
        if link.rtt:
            time.sleep(link.rtt)
        h._ranged(size, "video/mp4" if file.suffix == ".mp4" else "audio/wav", read,
                  ranges=ranges)

    up.add_handler(route, handle)


# -- hlsd --------------------------------------------------------------------------------


def hlsd_config(upstream_url: str, **extra: Any) -> dict[str, Any]:
    """A config with room for 10-minute sources (the seed's hls.yaml keys + hlsd's)."""
    config: dict[str, Any] = {
        "cache": {"dir": "cache", "size": "8GB", "limit": 1000, "tempdir": "temp",
                  "static": "static", "expiry": "30m",
                  "killsize": {"enabled": True, "tempdir": "8GB", "static": "8GB"}},
        "handshake": HANDSHAKE,
        "url": {"video": f"{upstream_url}/media"},
        "log_level": "warning",
    }
    config.update(extra)
    return config


@dataclass(frozen=True)
class Issued:
    token: str
    rid: str

    @property
    def headers(self) -> dict[str, str]:
        return {TOKEN_HEADER: self.token}


def issue_token(client: httpx.Client, base_url: str, qid: str) -> Issued:
    response = client.post(f"{base_url}/api/token", json={"handshake": HANDSHAKE, "qid": qid})
    if response.status_code != 201:
        raise RuntimeError(f"POST /api/token {qid!r}: {response.status_code} {response.text}")
    body = response.json()
    return Issued(token=body["token"], rid=body["rid"])


# -- tools, timing, output ---------------------------------------------------------------


def require_tools(*names: str) -> dict[str, str]:
    """Absolute paths of the named executables; exits with a hint when one is missing."""
    found: dict[str, str] = {}
    for name in names:
        path = shutil.which(name) or (f"/usr/sbin/{name}" if os.access(
            f"/usr/sbin/{name}", os.X_OK) else None)
        if path is None:
            sys.exit(f"{name} is not installed: apt-get install -y {name}")
        found[name] = path
    return found


@contextlib.contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """``with stopwatch() as elapsed: …; elapsed()`` — seconds since entry (frozen at exit)."""
    started = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - started
    end.append(time.perf_counter())


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]],
                title: str | None = None) -> None:
    """A plain fixed-width table on stdout (numbers as given, strings left-aligned)."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    if title:
        print(f"\n{title}")
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    sys.stdout.flush()


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)
