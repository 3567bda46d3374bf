"""One typed settings tree.

Sources, highest priority first: explicit overrides (the CLI's flags), environment
variables prefixed ``HLSD_`` (nested keys joined by ``__``, e.g.
``HLSD_CACHE__SIZE=2GB``), the YAML config file, then embedded defaults. The seed's
``hls.yaml`` is a valid config file as it stands.
"""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from hlsd._env_aliases import original_environment
from hlsd._units import parse_duration, parse_size
from hlsd.infra.client_address import parse_networks
from hlsd.infra.logs import LogFormat
from hlsd.infra.outbound import parse_allow
from hlsd.ingest.listeners import parse_listen
from hlsd.storage.settings import StorageSettings
from hlsd.streams.hub import PublishPolicy
from hlsd.streams.reader import SlowReaderPolicy


class Unit(enum.Enum):
    """What a number in the config is written as (read by `config_reference`)."""

    BYTES = "size"
    SECONDS = "duration"
    MINUTES = "duration (bare numbers are minutes)"


Bytes = Annotated[int, BeforeValidator(parse_size), Unit.BYTES]
"""A byte count: ``100MB``, ``1.5GiB`` or a plain number."""
Seconds = Annotated[float, BeforeValidator(lambda v: parse_duration(v, bare_unit=1.0)),
                    Unit.SECONDS]
"""A duration: ``90s``, ``1m30s`` or a bare number of seconds."""
ExpiryMinutes = Annotated[float, BeforeValidator(lambda v: parse_duration(v, bare_unit=60.0)),
                          Unit.MINUTES]
"""The seed's ``cache.expiry``: a Go duration, or a bare number of minutes. Held in seconds."""

def _networks(entries: tuple[str, ...]) -> tuple[str, ...]:
    parse_networks(entries, what="entry")  # a typo is a config error, not an open door
    return entries


Networks = Annotated[tuple[str, ...], AfterValidator(_networks)]
"""IP addresses and CIDR ranges (kept as written, each checked at load)."""

LogLevel = Annotated[Literal["critical", "error", "warning", "info", "debug"],
                     BeforeValidator(lambda v: v.lower() if isinstance(v, str) else v)]


CONFIG_ENV = "HLSD_CONFIG"
"""Where `hlsd serve` tells its worker processes which config file to load."""


class _Section(BaseModel):
    # Attribute docstrings are the field descriptions: docs/CONFIG.md is made of them.
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class KillSizeSettings(_Section):
    """``cache.killsize``: hard disk ceilings past which new work is refused (507)."""

    enabled: bool = True
    """Whether the ceilings below refuse new work (507) once reached."""
    tempdir: Bytes = parse_size("2GB")
    """Bytes of downloads in flight in ``cache.tempdir``."""
    static: Bytes = parse_size("10GB")
    """Bytes of produced on-demand segments in ``cache.static``."""


class CacheSettings(_Section):
    """``cache``: the seed's keys. Empty directories default to folders in ``data_dir``."""

    dir: Path | None = None
    """Fetched upstream sources (default ``data_dir/cache``)."""
    size: Bytes = parse_size("1GB")
    """Bytes of fetched sources kept (LRU past it; one source can't exceed it)."""
    limit: int = Field(default=100, ge=1)
    """Fetched sources kept (LRU past it)."""
    tempdir: Path | None = None
    """Downloads in flight (default ``data_dir/tmp``)."""
    static: Path | None = None
    """Produced on-demand segments (default ``data_dir/static``)."""
    expiry: ExpiryMinutes = 600.0
    """Life of an on-demand stream and its tokens, and of idle cache entries: a Go duration, or a
    bare number of minutes."""
    killsize: KillSizeSettings = KillSizeSettings()
    """Hard disk ceilings (below)."""


class UrlSettings(_Section):
    """``url``: upstream prefixes; the media for ``qid`` is at ``{prefix}/{qid}``."""

    audio: str | None = None
    """Upstream prefix: the media of ``qid`` is fetched from ``{audio}/{qid}``."""
    video: str | None = None
    """Upstream prefix for video sources; takes precedence over ``audio``."""
    media: str | None = None
    """Upstream prefix; takes precedence over ``video`` and ``audio``."""
    vtt: str | None = None
    """Upstream prefix of subtitles (``{vtt}/{qid}``; a 404 means none)."""

    @property
    def media_prefix(self) -> str | None:
        return self.media or self.video or self.audio


class UpstreamSettings(_Section):
    connect_timeout: Seconds = 5.0
    """Seconds to open a connection to the upstream."""
    read_timeout: Seconds = 20.0
    """Seconds a response may stall between two reads."""
    total_timeout: Seconds = 300.0
    """Seconds a whole download may take."""
    max_bytes: Bytes = parse_size("4GB")
    """The largest source fetched."""
    max_vtt_bytes: Bytes = parse_size("4MB")
    """The largest subtitles file fetched."""
    max_redirects: int = Field(default=3, ge=0)
    """Redirects followed per fetch (0: none)."""
    ranges: bool = True
    """Read sources by byte range where the upstream honours it, instead of whole."""
    range_block: Bytes = Field(default=parse_size("1MiB"), ge=4096)
    """Bytes read per range request."""


def _allow_entries(value: Any) -> Any:
    """Each ``fetch.allow`` entry must parse (a typo is a config error, not a hole)."""
    entries = [value] if isinstance(value, str) else value
    if isinstance(entries, list | tuple):
        for entry in entries:
            if not isinstance(entry, str):
                raise ValueError(f"{entry!r} is not a host name, an address or a CIDR range")
            parse_allow(entry)
    return entries


class FetchSettings(_Section):
    """``fetch``: what URLs given in requests (LiveMix ``MPEG-TS-URI-Prefix``, asset
    imports, channel URL sources) may reach. Loopback, private, link-local, multicast,
    reserved and this node's own addresses are refused unless allowed here. URLs from
    this config (``url.*``, ``cluster.relay_from``) are trusted and never checked."""

    allow: Annotated[tuple[str, ...], BeforeValidator(_allow_entries)] = ()
    """Host names (``media.lan``; ``*.lan`` for the names under lan) and addresses or
    CIDR ranges (``10.1.0.0/16``, ``fd00::/8``) that may be fetched from all the same."""


class PackagerSettings(_Section):
    segment_duration: float = Field(default=6.0, ge=1.0, le=30.0)
    """Seconds of an on-demand segment (cut at the keyframe after it)."""
    threads: int = Field(default=2, ge=1)
    """Threads that build segments (PyAV releases the GIL)."""
    read_ahead: int = Field(default=2, ge=0)
    """Segments transcoded ahead of the playhead (remuxed ones are cheap enough on demand)."""
    max_open_sources: int = Field(default=64, ge=1)
    """Packages (indexed sources with their playlists) kept in memory."""
    memory_cache: Bytes = parse_size("256MB")
    """Hot segments kept in memory (served without touching the disk)."""
    max_id_length: int = Field(default=256, ge=1, le=1024)
    """Bytes of a ``qid``."""


class PlaybackAccess(enum.StrEnum):
    PUBLIC = "public"
    TOKEN = "token"  # noqa: S105 (a mode name)
    """Signed tokens, as for ``/hls``, minted with ``POST /api/streams/{stream}/token``."""


class LiveSettings(_Section):
    """``live``: push ingest and live delivery."""

    access: PlaybackAccess = PlaybackAccess.PUBLIC
    """``/live`` playback: ``public``, or ``token`` (a signed token from ``POST
    /api/streams/{stream}/token``)."""

    window: int = Field(default=6, ge=3)
    """Segments in a live playlist (at least three target durations are always kept)."""
    idle_timeout: Seconds = 15.0
    """A publisher silent this long has ended its stream (ENDLIST)."""
    retention: Seconds = 60.0
    """An ended stream stays playable this long."""
    publish_policy: PublishPolicy = PublishPolicy.REJECT
    """A second publishing session on a live stream id: ``reject`` (409) while the first is active,
    or ``takeover``."""
    publish_keys: tuple[SecretStr, ...] = ()
    """Keys that may publish; none = loopback publishers only."""
    max_streams: int = Field(default=100, ge=1)
    """Live streams this node carries at once."""
    max_streams_per_key: int = Field(default=10, ge=1)
    """Stream ids one publish key may push at once (HTTP push and LiveMix), so that no
    key can take every one of ``max_streams``; keyless loopback publishing is not
    counted."""
    max_segment_bytes: Bytes = parse_size("64MB")
    """The largest pushed upload (413 past it)."""
    max_pending_bytes: Bytes = parse_size("256MB")
    """Uploads waiting for a playlist to name them (or for an earlier segment), per
    stream; an upload past it is refused (507)."""
    segment_wait_durations: float = Field(default=3.0, gt=0, le=60)
    """How long a segment a playlist names is awaited before the stream goes on without
    it (a discontinuity), in target durations."""
    max_awaited_segments: int = Field(default=10, ge=1)
    """Segments of a variant that may queue behind one still awaited; past it, that one
    is given up."""
    memory_per_variant: Bytes = parse_size("64MB")
    """Segment bytes a variant keeps in memory; older ones spill to ``data_dir/spill``."""
    segment_duration: float = Field(default=2.0, ge=0.5, le=30.0)
    """Seconds of a segment hlsd cuts itself (RTMP, SRT, continuous HTTP ingest): each
    ends at the first keyframe at or after it. Keep the encoder's keyframe interval at
    or below it (OBS: "Keyframe Interval" 1 or 2)."""
    part_duration: float = Field(default=0.2, ge=0.05, le=2.0)
    """Seconds of an LL-HLS part (PART-TARGET) of the segments hlsd cuts itself; players
    in low-latency mode stay about three parts behind the encoder."""


def _listen(value: Any) -> Any:
    """``null``, ``off`` or an empty string: no listener; else ``HOST:PORT``."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "off",
                                                                              "null", "none")):
        return None
    if isinstance(value, str):
        parse_listen(value.strip(), "")  # ValueError: not HOST:PORT
        return value.strip()
    return value


Listen = Annotated[str | None, BeforeValidator(_listen)]


class RtmpSettings(_Section):
    """``rtmp``: encoders publishing over RTMP (OBS, ffmpeg, vMix, hardware encoders):
    ``rtmp://HOST:PORT/<app>/<stream>``, the publish key as ``<stream>?key=K``."""

    listen: Listen = ":1935"
    """``HOST:PORT`` to listen on; ``:1935`` is the server's own host. The default
    listener runs only when its port is free (a warning otherwise); one set explicitly
    must bind, or the start fails. ``null`` turns RTMP off."""


class SrtSettings(_Section):
    """``srt``: encoders publishing MPEG-TS over SRT:
    ``srt://HOST:PORT?streamid=publish:<stream>:<key>``."""

    listen: Listen = ":8890"
    """``HOST:PORT`` (UDP) to listen on; ``:8890`` is the server's own host. As for
    ``rtmp.listen``: the default runs when it can, an explicit one must; ``null`` turns
    SRT off. Needs libsrt (Debian: ``libsrt1.5-openssl``)."""
    latency: Seconds = Field(default=0.12, ge=0.02, le=10.0)
    """The SRT receive latency offered to publishers (they may ask for more)."""


class LiveMixSettings(_Section):
    """``livemix``: the LiveMix API."""

    file_roots: tuple[Path, ...] = ()
    """Folders ``MPEG-TS-URI-Prefix: file://…`` may read segments from; none = no file://."""
    edge_keys: tuple[SecretStr, ...] = ()
    """Keys edges present (``Authorization: Bearer KEY``) at the edge link, ``/v1/edge``
    (``docs/EDGE.md``); each is compared in constant time. None: every edge is refused."""
    report_interval: Seconds = Field(default=5.0, ge=0.1, le=3600)
    """How often edges report their sources (``report_video_source_status``); a source
    whose edge has not reported for 3 intervals is shown ``"online": false``."""
    max_edges: int = Field(default=256, ge=1)
    """Edges connected to this node at once; one more is refused (403)."""
    max_edge_segment: Bytes = parse_size("32MB")
    """The largest segment (or init section) an edge may send in one binary frame; a
    larger frame closes the link (1009). The server takes no websocket message past
    ``websocket.max_binary_message`` whatever this says."""


class EdgeSettings(_Section):
    """``edge``: this node as an edge (``hlsd edge``): it dials out to a control node
    over one websocket (``docs/EDGE.md``) and keeps recent segments in a bounded cache
    in ``data_dir/edge`` for recordings that reach back."""

    control: str | None = None
    """The control's edge endpoint, ``ws://`` or ``wss://…/v1/edge``; none = not an edge."""
    key: SecretStr | None = None
    """The edge key the control knows (one of its ``livemix.edge_keys``)."""
    name: str | None = Field(default=None, min_length=1, max_length=64)
    """This edge's name on the control (LiveMix's ``rr_target``); default: the host name."""
    cache_bytes: Bytes = Field(default=parse_size("2GB"), ge=1 << 20)
    """Bytes of segments the edge's cache holds on disk; the oldest go first."""
    cache_seconds: Seconds = Field(default=3600.0, gt=0)
    """How long a segment stays in the edge's cache at most (how far back a recording
    started on the control can reach)."""

    @model_validator(mode="after")
    def _complete(self) -> EdgeSettings:
        if self.control is not None:
            if not self.control.startswith(("ws://", "wss://")):
                raise ValueError("edge.control must be a ws:// or wss:// URL")
            if self.key is None or not self.key.get_secret_value():
                raise ValueError("edge.control is set but edge.key is not")
        if self.name is not None and not self.name.isprintable():
            raise ValueError("edge.name must be printable")
        return self

    @property
    def enabled(self) -> bool:
        return self.control is not None


class RecordingSettings(_Section):
    """``recording``: recordings of live streams, their replay and export."""

    access: PlaybackAccess = PlaybackAccess.PUBLIC
    """``/recordings`` replay and export; ``token`` needs a token bound to the recording,
    from ``POST /api/recordings/{id}/token``."""
    auto: tuple[str, ...] = ()
    """Streams recorded whenever they are published (shell patterns: ``cam-*``, or ``*``
    for all), from their first segment until they end."""
    reach_back: Seconds = 60.0
    """How far in the past a recording may start (``start_time_epoch``): live segments
    are held this long after they are committed (in memory up to
    ``live.memory_per_variant``, then on disk)."""
    queue_segments: int = Field(default=512, ge=8)
    """Segments waiting to be stored, per recording. A store slower than the stream for
    longer than this loses segments: they are counted and logged, never blocking ingest."""
    store_attempts: int = Field(default=5, ge=1)
    """Tries per segment before a store failure loses it."""
    prefetch: int = Field(default=3, ge=0, le=32)
    """Segments read ahead of a replaying player from a remote (S3) store."""
    replay_cache: Bytes = parse_size("256MB")
    """Bytes of recorded segments held in memory for replay (prefetched or recent)."""
    max_export_bytes: Bytes = parse_size("8GB")
    """The largest recording ``/recordings/{id}.mp4`` exports (a 413 past it)."""


class ChannelSettings(_Section):
    """``channels``: VOD-to-live channels, played at ``/live/{channel}/`` (so
    ``live.access`` gates them too)."""

    library: Path | None = None
    """The folder ``{"library": "path/master.m3u8"}`` items read HLS VODs from
    (default ``data_dir/library``)."""
    window: Seconds = 30.0
    """How far back a channel's live playlist reaches (at least 3 target durations)."""
    max_channels: int = Field(default=1000, ge=1)
    """Channels there may be (and compiled ones kept)."""
    max_items: int = Field(default=5000, ge=1)
    """Items in one channel's schedule."""
    fetch_timeout: Seconds = 10.0
    """For each playlist of an external VOD, read when an item is added."""
    max_playlist_bytes: Bytes = parse_size("4MB")
    """The largest external VOD playlist read."""
    segment_cache: Bytes = parse_size("256MB")
    """Channel segments held in memory, as served (moved to their air time)."""
    max_segment_bytes: Bytes = parse_size("64MB")
    """The largest source segment a channel reads."""
    slate_cache: Bytes = parse_size("64MB")
    """Slate segments (filler for gaps and lost sources) held in memory."""
    refresh: Seconds = 1.0
    """How often a node serving a channel checks the database for a change made on
    another node. Changes take effect at least a target duration plus twice this later,
    so every node has them by then."""


class RungSettings(_Section):
    """One rendition of the ABR ladder."""

    name: str
    """The rendition's name (its folder and label)."""
    height: int | None = Field(default=None, ge=16, le=4320)
    """None for an audio-only rung."""
    video_bitrate: Bytes = 0
    """Bits per second (``2800k`` or ``2.8M`` read as such)."""
    audio_bitrate: Bytes = 128_000
    """Bits per second of the rendition's AAC audio."""


class AssetSettings(_Section):
    """``assets``: uploads, transcoding to an ABR ladder, and ``/vod`` playback."""

    access: PlaybackAccess = PlaybackAccess.PUBLIC
    """The default for new assets; each asset may say otherwise."""
    workers: int = Field(default=1, ge=1, le=64)
    """Assets transcoded at once by this process (each ffmpeg uses every core); with the
    redis queue, by each ``hlsd worker`` (unless told otherwise)."""
    queue: Literal["local", "redis"] = "local"
    """``local``: jobs run in this process. ``redis``: this node only enqueues them, and
    ``hlsd worker`` processes take them, on any machine that shares the database, the
    object store and this config."""
    redis_url: SecretStr | None = None
    """The Redis of the ``redis`` queue; default ``cluster.redis_url``."""
    queue_name: str = Field(default="hlsd-assets", pattern=r"^[A-Za-z0-9._-]+$")
    """The Redis queue's name (``redis`` queue)."""
    heartbeat: Seconds = Field(default=30.0, ge=1.0, le=3600.0)
    """``redis`` queue: a worker touches its running job three times per heartbeat, and
    a job untouched this long is its dead worker's: it is retried, within about this
    plus a third of it and 3 s. No limit applies to a live transcode's length."""
    attempts: int = Field(default=5, ge=1, le=100)
    """``redis`` queue: runs an asset's job may start; each worker that dies or is stopped
    mid-job costs one, and past the last the asset fails."""
    max_queued: int = Field(default=1000, ge=1)
    """Jobs waiting at once (503 past it)."""
    max_upload: Bytes = parse_size("20GB")
    """The largest file one upload (or import) may be."""
    max_uploads_bytes: Bytes = parse_size("100GB")
    """Bytes of uploads in progress and kept, together (507 past it)."""
    max_uploads: int = Field(default=1000, ge=1)
    """Uploads in progress and kept at once."""
    upload_expiry: Seconds = 24 * 3600.0
    """An unfinished upload is removed this long after it began."""
    segment_duration: float = Field(default=4.0, ge=1.0, le=20.0)
    """Seconds of an asset's CMAF segment."""
    ladder: tuple[RungSettings, ...] | None = None
    """None: 1080p/720p/480p/360p H.264 + AAC (each capped at the source's resolution)."""
    playback_cache: Bytes = parse_size("256MB")
    """Asset bytes from a remote (S3) store held in memory for playback."""


class WebsocketSettings(_Section):
    """``websocket``: the hls-websocket-cdn endpoint (PUSH and PULL over one websocket)."""

    path: str = "/ws"
    """The websocket endpoint's path, on the main port and on ``listen``."""
    listen: Listen = ":8090"
    """``HOST:PORT`` of hlsd's own websocket listener for this protocol (the fastest
    fan-out; ``wss://`` with ``tls``); ``:8090`` is the server's own host. As for
    ``rtmp.listen``: the default runs when its port is free (a warning otherwise), one
    set explicitly must bind; ``null`` turns it off. While it runs, the registry
    announces its URL (unless ``cluster.external_url`` says otherwise). ``path`` on the
    main port serves the same protocol either way."""
    max_connections: int = Field(default=10_000, ge=1)
    """Connections the ``listen`` listener holds at once, handshakes included; one more
    is answered 503."""
    push_secret: SecretStr | None = None
    """HS256 secret of PUSH tokens; none = pushing needs no token, loopback clients only."""
    pull_secret: SecretStr | None = None
    """HS256 secret of PULL tokens; none = anyone may pull (a warning is logged)."""
    fragment_buffer: int = Field(default=10, ge=1, le=1000)
    """Fragments a new spectator may be sent at once, and a spectator's queue length."""
    max_initial_fragments: int = Field(default=10, ge=0)
    """Fragments sent to a new spectator that asks for no number (at most the buffer)."""
    max_binary_message: Bytes = parse_size("50MB")
    """The largest fragment a publisher may send."""
    heartbeat: Seconds = 30.0
    """A heartbeat ``H`` goes out this often; a peer silent twice as long is gone."""
    first_message_timeout: Seconds = 30.0
    """Seconds a new connection has to send PUSH or PULL."""
    write_timeout: Seconds = 10.0
    """A send that takes longer closes the connection (a stalled spectator)."""
    slow_spectators: SlowReaderPolicy = SlowReaderPolicy.SKIP
    """A spectator a whole buffer behind: ``skip`` to live, or ``disconnect``."""
    max_connections_per_ip: int = Field(default=0, ge=0)
    """Websocket connections one address may hold at once; 0 = no limit."""
    connects_per_second: float = Field(default=0.0, ge=0)
    """New websocket connections per second one address may open (a token bucket);
    0 = no limit."""
    connect_burst: int = Field(default=0, ge=0)
    """Connections one address may open at once before `connects_per_second` applies."""
    rate_limit_exempt: tuple[str, ...] = ()
    """Addresses or CIDR ranges the per-address limits do not apply to (``*``: all)."""


class ClusterSettings(_Section):
    """``cluster``: the publish registry and relays between hlsd nodes."""

    redis_url: SecretStr | None = None
    """The Redis publish registry (``redis://``, ``rediss://``); none = this node alone."""
    registry_prefix: str = ""
    """Put before each stream id to make its registry key (the original uses none)."""
    refresh_interval: Seconds = 60.0
    """How often this node re-announces its streams; an entry lives twice as long."""
    external_url: str | None = None
    """This node's websocket URL as other nodes reach it (the registry's value); default
    the ``websocket.listen`` listener's ``ws://<host>:<port><websocket.path>`` while it
    runs, else the main port's (``wss://`` with ``tls``)."""
    node_id: str | None = None
    """Names this node in relay chains (loop detection); default random per start."""
    relay_from: str | None = None
    """A node to relay streams from when neither this node nor the registry has them."""
    relay_inactivity: Seconds = 30.0
    """A relay nobody watches for twice this long is closed: no websocket spectator, no
    recording, and no HTTP player asking for a playlist within this period."""
    relay_connect_timeout: Seconds = 5.0
    """Seconds to connect to the node a stream is relayed from."""


class HttpSettings(_Section):
    """``http``: how long a connection may take, and how much one client may hold."""

    header_timeout: Seconds = Field(default=10.0, gt=0, le=300)
    """A request's headers must arrive within this, from the connection's start or the
    request's first byte (slowloris). granian closes an idle keep-alive connection after
    the shorter of this and ``keep_alive_timeout``."""
    keep_alive_timeout: Seconds = Field(default=10.0, gt=0, le=300)
    """An idle keep-alive connection is closed after this. Longer than a live playlist's
    reload (every target duration, 6 s by default): a player's connection closed between
    two reloads races its next request (ffmpeg reports it as an error)."""
    body_timeout: Seconds = Field(default=60.0, gt=0, le=3600)
    """A request body that sends nothing for this long is ended (408)."""
    max_requests_per_ip: int = Field(default=256, ge=0)
    """Requests in progress from one client address at once (429 past it); 0 = no
    limit. Behind a trusted proxy, the client's own address counts."""
    limit_exempt: Networks = ()
    """Addresses or CIDR ranges ``max_requests_per_ip`` does not apply to."""


class TlsSettings(_Section):
    """``tls``: HTTPS and ``wss://`` served by hlsd itself, with no proxy in front. On
    granian, HTTP/2 and HTTP/1.1 (chosen per connection by ALPN): Apple's players play
    LL-HLS over HTTP/2 only. Give both files or neither; a file that is missing,
    unreadable, not PEM, encrypted or not the other's pair stops the start with one
    line."""

    cert: Path | None = None
    """PEM file: the server's certificate, then its chain (a ``fullchain.pem``).
    Relative paths in the config file are from the file's folder."""
    key: Path | None = None
    """PEM file: the certificate's private key, unencrypted (RSA, EC or Ed25519)."""
    http2: bool = True
    """granian: offer HTTP/2 beside HTTP/1.1. With it, a client that finishes the TLS
    handshake and then sends nothing is held until it leaves (granian has no deadline
    before it tells HTTP/1 from HTTP/2; at most 2048 connections per server), so
    ``false`` serves HTTP/1.1 only, every ``http`` deadline kept. uvicorn serves
    HTTP/1.1 only, whatever this says (a line at start says so)."""

    @model_validator(mode="after")
    def _both_or_neither(self) -> TlsSettings:
        if (self.cert is None) != (self.key is None):
            given, missing = ("cert", "key") if self.key is None else ("key", "cert")
            raise ValueError(f"tls.{given} is set but tls.{missing} is not: give both "
                             "PEM files (the certificate and its key), or neither")
        return self

    @property
    def enabled(self) -> bool:
        return self.cert is not None and self.key is not None


class CorsSettings(_Section):
    allow_origins: tuple[str, ...] = ("*",)
    """Origins whose pages may read hlsd's answers (``*``: any)."""
    max_age: int = 600
    """Seconds a browser may cache a preflight's answer."""


class ServerEngine(enum.StrEnum):
    UVICORN = "uvicorn"
    GRANIAN = "granian"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HLSD_", env_nested_delimiter="__", extra="forbid", frozen=True,
        use_attribute_docstrings=True,
    )

    data_dir: Path = Path("hlsd-data")
    """Home of the cache, temp, static, spill and object folders, the SQLite database and the token
    secret."""
    host: str = "127.0.0.1"
    """Address to listen on (loopback until you say otherwise; ``0.0.0.0`` for every interface)."""
    port: int = Field(default=8080, ge=0, le=65535)
    """Port to listen on."""
    workers: int = Field(default=1, ge=1)
    """Server processes: as many as the machine has cores. Each holds every live stream
    (``docs/WORKERS.md``); a node that takes edges (``livemix.edge_keys``) runs 1."""
    server: ServerEngine = ServerEngine.GRANIAN
    """The ASGI server engine: ``granian`` (fastest at serving segments and playlists) or
    ``uvicorn`` (shorter tail for websocket fan-out)."""
    log_level: LogLevel = "info"
    """Server log level."""
    log_format: LogFormat = LogFormat.PLAIN
    """Server logs: ``plain`` lines, or ``json`` (one object per line)."""
    handshake: SecretStr | None = None
    """The Go-HLS-Streamer handshake; none = the token API answers loopback clients only."""
    token_secret: SecretStr | None = None
    """Signs rids and tokens; default: derived from the handshake (so nodes sharing it agree), else
    random and kept in the data dir."""
    admin_key: SecretStr | None = None
    """Bearer key of the management APIs and ``/metrics``; none = loopback clients only."""
    trusted_proxies: Networks = ()
    """Reverse proxies (addresses or CIDR ranges) whose ``Forwarded``,
    ``X-Forwarded-For`` and ``X-Real-IP`` headers name the client; from anyone else those
    headers are ignored, and a request carrying them is never a loopback client."""
    database_url: SecretStr | None = None
    """Metadata database; default SQLite in the data dir (``postgresql://…`` for clusters)."""
    cache: CacheSettings = CacheSettings()
    url: UrlSettings = UrlSettings()
    upstream: UpstreamSettings = UpstreamSettings()
    fetch: FetchSettings = FetchSettings()
    packager: PackagerSettings = PackagerSettings()
    cors: CorsSettings = CorsSettings()
    http: HttpSettings = HttpSettings()
    tls: TlsSettings = TlsSettings()
    live: LiveSettings = LiveSettings()
    livemix: LiveMixSettings = LiveMixSettings()
    edge: EdgeSettings = EdgeSettings()
    rtmp: RtmpSettings = RtmpSettings()
    srt: SrtSettings = SrtSettings()
    recording: RecordingSettings = RecordingSettings()
    websocket: WebsocketSettings = WebsocketSettings()
    channels: ChannelSettings = ChannelSettings()
    assets: AssetSettings = AssetSettings()
    cluster: ClusterSettings = ClusterSettings()
    storage: StorageSettings = StorageSettings()
    """The object store for recordings: a local folder (``data_dir/objects``) or S3."""

    @model_validator(mode="after")
    def _fill_directories(self) -> Settings:
        data = self.data_dir
        cache = self.cache.model_copy(
            update={
                "dir": self.cache.dir or data / "cache",
                "tempdir": self.cache.tempdir or data / "tmp",
                "static": self.cache.static or data / "static",
            }
        )
        object.__setattr__(self, "cache", cache)
        if self.channels.library is None:
            object.__setattr__(self, "channels",
                               self.channels.model_copy(update={"library": data / "library"}))
        if self.storage.dir is None:
            object.__setattr__(self, "storage",
                               self.storage.model_copy(update={"dir": data / "objects"}))
        if self.assets.queue == "redis" and self.assets.redis_url is None:
            if self.cluster.redis_url is None:
                raise ValueError("assets.queue is redis, but neither assets.redis_url nor "
                                 "cluster.redis_url is set")
            object.__setattr__(self, "assets", self.assets.model_copy(
                update={"redis_url": self.cluster.redis_url}))
        return self

    @property
    def cache_dir(self) -> Path:
        assert self.cache.dir is not None
        return self.cache.dir

    @property
    def library_dir(self) -> Path:
        assert self.channels.library is not None
        return self.channels.library

    @property
    def temp_dir(self) -> Path:
        assert self.cache.tempdir is not None
        return self.cache.tempdir

    @property
    def static_dir(self) -> Path:
        assert self.cache.static is not None
        return self.cache.static

    def working_folders(self) -> tuple[tuple[str, Path], ...]:
        """The folders a server writes in, each with the setting that names it (for
        `infra.folders.prepare_folders`, before anything starts)."""
        return (("data_dir", self.data_dir), ("cache.dir", self.cache_dir),
                ("cache.tempdir", self.temp_dir), ("cache.static", self.static_dir))

    _file_data: ClassVar[dict[str, Any]] = {}
    """The config file's mapping; `load_settings` gives each load a subclass holding it."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings,
                InitSettingsSource(settings_cls, original_environment(os.environ)),
                InitSettingsSource(settings_cls, cls._file_data))


class ConfigFileError(ValueError):
    """The config file cannot be read as YAML; the message is one line naming the file
    and, when YAML knows it, the line and column."""


def read_config_file(path: Path) -> dict[str, Any]:
    """The YAML mapping in `path`; an empty file is an empty config."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(f"{path}: not UTF-8 text (byte {exc.start} is "
                              f"0x{exc.object[exc.start]:02x})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigFileError(_yaml_problem(path, text, exc)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: the config file must hold a mapping of keys")
    return data


def _yaml_problem(path: Path, text: str, exc: yaml.YAMLError) -> str:
    """``FILE, line L, column C: problem (context, line L)``, on one line."""
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - text.rfind("\n", 0, exc.position)
        code = ord(exc.character) if isinstance(exc.character, str) else exc.character
        return f"{path}, line {line}, column {column}: YAML does not allow U+{code:04X}"
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return f"{path}: " + " ".join(str(exc).split())
    mark, context = exc.problem_mark, exc.context_mark
    problem = f"{path}, line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    if exc.context:
        started = f", line {context.line + 1}" if context and context.line != mark.line else ""
        problem += f" ({exc.context}{started})"
    return problem


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from overrides > ``HLSD_*`` environment > `config_file` > defaults."""
    file_data = read_config_file(config_file) if config_file else {}
    if config_file:
        file_data = _relative_to(file_data, config_file.parent)

    with_file: type[Settings] = type("Settings", (Settings,), {"_file_data": file_data})
    return with_file(**{k: v for k, v in overrides.items() if v is not None})


def _relative_to(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Resolve relative directory keys of a config file against the file's folder."""
    out = dict(data)
    if isinstance(out.get("data_dir"), str) and not Path(out["data_dir"]).is_absolute():
        out["data_dir"] = str(base / out["data_dir"])
    cache = out.get("cache")
    if isinstance(cache, dict):
        cache = dict(cache)
        for key in ("dir", "tempdir", "static"):
            if isinstance(cache.get(key), str) and not Path(cache[key]).is_absolute():
                cache[key] = str(base / cache[key])
        out["cache"] = cache
    tls = out.get("tls")
    if isinstance(tls, dict):
        out["tls"] = {key: str(base / value)
                      if key in ("cert", "key") and isinstance(value, str)
                      and not Path(value).is_absolute() else value
                      for key, value in tls.items()}
    storage = out.get("storage")
    if isinstance(storage, dict) and isinstance(storage.get("dir"), str) \
            and not Path(storage["dir"]).is_absolute():
        out["storage"] = {**storage, "dir": str(base / storage["dir"])}
    return out
