"""The ``hlsd`` command."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler

from hlsd import __version__, engines
from hlsd.config import CONFIG_ENV, ServerEngine, Settings, load_settings
from hlsd.infra.logs import setup_server_logging

cli = typer.Typer(help="hlsd: one server for HTTP Live Streaming.", no_args_is_help=True,
                  add_completion=False)
console = Console(stderr=True)


@cli.command()
def serve(
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", exists=True, dir_okay=False,
        help="YAML config file (the seed's hls.yaml works as is).")] = None,
    host: Annotated[str | None, typer.Option(
        help="Address to bind. Loopback by default; use 0.0.0.0 to expose.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default 8080).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Server processes.")] = None,
    server: Annotated[ServerEngine | None, typer.Option(help="ASGI server engine.")] = None,
) -> None:
    """Run the server. Environment variables HLSD_* override the config file."""
    settings = _settings(config, host=host, port=port, workers=workers, server=server)
    log_config = setup_server_logging(settings.log_level, settings.log_format)
    if config is not None:
        os.environ[CONFIG_ENV] = str(config.resolve())
    log = logging.getLogger("hlsd")
    if settings.handshake is None:
        log.warning("no handshake configured: the token API answers loopback clients only")
    log.info("hlsd %s on http://%s:%d (%s, %d worker(s))", __version__, settings.host,
             settings.port, settings.server.value, settings.workers)
    try:
        engines.serve(settings, log_config)
    except engines.PortInUse as exc:
        console.print(f"[red]hlsd cannot start:[/red] {exc}")
        raise typer.Exit(1) from None


@cli.command()
def publish(
    source: Annotated[str, typer.Argument(help="A media file or URL ffmpeg can read.")],
    stream: Annotated[str, typer.Option("--stream", "-s", help="The stream id.")],
    to: Annotated[str, typer.Option(
        help="ws://host:port/ws (websocket CDN) or http://host:port (HTTP push ingest).")],
    loop: Annotated[bool, typer.Option(help="Loop the input forever.")] = False,
    secret: Annotated[str | None, typer.Option(
        envvar="PUSH_SECRET", help="Websocket PUSH secret (signs the JWT).")] = None,
    key: Annotated[str | None, typer.Option(help="HTTP publish key (live.publish_keys).")]
    = None,
    segment: Annotated[float, typer.Option(min=0.5, help="Fragment seconds.")] = 2.0,
    copy: Annotated[bool, typer.Option(help="Copy the codecs (H.264/AAC input) instead "
                                            "of encoding.")] = False,
) -> None:
    """Publish SOURCE live: ffmpeg segments it in real time and the fragments are pushed
    over the websocket (queued while reconnecting), or ffmpeg PUTs HLS to /ingest."""
    from hlsd.client.cli_publish import publish_http, publish_websocket

    _setup_logging("warning")
    if to.startswith(("ws://", "wss://")):
        code = publish_websocket(console, source, stream, to, secret=secret, loop=loop,
                                 segment_seconds=segment, copy=copy)
    elif to.startswith(("http://", "https://")):
        code = publish_http(console, source, stream, to, key=key, loop=loop,
                            segment_seconds=segment, copy=copy)
    else:
        console.print("[red]--to must be ws://, wss://, http:// or https://[/red]")
        code = 2
    raise typer.Exit(code)


assets = typer.Typer(help="Upload files as ABR VOD assets, and look at them.",
                     no_args_is_help=True)
cli.add_typer(assets, name="assets")

ServerUrl = Annotated[str, typer.Option(help="The hlsd to talk to.")]
AdminKey = Annotated[str | None, typer.Option(
    envvar="HLSD_ADMIN_KEY", show_envvar=True,
    help="The server's admin key (not needed on loopback when it has none).")]


@assets.command("add")
def assets_add(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         metavar="FILE", help="The video or audio file.")],
    server: ServerUrl = "http://127.0.0.1:8080",
    key: AdminKey = None,
    title: Annotated[str | None, typer.Option(help="Default: the file's name.")] = None,
    token_gated: Annotated[bool | None, typer.Option(
        "--token-gated/--public",
        help="Play with a token only, or freely. Default: the server's assets.access.")]
    = None,
    wait: Annotated[bool, typer.Option(
        help="Follow the transcode until ready (exit 0) or failed/cancelled (exit 1), "
             "then print the playback URLs or the reason.")] = False,
) -> None:
    """Upload FILE and make an ABR VOD asset of it.

    The upload is tus, resumable: a lost connection resumes where the server is.

    Prints the asset id; with --wait, the playback URLs or the failure reason.

    Exit codes: 0 uploaded (ready with --wait), 1 failed or cancelled, 2 usage or
    connection errors (unreachable server, wrong key, refused upload)."""
    from hlsd.client.cli_assets import add_asset

    access = None if token_gated is None else "token" if token_gated else "public"
    raise typer.Exit(add_asset(console, file, server=_server_url(server), key=key,
                               title=title, access=access, wait=wait))


@assets.command("list")
def assets_list(
    server: ServerUrl = "http://127.0.0.1:8080",
    key: AdminKey = None,
    state: Annotated[str | None, typer.Option(help="Only assets in this state.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The API's JSON as is.")] = False,
) -> None:
    """List assets, newest first: id, state, progress, title."""
    from hlsd.client.cli_assets import list_assets

    raise typer.Exit(list_assets(console, server=_server_url(server), key=key, state=state,
                                 as_json=as_json))


@assets.command("show")
def assets_show(
    asset_id: Annotated[str, typer.Argument(metavar="ID", help="The asset id.")],
    server: ServerUrl = "http://127.0.0.1:8080",
    key: AdminKey = None,
) -> None:
    """Print one asset as JSON: state, progress, reason, playback paths."""
    from hlsd.client.cli_assets import show_asset

    raise typer.Exit(show_asset(console, asset_id, server=_server_url(server), key=key))


def _server_url(server: str) -> str:
    if not server.startswith(("http://", "https://")):
        console.print("[red]--server must be an http:// or https:// URL[/red]")
        raise typer.Exit(2)
    return server.rstrip("/")


@cli.command()
def worker(
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", exists=True, dir_okay=False, help="The servers' YAML config file.")
    ] = None,
    concurrency: Annotated[int | None, typer.Option(
        min=1, help="Assets transcoded at once (default: assets.workers).")] = None,
) -> None:
    """Transcode assets taken from the Redis job queue (``assets.queue: redis``); run as
    many as you like, on any machine that reaches the database, Redis and the store."""
    settings = _settings(config)
    setup_server_logging(settings.log_level, settings.log_format)
    from hlsd.assets.worker import run_worker

    raise typer.Exit(run_worker(settings, concurrency=concurrency or settings.assets.workers))


def _settings(config: Path | None, **flags: object) -> Settings:
    """The settings, or one line per config error and exit code 2."""
    try:
        return load_settings(config, **flags)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            console.print(f"[red]config error[/red] {where}: {err['msg']}")
        raise typer.Exit(2) from None
    except (OSError, ValueError) as exc:
        console.print(f"[red]config error[/red] {exc}")
        raise typer.Exit(2) from None


@cli.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _setup_logging(level: str) -> None:
    """Logging of the interactive client commands: rich, on the console."""
    logging.basicConfig(level=level.upper(), format="%(message)s", datefmt="[%X]",
                        handlers=[RichHandler(console=console, rich_tracebacks=True,
                                              show_path=False)])
    # One line per upstream request drowns the log; failures are logged by hlsd itself.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def main() -> None:
    cli()
