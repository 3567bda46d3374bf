"""``/vod/{asset}/…`` and ``/play/{asset}``: a ready asset's ladder, as plain ASGI.

The HLS master (``index.m3u8``) and the DASH MPD (``manifest.mpd``) reference one set of
CMAF segments, read from the object store (sendfile from a local store; through a
bounded memory cache from S3). An asset is immutable once ready, so everything is
served with long-lived caching; an asset with ``access: token`` needs a token bound to
``asset/<id>`` and keeps out of shared caches. ``/play/{asset}`` sends Safari and iOS to
HLS, Android and ExoPlayer to DASH, others to HLS; ``?format=hls|dash`` decides.
"""

from __future__ import annotations

import posixpath
import time
from collections import OrderedDict
from urllib.parse import parse_qs

from starlette.responses import FileResponse
from starlette.types import Receive, Scope, Send

from hlsd.api._asgi import Cors, request_headers, respond, respond_error
from hlsd.api._gate import TokenGate
from hlsd.api._query_token import TOKEN_HEADERS
from hlsd.assets.processor import OUTPUT_TYPES
from hlsd.assets.state import AssetState
from hlsd.db import assets as repo
from hlsd.db.errors import NotFound
from hlsd.db.repo import Sessions
from hlsd.hls import rendered
from hlsd.infra.cache import Cache
from hlsd.storage import ObjectNotFound, ObjectStore, StorageError

__all__ = ["PLAY_PREFIX", "PREFIX", "AssetPlayback", "asset_subject"]

PREFIX = "/vod/"
PLAY_PREFIX = "/play/"
_WANTED = TOKEN_HEADERS | {b"origin", b"user-agent", b"range"}
_KNOWN_FOR = 5.0
"""Seconds a looked-up asset is trusted before the database is asked again (a delete
stops serving within this)."""
_MAX_KNOWN = 10_000


def asset_subject(asset_id: str) -> str:
    """What an asset playback token is bound to."""
    return f"asset/{asset_id}"


class AssetPlayback:
    def __init__(self, *, sessions: Sessions, store: ObjectStore, cache: Cache[str, bytes],
                 cors: Cors, gate: TokenGate) -> None:
        self._sessions = sessions
        self._store = store
        self._cache = cache
        self._cors = cors
        self._gate = gate
        self._known: OrderedDict[str, tuple[float, str | None, bool]] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = request_headers(scope, _WANTED)
        cors = self._cors.headers(headers.get(b"origin"))
        path: str = scope["path"]
        if path.startswith(PLAY_PREFIX):
            await self._play(scope, send, path[len(PLAY_PREFIX):], headers, cors)
            return
        asset_id, _, name = path[len(PREFIX):].partition("/")
        outputs, gated = await self._lookup(asset_id)
        if outputs is None or not name or ".." in name.split("/"):
            await respond_error(send, 404, "no such asset, or it is not ready", cors)
            return
        caching = "public, max-age=31536000, immutable"
        if gated:
            refusal, query_token = self._gate.admit(scope, headers, asset_subject(asset_id))
            if refusal is not None:
                await respond_error(send, refusal[0], refusal[1], cors)
                return
            caching = "private, max-age=3600"
            if query_token is not None and name.endswith(".m3u8"):
                await self._tokened_playlist(send, outputs + name, query_token, cors)
                return
        kind = OUTPUT_TYPES.get(posixpath.splitext(name)[1], "application/octet-stream")
        extra = {"cache-control": caching, **{k.decode(): v.decode() for k, v in cors}}
        local = self._store.local_path(outputs + name)
        if local is not None:
            if not local.is_file():
                await respond_error(send, 404, "no such file in this asset", cors)
                return
            await FileResponse(local, media_type=kind, headers=extra)(scope, receive, send)
            return
        try:
            data = await self._read(outputs + name)
        except ObjectNotFound:
            await respond_error(send, 404, "no such file in this asset", cors)
            return
        except StorageError:
            await respond_error(send, 502, "the object store did not answer", cors)
            return
        await respond(send, 200, [(b"content-type", kind.encode()),
                                  (b"cache-control", caching.encode()), *cors], data,
                      head=scope["method"] == "HEAD")

    async def _lookup(self, asset_id: str) -> tuple[str | None, bool]:
        """(the ready asset's output prefix, whether it is token-gated)."""
        known = self._known.get(asset_id)
        now = time.monotonic()
        if known is not None and now - known[0] < _KNOWN_FOR:
            return known[1], known[2]
        try:
            asset = await repo.get_asset(self._sessions, asset_id) if asset_id else None
        except NotFound:
            asset = None
        ready = asset is not None and asset.state == AssetState.READY.value
        outputs = asset.outputs if ready and asset is not None else None
        gated = asset is not None and asset.access == "token"
        self._known[asset_id] = (now, outputs, gated)
        self._known.move_to_end(asset_id)
        while len(self._known) > _MAX_KNOWN:
            self._known.popitem(last=False)
        return outputs, gated

    async def _read(self, key: str) -> bytes:
        data = self._cache.get(key)
        if data is None:
            data = await self._store.get(key)
            self._cache.put(key, data)
        return data

    async def _tokened_playlist(self, send: Send, key: str, token: str,
                                cors: list[tuple[bytes, bytes]]) -> None:
        """A playlist whose URIs carry the ``?token=`` it was asked with (native
        players send no headers)."""
        try:
            local = self._store.local_path(key)
            text = (local.read_bytes() if local is not None else await self._read(key)).decode()
        except (ObjectNotFound, FileNotFoundError):
            await respond_error(send, 404, "no such file in this asset", cors)
            return
        playlist = self._gate.playlists.with_token(rendered(text), token)
        await respond(send, 200, [(b"content-type", OUTPUT_TYPES[".m3u8"].encode()),
                                  (b"cache-control", b"private, max-age=3600"), *cors],
                      playlist.body)

    async def _play(self, scope: Scope, send: Send, asset_id: str,
                    headers: dict[bytes, bytes], cors: list[tuple[bytes, bytes]]) -> None:
        outputs, _ = await self._lookup(asset_id.strip("/"))
        if outputs is None:
            await respond_error(send, 404, "no such asset, or it is not ready", cors)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        wanted = (query.get("format") or [""])[0].lower()
        if wanted not in ("", "hls", "dash"):
            await respond_error(send, 400, "format is hls or dash", cors)
            return
        chosen = wanted or _format_for(headers.get(b"user-agent", b"").decode("latin-1"))
        target = "manifest.mpd" if chosen == "dash" else "index.m3u8"
        token = (query.get("token") or [""])[0]
        location = f"{PREFIX}{asset_id.strip('/')}/{target}" + (f"?token={token}" if token
                                                                else "")
        await respond(send, 302, [(b"location", location.encode()),
                                  (b"cache-control", b"no-store"), (b"vary", b"user-agent"),
                                  *cors])


def _format_for(user_agent: str) -> str:
    """HLS for Apple's players (they play nothing else), DASH for Android's (ExoPlayer
    prefers it), HLS elsewhere (hls.js and most players)."""
    ua = user_agent.lower()
    if "exoplayer" in ua or "android" in ua:
        return "dash"
    return "hls"
