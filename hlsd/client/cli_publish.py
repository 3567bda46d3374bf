"""What ``hlsd publish`` runs, with a live progress line.

Exit codes: 0 the input ended, 1 ffmpeg failed or the node refused the stream (another
publisher has it), 2 a usage problem (a stream id the server refuses; over HTTP, a
server that cannot be reached at the start), 3 the server refused the publish key (HTTP)
or the push secret (websocket). A refusal ends the command at once, with the server's
reason, whether it comes at the start or later.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from types import FrameType

import httpx
from rich.console import Console
from rich.live import Live
from rich.markup import escape

from hlsd.client.http_push import (
    PushRefused,
    PushUnreachable,
    check_publish,
    http_push_command,
)
from hlsd.client.publisher import AUTH_ERROR, PublishRefused, WebsocketPublisher
from hlsd.client.segmenter import fragments

EXIT_DONE, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3
_RECHECK_SECONDS = 5.0
"""While ffmpeg pushes over HTTP (it ignores the answers to its uploads), how often the
key is asked about again: a key withdrawn meanwhile stops the command."""


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _stop_on_terminate() -> None:
    """SIGTERM (a service manager, a test harness) ends the publisher as Ctrl-C does:
    through its clean-up, which stops the ffmpeg it runs. Killed outright, ffmpeg would
    go on alone, looping its input forever."""
    signal.signal(signal.SIGTERM, _interrupt)


def _end_line(console: Console) -> None:
    """Rich ends a live line with a newline on a terminal only: a log gets one too."""
    if not console.is_terminal:
        console.line()


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

        def show() -> None:
            stats = publisher.stats
            state = ("refused" if publisher.error else
                     "connected" if stats.connected else "connecting")
            live.update(f"{escape(stream)} → {escape(url)}  {state}  sent {stats.sent}"
                        f"  {stats.bytes / 1e6:.1f} MB  dropped {stats.dropped}"
                        f"  reconnects {stats.reconnects}"
                        f"  {time.monotonic() - started:.0f}s")

        async def feed() -> None:
            async with contextlib.aclosing(fragments(
                    source, loop=loop, copy=copy, segment_seconds=segment_seconds)) as cut:
                async for duration, data in cut:
                    publisher.send(duration, data)
                    show()

        async with publisher:
            feeding = asyncio.create_task(feed())
            refused = asyncio.create_task(publisher.refused.wait())
            # A refusal ends it at once, not at ffmpeg's next fragment.
            await asyncio.wait({feeding, refused}, return_when=asyncio.FIRST_COMPLETED)
            refused.cancel()
            if not feeding.done():
                feeding.cancel()
            failed: RuntimeError | None = None
            try:
                await feeding
            except asyncio.CancelledError:
                pass
            except RuntimeError as exc:  # ffmpeg failed
                failed = exc
            show()
    _end_line(console)
    if failed is not None:
        console.print(f"[red]{escape(str(failed))}[/red]", soft_wrap=True)
        return EXIT_FAILED
    if publisher.error is not None:
        return _refused_push(console, publisher.error, secret)
    console.print(f"done: {publisher.stats.sent} fragments sent")
    return EXIT_DONE


def _refused_push(console: Console, error: PublishRefused, secret: str | None) -> int:
    if error.code != AUTH_ERROR:
        console.print(f"[red]the server refused the stream ({escape(str(error))})[/red]",
                      soft_wrap=True)
        return EXIT_FAILED
    if secret:
        console.print(f"[red]the server refused the push secret ({escape(str(error))}): "
                      "check --secret (or PUSH_SECRET) against its websocket.push_secret"
                      "[/red]", soft_wrap=True)
    else:
        console.print(f"[red]the server refused a push without a secret "
                      f"({escape(str(error))}): give its websocket.push_secret with "
                      "--secret or PUSH_SECRET[/red]", soft_wrap=True)
    return EXIT_REFUSED


def publish_http(console: Console, source: str, stream: str, base_url: str, *,
                 key: str | None, loop: bool, segment_seconds: float, copy: bool) -> int:
    _stop_on_terminate()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    # A new connection for every check: one kept alive would keep asking the node it
    # first reached, when the address may lead elsewhere by now.
    with httpx.Client(base_url=base_url, headers=headers, timeout=10.0,
                      limits=httpx.Limits(max_keepalive_connections=0)) as http:
        try:
            check_publish(http, stream, key=key)
        except PushRefused as exc:
            console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
            return EXIT_REFUSED if exc.key_problem else EXIT_USAGE
        except PushUnreachable as exc:
            console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
            return EXIT_USAGE
        return _run_ffmpeg(console, http, source, stream, base_url, key=key, loop=loop,
                           segment_seconds=segment_seconds, copy=copy)


def _run_ffmpeg(console: Console, http: httpx.Client, source: str, stream: str,
                base_url: str, *, key: str | None, loop: bool, segment_seconds: float,
                copy: bool) -> int:
    command = http_push_command(source, base_url, stream, key=key, loop=loop,
                                segment_seconds=segment_seconds, copy=copy)
    started = time.monotonic()
    refused: PushRefused | None = None
    note = ""
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    # Whatever ends this (Ctrl-C or SIGTERM at any point), ffmpeg goes with it: Popen's
    # own exit only waits a moment on an interrupt, and would leave it running alone.
    try:
        with Live(console=console, refresh_per_second=2) as live:
            next_check = started + _RECHECK_SECONDS
            while proc.poll() is None:
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + _RECHECK_SECONDS
                    try:
                        check_publish(http, stream, key=key)
                        note = ""
                    except PushRefused as exc:
                        refused = exc
                        break
                    except PushUnreachable:
                        note = "  (the server does not answer)"
                live.update(f"{escape(stream)} → {escape(base_url)}/ingest/"
                            f"{escape(stream)}/  pushing "
                            f"{time.monotonic() - started:.0f}s{note}")
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
        _end_line(console)
    if refused is not None:
        console.print(f"[red]{escape(str(refused))}[/red]", soft_wrap=True)
        return EXIT_REFUSED if refused.key_problem else EXIT_USAGE
    if proc.returncode:
        console.print(f"[red]ffmpeg exited with {proc.returncode}[/red]")
        return EXIT_FAILED
    return EXIT_DONE
