"""`EdgeControl`: the control's end of edge links, ``/v1/edge`` (``docs/EDGE.md``).

An edge is let in before the upgrade or refused with 403: the subprotocol, its key
(`EdgeKeys`), and the bound on edges connected at once. Its first frame is a ``hello``
naming it; each link is then an `EdgeSession`. A frame that breaks the protocol closes
the link with 1002 (1009 one over its bound); other links go on. One task re-reads, for
every link, the flags and recordings of the sources its edge holds: at once after a
change made on this node (`LiveMixSources.changes`), and every `SYNC_INTERVAL` for the
changes other control nodes sharing the database made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.websockets import WebSocket

from hlsd.cluster import edge_protocol as wire
from hlsd.cluster.control._keys import EdgeKeys
from hlsd.cluster.control._link import (
    CLOSE_GOING_AWAY,
    CLOSE_PROTOCOL,
    CLOSE_REFUSED,
    CLOSE_TOO_BIG,
    FrameTooBig,
    Link,
    LinkClosed,
)
from hlsd.cluster.control._session import EdgeSession, Services
from hlsd.cluster.control._told import SYNC_INTERVAL
from hlsd.infra.client_address import client_of
from hlsd.infra.logs import clip
from hlsd.ingest.livemix_sources import LiveMixSources

log = logging.getLogger(__name__)

HELLO_TIMEOUT = 30.0
"""Seconds an accepted edge has to say hello."""
STALE_REPORTS = 2
"""Report intervals a link may stay silent before a new link of its edge's name takes
its place (the edge lost it and dialled again); a live link of that name is kept and
the newcomer refused (1008)."""


class EdgeControl:
    def __init__(self, *, services: Services, sources: LiveMixSources, keys: EdgeKeys,
                 max_edges: int) -> None:
        self._s = services
        self._sources = sources
        self._keys = keys
        self._max_edges = max_edges
        self._open = 0
        self._by_name: dict[str, EdgeSession] = {}
        self._failing = False

    def edges(self) -> list[str]:
        """The names of the edges linked to this node."""
        return sorted(self._by_name)

    async def serve(self, ws: WebSocket) -> None:
        """One edge, from its handshake to its close."""
        peer = client_of(ws.scope).host
        if wire.SUBPROTOCOL not in (ws.scope.get("subprotocols") or ()):
            log.info("edge from %s refused: it does not speak %s", clip(peer),
                     wire.SUBPROTOCOL)
            await ws.close(CLOSE_REFUSED, f"this control speaks {wire.SUBPROTOCOL}")
            return
        key = self._keys.check(ws.headers.get("authorization"), peer)
        if key is None:
            await ws.close(CLOSE_REFUSED, "refused: livemix.edge_keys")
            return
        if self._open >= self._max_edges:
            log.warning("edge from %s refused: %d edges are linked (livemix.max_edges)",
                        clip(peer), self._open)
            await ws.close(CLOSE_REFUSED, "too many edges: livemix.max_edges")
            return
        self._open += 1
        try:
            await ws.accept(subprotocol=wire.SUBPROTOCOL)
            link = Link(ws, max_binary=self._s.max_segment + wire.MAX_HEADER_BYTES + 4)
            await self._run(link, peer, key)
        finally:
            self._open -= 1

    async def _run(self, link: Link, peer: str, key: str) -> None:
        session: EdgeSession | None = None
        try:
            first = await asyncio.wait_for(link.receive(), HELLO_TIMEOUT)
            if not isinstance(first, str):
                raise wire.LinkProtocolError("the first frame must be a hello")
            hello = wire.decode_text(first)
            if hello.name is not wire.Name.HELLO:
                raise wire.LinkProtocolError("the first frame must be a hello")
            session = await self._admit(link, hello, key)
            if session is None:
                return
            log.info("edge %r linked from %s", clip(session.edge), clip(peer))
            await session.hello(hello)
            while True:
                frame = await link.receive()
                if isinstance(frame, str):
                    await session.text(wire.decode_text(frame))
                else:
                    await session.binary(frame)
        except FrameTooBig as exc:
            log.info("edge link from %s closed: %s", clip(peer), exc)
            await link.close(CLOSE_TOO_BIG, str(exc))
        except wire.LinkProtocolError as exc:
            log.info("edge link from %s closed: %s", clip(peer), clip(exc))
            await link.close(CLOSE_PROTOCOL, str(exc))
        except (LinkClosed, TimeoutError, OSError) as exc:
            log.info("edge link from %s ended: %s", clip(peer), clip(exc) or "timeout")
            await link.close(CLOSE_GOING_AWAY)
        except Exception:
            log.exception("edge link from %s failed", clip(peer))
            await link.close(1011)
        finally:
            if session is not None:
                if self._by_name.get(session.edge) is session:
                    del self._by_name[session.edge]
                    self._s.metrics.edge_links.dec()
                session.close()

    async def _admit(self, link: Link, hello: wire.Message, key: str) -> EdgeSession | None:
        f = hello.fields
        if f.get("protocol") != wire.VERSION:
            raise wire.LinkProtocolError(f"protocol must be {wire.VERSION}")
        edge = wire.ids([f.get("edge")])[0]
        old = self._by_name.get(edge)
        if old is not None:
            silent = asyncio.get_running_loop().time() - old.link.heard
            if silent < STALE_REPORTS * self._s.report_interval:
                log.warning("edge %r refused: a live link holds that name", clip(edge))
                await link.close(CLOSE_REFUSED, "another live link holds that edge name")
                return None
            del self._by_name[edge]
            self._s.metrics.edge_links.dec()
            await old.link.close(CLOSE_GOING_AWAY, "replaced by a new link")
        session = EdgeSession(link, self._s, edge=edge, key=key)
        self._by_name[edge] = session
        self._s.metrics.edge_links.inc()
        return session

    async def run(self) -> None:
        """Keep every edge told of its sources, for the app's life."""
        while True:
            await self._sources.changes.wait(SYNC_INTERVAL)
            for session in list(self._by_name.values()):
                if not session.told.held:
                    continue
                try:
                    await session.refresh()
                except LinkClosed:  # that session ends on its own
                    continue
                except Exception as exc:  # the database out of reach: next time
                    if not self._failing:
                        log.warning("edges not told of their sources' changes: %s", exc)
                    self._failing = True
                    break
            else:
                self._failing = False

    async def close(self) -> None:
        for session in list(self._by_name.values()):
            with contextlib.suppress(Exception):
                await session.link.close(CLOSE_GOING_AWAY, "the control is stopping")
