"""The ``hlsd`` command.

Help is plain text (`cli_help`): docstrings and help strings are prose, no markup. The
client commands take the server and keys from the environment as well (``HLSD_SERVER_URL``,
``HLSD_ADMIN_KEY``, ``HLSD_PUBLISH_KEY``, ``PUSH_SECRET``), so they need not be typed on
every call. Config and folder problems are one line each and exit code 2.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from hlsd import __version__, engines
from hlsd.cli_help import PlainCommand
from hlsd.config import CONFIG_ENV, ServerEngine, Settings, load_settings
from hlsd.infra.folders import FolderError, prepare_folders
from hlsd.infra.logs import setup_server_logging

cli = typer.Typer(help="hlsd: one server for HTTP Live Streaming.", no_args_is_help=True,
                  add_completion=False, rich_markup_mode=None)
console = Console(stderr=True)

SERVER_ENV = "HLSD_SERVER_URL"
"""Not ``HLSD_SERVER``: the server's settings read that one as ``server`` (the engine)."""
ADMIN_KEY_ENV = "HLSD_ADMIN_KEY"
"""The server's own ``admin_key`` setting reads it too: one variable for both ends."""
PUBLISH_KEY_ENV = "HLSD_PUBLISH_KEY"
DEFAULT_SERVER = "http://127.0.0.1:8080"

ConfigFile = Annotated[Path | None, typer.Option(
    "--config", "-c", metavar="PATH", exists=True, dir_okay=False,
    help="The YAML config file (the seed's hls.yaml works as it is).")]
HostOption = Annotated[str | None, typer.Option(
    metavar="ADDRESS",
    help="The address to listen on: loopback by default; 0.0.0.0 exposes it.")]
PortOption = Annotated[int | None, typer.Option(
    metavar="PORT", help="The port to listen on (default 8080).")]


@cli.command(cls=PlainCommand)
def serve(
    config: ConfigFile = None,
    host: HostOption = None,
    port: PortOption = None,
    workers: Annotated[int | None, typer.Option(
        min=1, metavar="N", help="Server processes (default 1).")] = None,
    server: Annotated[ServerEngine | None, typer.Option(
        metavar="ENGINE",
        help="The ASGI server engine: granian (the default) or uvicorn.")] = None,
    tls_cert: Annotated[Path | None, typer.Option(
        metavar="PEM", help="Serve HTTPS (and HTTP/2 on granian) with this certificate "
                            "and its chain (tls.cert); needs --tls-key.")] = None,
    tls_key: Annotated[Path | None, typer.Option(
        metavar="PEM", help="The certificate's private key, unencrypted (tls.key).")] = None,
) -> None:
    """Run the server.

    Settings come from the flags, then HLSD_* environment variables (nested keys
    joined by a double underscore: HLSD_CACHE__SIZE=2GB), then the config file. A
    config error, a folder that cannot be made or written in, or a TLS certificate or
    key that cannot be used prints one line and exits with 2; a port in use exits
    with 1."""
    flags: dict[str, object] = {"host": host, "port": port, "workers": workers,
                                "server": server}
    tls = {name: value for name, value in (("cert", tls_cert), ("key", tls_key)) if value}
    if tls:
        flags["tls"] = tls
    _run_server(config, flags)


@cli.command(cls=PlainCommand)
def edge(
    control: Annotated[str | None, typer.Option(
        metavar="URL", help="The control's edge endpoint, ws(s)://CONTROL/v1/edge "
                            "(edge.control).")] = None,
    key: Annotated[str | None, typer.Option(
        metavar="KEY", help="The edge key the control knows (edge.key; better given as "
                            "HLSD_EDGE__KEY than on the command line).")] = None,
    name: Annotated[str | None, typer.Option(
        metavar="NAME", help="This edge's name on the control (edge.name; default: the "
                             "host name).")] = None,
    config: ConfigFile = None,
    host: HostOption = None,
    port: PortOption = None,
) -> None:
    """Run an edge node: take live video here, send it to a control.

    The edge serves LiveMix's POST /v1/playlist (any stream name: sources are defined
    on the control) and hlsd's other ingest paths, keeps recent segments in a bounded
    cache on disk (edge.cache_bytes, edge.cache_seconds), and holds one outbound
    websocket to the control, dialled again with backoff whenever it drops: the
    control never connects to the edge. /api/health shows the link's state. Exit
    codes as for serve."""
    wanted = {k: v for k, v in (("control", control), ("key", key), ("name", name)) if v}
    flags: dict[str, object] = {"host": host, "port": port, "workers": 1}
    if wanted:
        flags["edge"] = wanted
    _run_server(config, flags, edge=True)


def _run_server(config: Path | None, flags: dict[str, object], *, edge: bool = False) -> None:
    """`serve` and `edge`: settings checked, folders made, then the engine."""
    settings = _settings(config, **flags)
    if edge and not settings.edge.enabled:
        console.print("[red]config error[/red] an edge needs --control URL (edge.control) "
                      "and --key KEY (edge.key, HLSD_EDGE__KEY)", soft_wrap=True)
        raise typer.Exit(2)
    if not edge and settings.edge.enabled:
        console.print("[red]config error[/red] edge.control is set: run it as hlsd edge",
                      soft_wrap=True)
        raise typer.Exit(2)
    if settings.workers > 1 and settings.livemix.edge_keys:
        console.print("[red]config error[/red] livemix.edge_keys is set: edges link to one "
                      "process, so a control runs with workers: 1 (every other live ingest "
                      "runs on any number)", soft_wrap=True)
        raise typer.Exit(2)
    _folders(settings.working_folders())
    _tls_files(settings)
    log_config = setup_server_logging(settings.log_level, settings.log_format)
    _hand_to_server_processes(config, flags)
    log = logging.getLogger("hlsd")
    if settings.handshake is None:
        log.warning("no handshake configured: the token API answers loopback clients only")
    log.info("hlsd %s on %s://%s:%d (%s, %s, %d worker(s))", __version__,
             "https" if settings.tls.enabled else "http", settings.host, settings.port,
             settings.server.value, _protocols(settings), settings.workers)
    if edge:
        log.info("edge %r of %s", settings.edge.name or "(host name)", settings.edge.control)
    else:
        log.info("the console: %s://%s:%d/", "https" if settings.tls.enabled else "http",
                 f"[{settings.host}]" if ":" in settings.host else settings.host,
                 settings.port)
    try:
        with _node_folder(settings):
            engines.serve(settings, log_config)
    except engines.PortInUse as exc:
        console.print(f"[red]hlsd cannot start:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None


@contextlib.contextmanager
def _node_folder(settings: Settings) -> Iterator[None]:
    """With several workers: the node's run folder they share (private, in the system's
    temp dir: unix socket paths are short), and what each would otherwise clean at its
    start, cleaned once before any starts (a worker the engine starts again must not
    clean what the others use)."""
    if settings.workers == 1:
        yield
        return
    from hlsd.features.common import clean_temp
    from hlsd.node import NODE_DIR_ENV

    clean_temp(settings.temp_dir)
    shutil.rmtree(settings.data_dir / "spill", ignore_errors=True)
    folder = tempfile.mkdtemp(prefix="hlsd-node-")
    os.environ[NODE_DIR_ENV] = folder
    try:
        yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _protocols(settings: Settings) -> str:
    tls = settings.tls
    if tls.enabled and tls.http2 and settings.server is ServerEngine.GRANIAN:
        return "HTTP/2 and HTTP/1.1"
    return "HTTP/1.1"


@cli.command(cls=PlainCommand)
def publish(
    source: Annotated[str, typer.Argument(help="A media file or URL ffmpeg can read.")],
    stream: Annotated[str, typer.Option("--stream", "-s", help="The stream id.")],
    to: Annotated[str, typer.Option(
        metavar="URL", help="ws://HOST:PORT/ws (websocket push) or http://HOST:PORT "
                            "(HTTP push to /ingest).")],
    loop: Annotated[bool, typer.Option(help="Loop the input forever.")] = False,
    secret: Annotated[str | None, typer.Option(
        envvar="PUSH_SECRET", show_envvar=True,
        help="Websocket: the server's push secret (websocket.push_secret), which signs "
             "the JWT.")] = None,
    key: Annotated[str | None, typer.Option(
        envvar=PUBLISH_KEY_ENV, show_envvar=True,
        help="HTTP: a publish key of the server (live.publish_keys).")] = None,
    segment: Annotated[float, typer.Option(
        min=0.5, metavar="SECONDS", help="The length of a fragment.")] = 2.0,
    copy: Annotated[bool, typer.Option(
        help="Copy the codecs (an H.264/AAC input) instead of encoding.")] = False,
) -> None:
    """Publish SOURCE as a live stream.

    ffmpeg reads SOURCE in real time and cuts it into fragments, which are pushed over
    the websocket (queued while reconnecting), or ffmpeg pushes HLS to /ingest with
    HTTP PUT. A refused secret or key stops it at once, with the server's reason.

    Exit codes: 0 the input ended, 1 ffmpeg failed or the stream is taken, 2 a usage
    error (or, over HTTP, no answer from the server at the start), 3 the server
    refused the key or secret."""
    from hlsd.client.cli_publish import publish_http, publish_websocket

    _setup_logging("warning")
    if to.startswith(("ws://", "wss://")):
        code = publish_websocket(console, source, stream, to, secret=secret, loop=loop,
                                 segment_seconds=segment, copy=copy)
    elif to.startswith(("http://", "https://")):
        code = publish_http(console, source, stream, to.rstrip("/"), key=key, loop=loop,
                            segment_seconds=segment, copy=copy)
    else:
        console.print("[red]--to must be ws://, wss://, http:// or https://[/red]")
        code = 2
    raise typer.Exit(code)


@cli.command(cls=PlainCommand)
def check(
    url: Annotated[str, typer.Argument(
        metavar="URL", help="A master or media playlist, http:// or https://.")],
    reloads: Annotated[int, typer.Option(
        min=0, max=100, metavar="N",
        help="Reloads of each live media playlist, each checked against the load "
             "before.")] = 3,
    segments: Annotated[bool, typer.Option(
        "--segments", help="Also fetch the first and last two segments of each media playlist and "
             "measure them against EXTINF and the target duration.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
) -> None:
    """Check an HLS stream against RFC 8216.

    A master playlist is checked, then each variant, I-frame and rendition playlist it
    names. A live media playlist (no EXT-X-ENDLIST) is reloaded as players reload it (a
    target duration apart, half of one when it had not changed), and each load is
    checked against the one before; a Low-Latency one that offers blocking reloads is
    reloaded blocking, part by part, its parts, preload hints and delta updates checked
    too. Prints one line per finding, URL:LINE: error or warning: what, with the RFC
    8216 (or rfc8216bis) section, then a summary.

    Exit codes: 0 no errors (warnings allowed), 1 errors, 2 a usage error or a URL
    that cannot be fetched."""
    from hlsd.client.cli_check import check_stream

    raise typer.Exit(check_stream(console, url, reloads=reloads, segments=segments,
                                  as_json=as_json))


assets = typer.Typer(help="Make ABR VOD assets of files, and manage them.",
                     no_args_is_help=True, rich_markup_mode=None)
cli.add_typer(assets, name="assets")

ServerUrl = Annotated[str, typer.Option(
    metavar="URL", envvar=SERVER_ENV, show_envvar=True, help="The hlsd to talk to.")]
AdminKey = Annotated[str | None, typer.Option(
    envvar=ADMIN_KEY_ENV, show_envvar=True,
    help="The server's admin key (not needed on loopback when it has none).")]
AssetId = Annotated[str, typer.Argument(metavar="ID", help="The asset id.")]
Wait = Annotated[bool, typer.Option(
    help="Follow the transcode until ready (exit 0) or failed or cancelled (exit 1), "
         "then print the playback URLs or the reason.")]


@assets.command("add", cls=PlainCommand)
def assets_add(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         metavar="FILE", help="The video or audio file.")],
    server: ServerUrl = DEFAULT_SERVER,
    key: AdminKey = None,
    title: Annotated[str | None, typer.Option(help="Default: the file's name.")] = None,
    token_gated: Annotated[bool | None, typer.Option(
        "--token-gated/--public",
        help="Play with a token only, or freely. Default: the server's assets.access.")]
    = None,
    wait: Wait = False,
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


@assets.command("list", cls=PlainCommand)
def assets_list(
    server: ServerUrl = DEFAULT_SERVER,
    key: AdminKey = None,
    state: Annotated[str | None, typer.Option(help="Only assets in this state.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The API's JSON as is.")] = False,
) -> None:
    """List assets, newest first: id, state, progress, title."""
    from hlsd.client.cli_assets import list_assets

    raise typer.Exit(list_assets(console, server=_server_url(server), key=key, state=state,
                                 as_json=as_json))


@assets.command("show", cls=PlainCommand)
def assets_show(asset_id: AssetId, server: ServerUrl = DEFAULT_SERVER,
                key: AdminKey = None) -> None:
    """Print one asset as JSON: state, progress, reason, playback paths."""
    from hlsd.client.cli_assets import show_asset

    raise typer.Exit(show_asset(console, asset_id, server=_server_url(server), key=key))


@assets.command("cancel", cls=PlainCommand)
def assets_cancel(asset_id: AssetId, server: ServerUrl = DEFAULT_SERVER,
                  key: AdminKey = None) -> None:
    """Stop an asset's upload, import or transcode.

    Prints the asset's id and state. An asset that is ready, failed or cancelled
    already is refused (exit 2)."""
    from hlsd.client.cli_assets import cancel_asset

    raise typer.Exit(cancel_asset(console, asset_id, server=_server_url(server), key=key))


@assets.command("retry", cls=PlainCommand)
def assets_retry(asset_id: AssetId, server: ServerUrl = DEFAULT_SERVER,
                 key: AdminKey = None, wait: Wait = False) -> None:
    """Run a failed asset again.

    An upload is transcoded again from the file the server kept (if it has not kept
    it, upload the file again as a new asset); a URL import fetches the URL again; a
    library asset reads its library file again. Prints the asset's id and state, or
    with --wait follows it as add --wait does."""
    from hlsd.client.cli_assets import retry_asset

    raise typer.Exit(retry_asset(console, asset_id, server=_server_url(server), key=key,
                                 wait=wait))


@assets.command("delete", cls=PlainCommand)
def assets_delete(asset_id: AssetId, server: ServerUrl = DEFAULT_SERVER,
                  key: AdminKey = None) -> None:
    """Delete an asset, at any stage.

    Its run is stopped, and its outputs, its uploaded or imported source (never a
    library file) and its record are removed."""
    from hlsd.client.cli_assets import delete_asset

    raise typer.Exit(delete_asset(console, asset_id, server=_server_url(server), key=key))


@assets.command("token", cls=PlainCommand)
def assets_token(
    asset_id: AssetId,
    server: ServerUrl = DEFAULT_SERVER,
    key: AdminKey = None,
    ttl: Annotated[str | None, typer.Option(
        metavar="DURATION",
        help="How long the token lasts: 90s, 30m, 2h or seconds; at most 7 days "
             "(default 1h).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The API's JSON as is.")] = False,
) -> None:
    """Print a playback token for a token-gated asset.

    The token alone goes to stdout; its expiry and a playback URL carrying it go to
    stderr. Players give it as ?token= (then every URI of the playlists carries it),
    or in the header Authorization: Bearer."""
    from hlsd.client.cli_assets import asset_token

    raise typer.Exit(asset_token(console, asset_id, server=_server_url(server), key=key,
                                 ttl=ttl, as_json=as_json))


def _server_url(server: str) -> str:
    if not server.startswith(("http://", "https://")):
        console.print(f"[red]--server ({SERVER_ENV}) must be an http:// or https:// "
                      "URL[/red]")
        raise typer.Exit(2)
    return server.rstrip("/")


@cli.command(cls=PlainCommand)
def worker(
    config: ConfigFile = None,
    concurrency: Annotated[int | None, typer.Option(
        min=1, metavar="N", help="Assets transcoded at once (default: assets.workers).")
    ] = None,
) -> None:
    """Transcode assets taken from the Redis job queue.

    For a server with assets.queue: redis. Run as many workers as you like, on any
    machine that reaches the database, Redis and the object store."""
    settings = _settings(config)
    _folders((("data_dir", settings.data_dir),))
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
            console.print(f"[red]config error[/red] {escape(where)}: {escape(err['msg'])}",
                          soft_wrap=True)
        raise typer.Exit(2) from None
    except (OSError, ValueError) as exc:
        console.print(f"[red]config error[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None


def _hand_to_server_processes(config: Path | None, flags: dict[str, object]) -> None:
    """Each server process builds its app from the environment (`app_from_environment`),
    not from this process's settings: the config file and the flags given here go to it
    as ``HLSD_CONFIG`` and ``HLSD_<FLAG>`` (``HLSD_TLS__CERT`` for a nested key), which
    rank above the file as the flags do, so the app announces the port it really
    listens on."""
    if config is not None:
        os.environ[CONFIG_ENV] = str(config.resolve())
    for name, value in flags.items():
        if isinstance(value, dict):
            for key, nested in value.items():
                os.environ[f"HLSD_{name.upper()}__{key.upper()}"] = str(nested)
        elif value is not None:
            os.environ[f"HLSD_{name.upper()}"] = str(value)


def _folders(folders: tuple[tuple[str, Path], ...]) -> None:
    """Make and check the folders the process writes in, before anything starts (a
    server's worker processes would only fail with a traceback): one line and exit
    code 2 for a folder that cannot be used."""
    try:
        prepare_folders(folders)
    except FolderError as exc:
        console.print(f"[red]hlsd cannot start:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None


def _tls_files(settings: Settings) -> None:
    """The certificate and key, checked before any engine starts (each would fail in
    its worker processes only): one line and exit code 2 for a file it cannot use."""
    try:
        engines.check_tls_files(settings.tls)
    except engines.TlsFilesError as exc:
        console.print(f"[red]hlsd cannot start:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None


@cli.command(cls=PlainCommand)
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
