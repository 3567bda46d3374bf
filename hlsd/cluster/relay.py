"""Relays: a stream this node does not publish, pulled from the node that has it and
published into the local hub, so that every spectator here (websocket or HTTP) shares
one upstream connection. `hlsd.cluster.resolver` asks for one when neither the hub nor
a channel has the stream.

Where from: the publish registry first (asking that node for its own source only,
``only_source=true``, so it cannot bounce the request on), then the configured
relay-from node. Over the original: a relay reconnects with backoff (looking the stream
up again each time), forgets a registry entry that names a node it cannot reach, names
the chain of nodes it passes through (``via``) so that a loop among misconfigured nodes
is refused, and closes once nobody has watched it for twice the inactivity period: no
reader (websocket spectator, recording) and no HTTP player within the inactivity period
(HTTP players hold no reader; each playlist request notes `Stream.played`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Container
from dataclasses import dataclass
from urllib.parse import urlencode

from hlsd.auth import jwt as cdn_jwt
from hlsd.cluster.registry import NoRegistry, Registry
from hlsd.infra.cache import Cache
from hlsd.infra.logs import clip
from hlsd.infra.retry import Backoff
from hlsd.metrics import Metrics
from hlsd.streams import PublisherKind, Stream, StreamBusy, StreamHub, StreamState
from hlsd.wscdn import protocol
from hlsd.wscdn.client import Connection, Disconnected, HandshakeFailed, connect
from hlsd.wscdn.protocol import ProtocolError

log = logging.getLogger(__name__)

_BACKOFF = Backoff(first=0.5, cap=10.0)
_RECENT = 64
"""Fragments remembered to recognise them when an upstream sends its buffer again."""
_KEY_BYTES = 4096
"""Bytes from each end of a fragment that tell it apart (TS packets carry timestamps)."""
_WATCHED_BACKOFF = Backoff(first=0.5, cap=2.0)
"""Spectators are waiting: tries at most 2 s apart."""
_FIRST_ATTEMPTS = 3
"""Tries before the spectators waiting for a relay that never started are told no."""
_REAPPEAR = 30.0
"""Seconds a relay that lost its upstream keeps looking for the stream to come back."""
_WRITE_TIMEOUT = 10.0
"""Seconds a PULL or heartbeat may take to go out (and the close waits at most 2 s)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RelayConfig:
    own_urls: Container[str]
    """The URLs that reach this node: never relayed from."""
    node_id: str
    relay_from: str | None
    pull_secret: str | None
    inactivity: float
    connect_timeout: float
    max_binary_message: int
    heartbeat: float


class _Gone(Exception):
    """The upstream refused us (E), or its stream cannot be relayed."""


class _NotThere(Exception):
    """The upstream does not have the stream now (OK then CLOSE before any fragment)."""


class Relays:
    def __init__(self, *, hub: StreamHub, registry: Registry, config: RelayConfig,
                 metrics: Metrics) -> None:
        self._hub = hub
        self._registry = registry
        self._config = config
        self._metrics = metrics
        self._relays: dict[str, _Relay] = {}

    async def find(self, stream_id: str, via: tuple[str, ...],
                   wait: float | None = None) -> Stream | None:
        """The local copy of `stream_id`, relayed from another node, once its first
        fragment is in (waiting at most `wait` seconds, by default as long as the first
        tries to connect may take); None if no node has it by then."""
        if isinstance(self._registry, NoRegistry) and not self._config.relay_from:
            return None  # a node on its own: no other node to ask
        relay = self._relays.get(stream_id)
        if relay is None or relay.finished:
            relay = _Relay(self, stream_id, via)
            self._relays[stream_id] = relay
            relay.start()
        longest = self._config.connect_timeout * (_FIRST_ATTEMPTS + 1) + 5
        return await relay.ready(longest if wait is None else min(wait, longest))

    def watched(self, stream: Stream) -> bool:
        """Whether anyone here reads the relayed `stream`: a reader (a websocket
        spectator, a recording), or an HTTP player within the inactivity period."""
        return stream.readers > 0 or stream.played_within(self._config.inactivity)

    async def _source(self, stream_id: str) -> tuple[str, bool] | None:
        """Where to pull `stream_id` from, and whether to ask for the node's own only."""
        try:
            url = await self._registry.lookup(stream_id)
        except Exception as exc:  # a registry outage must not stop relay-from
            log.warning("publish registry lookup of %r failed: %s", clip(stream_id), exc)
            url = None
        if url and url not in self._config.own_urls:
            return url, True
        if self._config.relay_from:
            return self._config.relay_from, False
        return None

    def sweep(self) -> None:
        for stream_id, relay in list(self._relays.items()):
            if relay.finished:
                del self._relays[stream_id]

    async def close(self) -> None:
        await asyncio.gather(*(relay.stop() for relay in list(self._relays.values())))
        self._relays.clear()


class _Relay:
    def __init__(self, owner: Relays, stream_id: str, via: tuple[str, ...]) -> None:
        self._owner = owner
        self._config = owner._config
        self.stream_id = stream_id
        self._via = (*via, self._config.node_id)
        self._ready = asyncio.Event()
        self._producer = owner._hub.producer(stream_id, f"relay:{stream_id}",
                                             kind=PublisherKind.RELAY)
        self._task: asyncio.Task[None] | None = None
        self._last_fragment = 0.0
        # Per relay, not the app's: a window of what came last, oldest out (a key seen
        # again is skipped, never used), so never stale. Not reported in /metrics.
        self._recent: Cache[tuple[int, bytes, bytes], bool] = Cache(
            "relay-recent", max_entries=_RECENT)
        self.finished = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"hlsd-relay-{self.stream_id}")

    async def ready(self, timeout: float) -> Stream | None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)
        stream = self._producer.stream
        return stream if stream is not None and stream.state is StreamState.LIVE else None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        try:
            while True:
                source = await self._owner._source(self.stream_id)
                if source is None:
                    if self._producer.stream is None or self._given_up(loop.time()):
                        return
                else:
                    url, only_source = source
                    attempt = loop.time()
                    try:
                        if await self._session(url, only_source):
                            return  # the upstream ended the stream, or nobody watches
                    except _Gone as exc:
                        log.info("relay of %r from %s: %s", clip(self.stream_id), url,
                                 clip(exc))
                        return
                    except _NotThere:
                        # Nobody has it: spectators get OK, CLOSE. Or a restarted upstream
                        # whose publisher is not back yet: keep looking for a while.
                        if self._producer.stream is None or self._given_up(loop.time()):
                            log.info("relay of %r: no node has it", clip(self.stream_id))
                            return
                    except (OSError, TimeoutError, HandshakeFailed, Disconnected,
                            ProtocolError) as exc:
                        self._owner._metrics.relay_reconnects.inc()
                        log.warning("relay of %r from %s failed (%s); retrying",
                                    self.stream_id, url, exc or type(exc).__name__)
                        if only_source and isinstance(
                                exc, OSError | TimeoutError | HandshakeFailed):
                            # The registry names a node we cannot reach: forget it, so
                            # nobody else is sent there for the rest of its TTL.
                            with contextlib.suppress(Exception):
                                await self._owner._registry.withdraw(self.stream_id, url)
                        if self._producer.stream is None and failures + 1 >= _FIRST_ATTEMPTS:
                            return
                        if self._producer.stream is not None and self._given_up(loop.time()):
                            return
                    self._producer.discontinuity("")
                    if self._last_fragment >= attempt:
                        failures = 0  # it worked for a while: back off from the start
                failures += 1
                if self._producer.holds:
                    # Spectators are waiting: keep the stream from being swept as idle
                    # while the upstream comes back, and look again soon.
                    self._producer.touch()
                    await asyncio.sleep(_WATCHED_BACKOFF.delay(failures))
                else:
                    await asyncio.sleep(_BACKOFF.delay(failures))
        finally:
            self.finished = True
            self._ready.set()
            self._producer.end()  # if it is still the relay's

    def _given_up(self, now: float) -> bool:
        """Whether the upstream has sent nothing for `_REAPPEAR` seconds."""
        return now - self._last_fragment > _REAPPEAR

    async def _session(self, url: str, only_source: bool) -> bool:
        """One upstream connection. True when the relay is done (the upstream ended the
        stream, or nobody watched for too long); an exception to reconnect."""
        config = self._config
        # hlsd's own client: a fragment is read off the socket with one copy.
        ws = await connect(url, open_timeout=config.connect_timeout,
                           write_timeout=_WRITE_TIMEOUT, max_binary=config.max_binary_message)
        heartbeat: asyncio.Task[None] | None = None
        try:
            params = {"stream": self.stream_id,
                      "auth": cdn_jwt.sign(config.pull_secret, protocol.PULL, self.stream_id)
                      if config.pull_secret else "",
                      "only_source": "true" if only_source else "false",
                      "via": ",".join(self._via)}
            await ws.send_text(f"{protocol.PULL}:{urlencode(params)}")
            heartbeat = asyncio.create_task(ws.heartbeat(config.heartbeat))
            return await self._receive(ws)
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
            await ws.close()

    async def _receive(self, ws: Connection) -> bool:
        idle = 2 * self._config.heartbeat
        answered = False
        relayed = False
        unwatched_since: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            try:
                raw: str | bytes | None = await asyncio.wait_for(
                    ws.receive(), min(idle, self._config.inactivity))
            except TimeoutError:
                raw = None
            stream = self._producer.stream
            if stream is not None:
                # Nobody here for twice the inactivity period: close.
                if self._owner.watched(stream):
                    unwatched_since = None
                elif unwatched_since is None:
                    unwatched_since = loop.time()
                elif loop.time() - unwatched_since > 2 * self._config.inactivity:
                    log.info("relay of %r: closed after %.0fs without spectators, players "
                             "or recordings", clip(self.stream_id),
                             2 * self._config.inactivity)
                    return True
            if raw is None:
                continue
            if isinstance(raw, bytes):
                raise _Gone("a binary frame came without F")
            message = protocol.parse(raw)
            if message.type == protocol.ERROR:
                raise _Gone(f"refused: {message.params.get('code')} "
                            f"{message.params.get('message')}")
            if message.type == protocol.OK:
                answered = True
            elif message.type == protocol.CLOSE:
                if not relayed:
                    raise _NotThere()
                log.info("relay of %r: the upstream ended the stream", clip(self.stream_id))
                return True
            elif message.type == protocol.FRAGMENT and answered:
                duration = protocol.duration_of(message)
                data = await ws.receive(idle)
                if not isinstance(data, bytes):
                    raise _Gone("F came without its binary frame")
                # After a reconnect the upstream sends its buffer again: what we relayed
                # already is skipped, what it took while we were away is caught up.
                key = (len(data), data[:_KEY_BYTES], data[-_KEY_BYTES:])
                if key in self._recent:
                    continue
                self._recent.put(key, True)
                self._publish()
                if self._producer.append("", duration=duration, data=data) is None:
                    self._owner._metrics.live_lost.labels("too_long").inc()
                    continue
                self._owner._metrics.ws_fragments.labels("relayed").inc()
                relayed = True
                self._last_fragment = loop.time()
                self._ready.set()

    def _publish(self) -> None:
        """The relayed stream claimed (again, once it ended), and kept from idling."""
        if not self._producer.holds:
            try:
                self._producer.publish()
            except StreamBusy as exc:
                raise _Gone(str(exc)) from None
        self._producer.touch()
