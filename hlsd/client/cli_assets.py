"""What ``hlsd assets`` runs: add a file (make the asset, upload it with tus, optionally
follow the job to its end), list assets, show one, cancel, retry (optionally following
it) and delete one, and mint a playback token for one.

Exit codes: 0 done (with ``--wait``: ready), 1 the asset failed or was cancelled,
2 a usage or connection problem (unreachable server, refused key, refused request),
130 interrupted. Progress and messages go to the console (stderr); what a script wants,
the asset id, playback URLs, tokens and JSON, goes to stdout.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from hlsd.client.tus import Retry, TusClient, TusError
from hlsd.infra.retry import Failures

EXIT_READY, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
_POLL_SECONDS = 0.5
_FINISHED = frozenset({"ready", "failed", "cancelled"})
# Uploads and transcodes take long; only a server that stops answering altogether
# should end the command, so reads get a generous timeout.
_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class _Refused(Exception):
    """The server could not be reached, or said no."""


class _Unavailable(_Refused):
    """No answer, or a 5xx: worth asking again, unlike an answer that says no."""


def add_asset(console: Console, path: Path, *, server: str, key: str | None,
              title: str | None, access: str | None, wait: bool) -> int:
    with _client(server, key) as http:
        try:
            asset = _call(http, "POST", "/api/assets", payload={
                "title": title if title is not None else path.name,
                "size": path.stat().st_size, **({"access": access} if access else {})})
        except (_Refused, OSError) as exc:
            console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
            return EXIT_USAGE
        asset_id = str(asset["id"])
        upload_url = (asset.get("upload") or {}).get("url")
        if not isinstance(upload_url, str):
            console.print(f"[red]asset {asset_id} came without an upload URL[/red]")
            return EXIT_USAGE
        console.print(f"asset {asset_id}: uploading {escape(path.name)}")
        try:
            _upload(console, http, upload_url, path)
        except TusError as exc:
            console.print(f"[red]upload failed: {escape(exc.message)}[/red]\n"
                          f"asset {asset_id} stays 'created' with what arrived "
                          f"(DELETE /api/assets/{asset_id} to drop it)", soft_wrap=True)
            return EXIT_USAGE
        except KeyboardInterrupt:
            console.print(f"interrupted: asset {asset_id} keeps what arrived; its upload "
                          f"({upload_url}) can be resumed with any tus client")
            return EXIT_INTERRUPTED
        if not wait:
            console.print(f"uploaded; follow it with: hlsd assets show {asset_id}")
            print(asset_id, flush=True)
            return EXIT_READY
        return _wait(console, http, asset_id)


def list_assets(console: Console, *, server: str, key: str | None, state: str | None,
                as_json: bool) -> int:
    with _client(server, key) as http:
        body = _asked(console, http, "GET", "/api/assets",
                      params={"state": state} if state else None)
        if body is None:
            return EXIT_USAGE
    if as_json:
        print(json.dumps(body, indent=2), flush=True)
        return EXIT_READY
    for asset in body.get("assets", []):
        _print_line(asset)
    return EXIT_READY


def show_asset(console: Console, asset_id: str, *, server: str, key: str | None) -> int:
    with _client(server, key) as http:
        body = _asked(console, http, "GET", f"/api/assets/{_segment(asset_id)}")
        if body is None:
            return EXIT_USAGE
    print(json.dumps(body, indent=2), flush=True)
    return EXIT_READY


def cancel_asset(console: Console, asset_id: str, *, server: str, key: str | None) -> int:
    with _client(server, key) as http:
        asset = _asked(console, http, "POST", f"/api/assets/{_segment(asset_id)}/cancel")
        if asset is None:
            return EXIT_USAGE
    _print_line(asset)
    return EXIT_READY


def retry_asset(console: Console, asset_id: str, *, server: str, key: str | None,
                wait: bool) -> int:
    with _client(server, key) as http:
        asset = _asked(console, http, "POST", f"/api/assets/{_segment(asset_id)}/retry")
        if asset is None:
            return EXIT_USAGE
        if not wait:
            _print_line(asset)
            return EXIT_READY
        return _wait(console, http, asset_id)


def delete_asset(console: Console, asset_id: str, *, server: str, key: str | None) -> int:
    with _client(server, key) as http:
        if _asked(console, http, "DELETE", f"/api/assets/{_segment(asset_id)}") is None:
            return EXIT_USAGE
    console.print(f"deleted asset {escape(asset_id)}")
    return EXIT_READY


def asset_token(console: Console, asset_id: str, *, server: str, key: str | None,
                ttl: str | None, as_json: bool) -> int:
    """The token alone on stdout (``$(hlsd assets token ID)``); its expiry and the
    playback URLs carrying it on the console."""
    with _client(server, key) as http:
        body = _asked(console, http, "POST", f"/api/assets/{_segment(asset_id)}/token",
                      payload={"ttl": ttl} if ttl else None)
        if body is None:
            return EXIT_USAGE
        base = http.base_url
    if as_json:
        print(json.dumps(body, indent=2), flush=True)
        return EXIT_READY
    token = str(body["token"])
    print(token, flush=True)
    expires = body.get("expires")
    if isinstance(expires, int):
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(expires))
        console.print(f"expires {when}")
    console.print(f"play: {base.join(f'/vod/{_segment(asset_id)}/index.m3u8')}?token={token}",
                  soft_wrap=True, markup=False)
    return EXIT_READY


def _print_line(asset: dict[str, Any]) -> None:
    print(f"{asset['id']}  {asset['state']:<10} {asset['progress']:>5.1f}%  "
          f"{asset.get('title') or ''}", flush=True)


def _upload(console: Console, http: httpx.Client, url: str, path: Path) -> None:
    with Progress(TextColumn("[bold]upload"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("upload", total=path.stat().st_size)

        def retrying(error: str, delay: float) -> None:
            bar.console.print(f"[yellow]{escape(error)}; resuming in {delay:.1f} s[/yellow]",
                              soft_wrap=True)

        tus = TusClient(http, retry=Retry(), on_retry=retrying)
        tus.upload(url, path, progress=lambda done, total: bar.update(task, completed=done))


def _follow(console: Console, http: httpx.Client, asset_id: str) -> int:
    """Poll the asset until it is finished; a server that goes away for a while (a
    restart requeues the job) is waited for, as the upload's retries would."""
    retry = Retry()
    failures = Failures(retry.rule)
    with Progress(TextColumn("[bold]{task.description:<10}"), BarColumn(),
                  TaskProgressColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("uploaded", total=100)
        while True:
            try:
                asset = _call(http, "GET", f"/api/assets/{_segment(asset_id)}")
                failures.reset()
            except _Unavailable as exc:
                delay = failures.failed()
                if failures.count > retry.attempts:
                    bar.console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
                    return EXIT_USAGE
                time.sleep(delay)
                continue
            except _Refused as exc:  # deleted meanwhile, or the key was changed
                bar.console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
                return EXIT_FAILED
            state = str(asset["state"])
            bar.update(task, description=state,
                       completed=100 if state == "ready" else float(asset["progress"]))
            if state in _FINISHED:
                break
            time.sleep(_POLL_SECONDS)
    if state == "ready":
        _print_ready(console, http, asset)
        return EXIT_READY
    console.print(f"[red]{state}[/red]: {escape(str(asset.get('reason') or 'no reason given'))}",
                  soft_wrap=True)
    return EXIT_FAILED


def _print_ready(console: Console, http: httpx.Client, asset: dict[str, Any]) -> None:
    duration = asset.get("duration")
    console.print(f"[green]ready[/green]: {asset['id']}  {', '.join(asset.get('rungs', []))}"
                  + (f"  {float(duration):.1f} s" if duration is not None else ""))
    for name, where in (asset.get("playback") or {}).items():
        print(f"{name:<10} {http.base_url.join(where)}", flush=True)
    if asset.get("access") == "token":
        console.print(f"token-gated: play with a token from "
                      f"POST /api/assets/{asset['id']}/token", soft_wrap=True)


def _client(server: str, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server, headers=headers, timeout=_TIMEOUT)


def _call(http: httpx.Client, method: str, path: str, *, payload: Any = None,
          params: dict[str, str] | None = None) -> dict[str, Any]:
    try:
        response = http.request(method, path, json=payload, params=params)
    except httpx.TransportError as exc:
        raise _Unavailable(f"cannot reach {http.base_url}: {exc or type(exc).__name__}"
                           ) from exc
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success and isinstance(body, dict):
        return body
    if response.status_code == 204:
        return {}
    reason = body.get("error") if isinstance(body, dict) else None
    message = f"{method} {path}: HTTP {response.status_code}" + (f": {reason}" if reason
                                                                 else "")
    if response.status_code in (401, 403):
        message += " (give it with --key or HLSD_ADMIN_KEY)"
    raise (_Unavailable if response.status_code >= 500 else _Refused)(message)


def _wait(console: Console, http: httpx.Client, asset_id: str) -> int:
    """`_follow` the asset to its end; an interrupt stops the waiting, not the job."""
    try:
        return _follow(console, http, asset_id)
    except KeyboardInterrupt:
        console.print(f"stopped waiting; the job goes on: hlsd assets show {asset_id}")
        return EXIT_INTERRUPTED


def _asked(console: Console, http: httpx.Client, method: str, path: str, *,
           payload: Any = None, params: dict[str, str] | None = None,
           ) -> dict[str, Any] | None:
    """`_call`, with a refusal said on the console (then None)."""
    try:
        return _call(http, method, path, payload=payload, params=params)
    except _Refused as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
        return None


def _segment(asset_id: str) -> str:
    """An id as one path segment, whatever a user typed."""
    return quote(asset_id, safe="")
