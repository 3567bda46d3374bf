"""What ``hlsd publish`` runs, with a live progress line."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from types import FrameType

from rich.console import Console
from rich.live import Live

from hlsd.client.http_push import http_push_command
from hlsd.client.publisher import WebsocketPublisher
from hlsd.client.segmenter import fragments


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _stop_on_terminate() -> None:
    """SIGTERM (a service manager, a test harness) ends the publisher as Ctrl-C does:
    through its clean-up, which stops the ffmpeg it runs. Killed outright, ffmpeg would
    go on alone, looping its input forever."""
    signal.signal(signal.SIGTERM, _interrupt)


def publish_websocket(console: Console, source: str, stream: str, url: str, *,
                      secret: str | None, loop: bool, segment_seconds: float,
                      copy: bool) -> int:
    _stop_on_terminate()
    return asyncio.run(_publish_websocket(console, source, stream, url, secret=secret,
                                          loop=loop, segment_seconds=segment_seconds,
                                          copy=copy))


async def _publish_websocket(console: Console, source: str, stream: str, url: str, *,
                             secret: str | None, loop: bool, segment_seconds: float,
                             copy: bool) -> int:
    started = time.monotonic()
    publisher = WebsocketPublisher(url, stream, secret=secret)
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        async with publisher:
            try:
                async for duration, data in fragments(source, loop=loop, copy=copy,
                                                      segment_seconds=segment_seconds):
                    publisher.send(duration, data)
                    stats = publisher.stats
                    live.update(
                        f"{stream} → {url}  {'connected' if stats.connected else 'reconnecting'}"
                        f"  sent {stats.sent}  {stats.bytes / 1e6:.1f} MB"
                        f"  dropped {stats.dropped}  reconnects {stats.reconnects}"
                        f"  {time.monotonic() - started:.0f}s")
                    if publisher.error is not None:
                        break
            except RuntimeError as exc:
                console.print(f"[red]{exc}[/red]")
                return 1
    if publisher.error is not None:
        console.print(f"[red]refused: {publisher.error}[/red]")
        return 1
    console.print(f"done: {publisher.stats.sent} fragments sent")
    return 0


def publish_http(console: Console, source: str, stream: str, base_url: str, *,
                 key: str | None, loop: bool, segment_seconds: float, copy: bool) -> int:
    _stop_on_terminate()
    command = http_push_command(source, base_url, stream, key=key, loop=loop,
                                segment_seconds=segment_seconds, copy=copy)
    started = time.monotonic()
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    # Whatever ends this (Ctrl-C or SIGTERM at any point), ffmpeg goes with it: Popen's
    # own exit only waits a moment on an interrupt, and would leave it running alone.
    try:
        with Live(console=console, refresh_per_second=2) as live:
            while proc.poll() is None:
                live.update(f"{stream} → {base_url}/ingest/{stream}/  pushing "
                            f"{time.monotonic() - started:.0f}s")
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if proc.returncode:
        console.print(f"[red]ffmpeg exited with {proc.returncode}[/red]")
        return 1
    return 0
