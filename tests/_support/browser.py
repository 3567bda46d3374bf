"""hls.js playback in headless Chromium, driven by Playwright.

`play_hls(url)` opens a tiny player page served from its own loopback HTTP server
(a different origin from the stream, so CORS is exercised as for a real player page),
plays the stream with hls.js into a muted `<video>`, and reports what happened.

hls.js comes from `node_modules/hls.js` (installed by `npm ci` from package.json);
Chromium is Debian's `/usr/bin/chromium`. No browser is ever downloaded.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests._support.servers import Upstream

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "HLS_JS",
    "PlaybackResult",
    "browser_available",
    "browser_skip_reason",
    "browser_test",
    "describe",
    "play_hls",
    "play_hls_async",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--autoplay-policy=no-user-gesture-required",
]
HLS_JS = REPO_ROOT / "node_modules" / "hls.js" / "dist" / "hls.min.js"

#: Set by scripts/test: a missing browser then fails browser tests instead of skipping them.
REQUIRE_ENV = "HLSD_TEST_REQUIRE_BROWSER"


def browser_skip_reason() -> str | None:
    """Why browser tests cannot run here, or None when they can."""
    missing = []
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if not HLS_JS.is_file():
        missing.append(f"{HLS_JS.relative_to(REPO_ROOT)} (npm ci)")
    if not missing:
        return None
    return "browser tests need " + " and ".join(missing) + "; scripts/test sets them up"


def browser_available() -> bool:
    """True when Chromium and hls.js are both present."""
    return browser_skip_reason() is None


def _browser_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


#: Marks for a browser test module or function: `pytestmark = browser_test`.
#: Outside scripts/test a missing browser skips with the reason; under it, it fails.
browser_test = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not browser_available() and not _browser_required(),
        reason=browser_skip_reason() or "",
    ),
]


@dataclass
class PlaybackResult:
    """What hls.js did with a stream.

    `played` is the highest `currentTime` the video reached (after a seek it includes the
    seek target). `errors` holds every hls.js ERROR event as
    "hls <type>/<details> fatal=<true|false> …", plus `<video>` errors ("video …") and
    uncaught page errors ("page …"). `requests` lists the URLs hls.js fetched, in order.
    """

    played: float = 0.0
    errors: list[str] = field(default_factory=list)
    levels: int = 0
    audio_tracks: int = 0
    subtitle_tracks: int = 0
    fragments_loaded: int = 0
    requests: list[str] = field(default_factory=list)
    duration: float | None = None
    ended: bool = False
    timed_out: bool = False
    level_switches: list[int] = field(default_factory=list)
    """Every level hls.js switched to (LEVEL_SWITCHED), in order."""
    latencies: list[float] = field(default_factory=list)
    """Seconds between the wall clock and hls.js's `playingDate` (PROGRAM-DATE-TIME of
    what plays), sampled at every `timeupdate`: the end-to-end latency."""
    buffered_start: float | None = None
    """Where the `<video>`'s buffer began once the first fragment was buffered (hls.js
    puts time 0 at the first fragment's earliest timestamp: more is a hole at the start,
    which hls.js seeks over, reporting `bufferSeekOverHole`)."""

    @property
    def fatal_errors(self) -> list[str]:
        return [e for e in self.errors if "fatal=true" in e or e.startswith(("video ", "page "))]


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>hlsd test player</title>
<script src="/hls.min.js"></script></head>
<body><video id="v" muted playsinline></video>
<script>
"use strict";
const S = window.__hlsd = {
  started: false, played: 0, errors: [], levels: 0, audioTracks: 0, subtitleTracks: 0,
  fragmentsLoaded: 0, requests: [], duration: null, ended: false, fatal: false,
  levelSwitches: [], bufferedStart: null, latencies: [],
};
window.addEventListener("error", (e) => { S.errors.push("page " + e.message); S.fatal = true; });
window.addEventListener("unhandledrejection", (e) => { S.errors.push("page " + e.reason); });
window.startPlayback = function (url, headers, seekTo, switchAt, config) {
  S.started = true;
  const video = document.getElementById("v");
  video.muted = true;
  if (!window.Hls || !Hls.isSupported()) {
    S.errors.push("page hls.js unsupported (no MSE)"); S.fatal = true; return;
  }
  const seen = new WeakSet();
  const hls = window.hls = new Hls(Object.assign({
    xhrSetup(xhr, u) {
      if (!seen.has(xhr)) { seen.add(xhr); S.requests.push(u); }
      for (const [k, v] of Object.entries(headers)) { xhr.setRequestHeader(k, v); }
    },
  }, config || {}));
  hls.on(Hls.Events.ERROR, (_e, d) => {
    let msg = "hls " + d.type + "/" + d.details + " fatal=" + (d.fatal ? "true" : "false");
    if (d.response && d.response.code !== undefined) msg += " http=" + d.response.code;
    const u = (d.context && d.context.url) || (d.frag && d.frag.url) || d.url;
    if (u) msg += " url=" + u;
    if (d.reason) msg += " reason=" + d.reason;
    if (d.error && d.error.message) msg += " error=" + d.error.message;
    S.errors.push(msg);
    if (d.fatal) S.fatal = true;
  });
  hls.on(Hls.Events.MANIFEST_PARSED, (_e, d) => {
    S.levels = d.levels.length;
    const p = video.play();
    if (p) p.catch((err) => { if (err.name !== "AbortError") S.errors.push("play " + err); });
  });
  hls.on(Hls.Events.AUDIO_TRACKS_UPDATED, (_e, d) => { S.audioTracks = d.audioTracks.length; });
  hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, (_e, d) => {
    S.subtitleTracks = d.subtitleTracks.length;
  });
  hls.on(Hls.Events.FRAG_LOADED, () => { S.fragmentsLoaded += 1; });
  hls.on(Hls.Events.FRAG_BUFFERED, () => {
    if (S.bufferedStart === null && video.buffered.length) {
      S.bufferedStart = video.buffered.start(0);
    }
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_e, d) => { S.levelSwitches.push(d.level); });
  let switchPending = switchAt !== null && switchAt !== undefined;
  let seekPending = seekTo !== null && seekTo !== undefined;
  video.addEventListener("loadedmetadata", () => {
    S.duration = isFinite(video.duration) ? video.duration : null;
    if (seekPending) { seekPending = false; video.currentTime = seekTo; }
  });
  video.addEventListener("timeupdate", () => {
    if (video.currentTime > S.played) S.played = video.currentTime;
    // End-to-end latency: the wall clock now, against the PROGRAM-DATE-TIME of what
    // plays (the time its first frame reached the server).
    if (hls.playingDate && S.latencies.length < 10000) {
      S.latencies.push((Date.now() - hls.playingDate.getTime()) / 1000);
    }
    if (switchPending && video.currentTime >= switchAt && hls.levels.length > 1) {
      // Switch level at once, as a viewer picking a quality does (the buffer ahead is
      // dropped and refetched from the other level).
      switchPending = false;
      hls.currentLevel = (hls.currentLevel + 1) % hls.levels.length;
    }
  });
  video.addEventListener("ended", () => { S.ended = true; });
  video.addEventListener("error", () => {
    const e = video.error;
    S.errors.push("video error code=" + (e && e.code) + " " + ((e && e.message) || ""));
    S.fatal = true;
  });
  hls.loadSource(url);
  hls.attachMedia(video);
};
</script></body></html>
"""

_STATE_JS = "() => window.__hlsd"


@contextmanager
def hls_page(html: str, *, timeout: float = 30.0,
             on_error: Callable[[Exception], None] | None = None) -> Iterator[Page]:
    """A headless Chromium page loaded with `html`, served from a local server with
    hls.js beside it (``/hls.min.js``); the browser is closed after. `on_error` hears
    the page's uncaught errors."""
    from playwright.sync_api import sync_playwright

    reason = browser_skip_reason()
    if reason is not None:
        raise RuntimeError(reason)
    with Upstream() as page_server, sync_playwright() as pw:
        page_server.add_bytes("/", html.encode(), "text/html; charset=utf-8")
        page_server.add_file("/hls.min.js", HLS_JS, "text/javascript")
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                     headless=True)
        try:
            page = browser.new_page()
            if on_error is not None:
                page.on("pageerror", on_error)
            page.goto(page_server.url + "/", wait_until="load", timeout=timeout * 1000)
            yield page
        finally:
            browser.close()


def _play(url: str, headers: dict[str, str], seconds: float, timeout: float,
          seek_to: float | None, switch_level_at: float | None = None,
          config: dict[str, Any] | None = None) -> PlaybackResult:
    target = (seek_to or 0.0) + seconds
    result = PlaybackResult()
    with hls_page(_PAGE, timeout=timeout,
                  on_error=lambda exc: result.errors.append(f"page {exc}")) as page:
        page.evaluate("([u, h, s, w, c]) => window.startPlayback(u, h, s, w, c)",
                      [url, headers, seek_to, switch_level_at, config or {}])
        deadline = time.monotonic() + timeout
        state: dict[str, Any] = page.evaluate(_STATE_JS)
        while True:
            if state["fatal"] or state["ended"] or state["played"] >= target:
                break
            if time.monotonic() >= deadline:
                result.timed_out = True
                break
            page.wait_for_timeout(100)
            state = page.evaluate(_STATE_JS)
    result.played = float(state["played"])
    result.errors = [*state["errors"], *result.errors]
    result.levels = int(state["levels"])
    result.audio_tracks = int(state["audioTracks"])
    result.subtitle_tracks = int(state["subtitleTracks"])
    result.fragments_loaded = int(state["fragmentsLoaded"])
    result.requests = [str(u) for u in state["requests"]]
    result.duration = None if state["duration"] is None else float(state["duration"])
    result.ended = bool(state["ended"])
    result.level_switches = [int(level) for level in state["levelSwitches"]]
    result.latencies = [float(x) for x in state["latencies"]]
    start = state["bufferedStart"]
    result.buffered_start = None if start is None else float(start)
    return result


def play_hls(url: str, *, headers: dict[str, str] | None = None, seconds: float = 4.0,
             timeout: float = 30.0, seek_to: float | None = None,
             switch_level_at: float | None = None,
             config: dict[str, Any] | None = None) -> PlaybackResult:
    """Play `url` with hls.js until `seconds` of media have played (from `seek_to` if given),
    the video ends, a fatal error happens, or `timeout` passes (then `timed_out` is True).

    `headers` are set on every hls.js request via `xhrSetup`, as the seed's player sets
    `x-gostreamer-token`. `config` goes into hls.js's own (``{"lowLatencyMode": False}``
    plays as a classic player). Blocking; from async code use `play_hls_async` so the event loop
    keeps serving.
    """
    args = (url, dict(headers or {}), seconds, timeout, seek_to, switch_level_at, config)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _play(*args)
    # Playwright's sync API refuses to run on a thread with a running event loop.
    box: list[PlaybackResult | BaseException] = []

    def run() -> None:
        try:
            box.append(_play(*args))
        except BaseException as exc:
            box.append(exc)

    worker = threading.Thread(target=run, name="play_hls", daemon=True)
    worker.start()
    worker.join()
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


async def play_hls_async(url: str, *, headers: dict[str, str] | None = None,
                         seconds: float = 4.0, timeout: float = 30.0,
                         seek_to: float | None = None) -> PlaybackResult:
    """`play_hls` in a worker thread, for tests that run on an event loop."""
    return await asyncio.to_thread(_play, url, dict(headers or {}), seconds, timeout, seek_to)


def describe(result: PlaybackResult) -> str:
    """A compact, readable dump for assertion messages."""
    return json.dumps({k: v for k, v in result.__dict__.items() if k != "requests"}
                      | {"requests": result.requests[-10:]}, indent=1)
