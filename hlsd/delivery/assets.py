"""``/vod/{asset}/…`` and ``/play/{asset}``: a ready asset's ladder.

The HLS master (``index.m3u8``) and the DASH MPD (``manifest.mpd``) reference one set
of CMAF segments, files of a local object store or objects read through a bounded
memory cache (`hlsd.assets.playback`). An asset is immutable once ready, so its files
are cached for a year and their ETag is their key's; an asset with ``access: token``
needs a token bound to ``asset/<id>`` and is cached an hour, privately.
``/play/{asset}`` sends Safari and iOS to HLS, Android and ExoPlayer to DASH, others
to HLS; ``?format=hls|dash`` decides.
"""

from __future__ import annotations

import posixpath
from urllib.parse import quote

from hlsd.assets.playback import ReadyAssets
from hlsd.assets.processor import OUTPUT_TYPES
from hlsd.auth.subjects import asset_subject
from hlsd.delivery.gate import TokenGate
from hlsd.delivery.request import Request
from hlsd.delivery.resource import (
    GATED_ASSET,
    IMMUTABLE,
    NO_STORE,
    FileBody,
    Redirect,
    Refused,
    Resource,
    content_type,
    strong_etag,
)
from hlsd.storage import ObjectNotFound, StorageError

__all__ = ["PLAY_PREFIX", "PREFIX", "AssetResolver", "PlayResolver"]

PREFIX = "/vod/"
PLAY_PREFIX = "/play/"
_TYPES = {ext: content_type(kind) for ext, kind in OUTPUT_TYPES.items()}
_OCTETS = content_type("application/octet-stream")
_NOT_READY = "no such asset, or it is not ready"
_NO_FILE = "no such file in this asset"


class AssetResolver:
    def __init__(self, *, assets: ReadyAssets, gate: TokenGate) -> None:
        self._assets = assets
        self._gate = gate

    async def __call__(self, request: Request) -> Resource:
        asset_id, _, name = request.rest.partition("/")
        asset = await self._assets.find(asset_id) if asset_id else None
        if asset is None or not name:
            raise Refused(404, _NOT_READY)
        key = self._assets.key(asset, name)
        if key is None:
            raise Refused(404, _NO_FILE)
        caching = IMMUTABLE
        if asset.gated:
            self._gate.admit(request, asset_subject(asset.id))
            caching = GATED_ASSET
        extension = posixpath.splitext(name)[1]
        kind = _TYPES.get(extension, _OCTETS)
        etag = strong_etag(key.encode())  # one key, one content: the asset is immutable
        if extension == ".m3u8" and request.query_token is not None:
            # Its URIs are to carry the token: the responder needs its text.
            return Resource(await self._read(key), kind, caching, etag, playlist=True)
        local = self._assets.local_path(key)
        if local is not None:
            return Resource(FileBody(local, missing=_NO_FILE), kind, caching, etag)
        return Resource(await self._read(key), kind, caching, etag)

    async def _read(self, key: str) -> bytes:
        try:
            return await self._assets.read(key)
        except ObjectNotFound:
            raise Refused(404, _NO_FILE) from None
        except StorageError:
            raise Refused(502, "the object store did not answer") from None


class PlayResolver:
    def __init__(self, assets: ReadyAssets) -> None:
        self._assets = assets

    async def __call__(self, request: Request) -> Redirect:
        asset_id = request.rest.strip("/")
        if not asset_id or await self._assets.find(asset_id) is None:
            raise Refused(404, _NOT_READY)
        wanted = (request.query("format") or "").lower()
        if wanted not in ("", "hls", "dash"):
            raise Refused(400, "format is hls or dash")
        user_agent = request.headers.get(b"user-agent", b"").decode("latin-1")
        target = "manifest.mpd" if (wanted or _format_for(user_agent)) == "dash" \
            else "index.m3u8"
        token = request.query("token")
        return Redirect(302, f"{PREFIX}{quote(asset_id)}/{target}"
                             + (f"?token={quote(token, safe='')}" if token else ""),
                        (NO_STORE.public, (b"vary", b"user-agent")))


def _format_for(user_agent: str) -> str:
    """HLS for Apple's players (they play nothing else), DASH for Android's (ExoPlayer
    prefers it), HLS elsewhere (hls.js and most players)."""
    ua = user_agent.lower()
    if "exoplayer" in ua or "android" in ua:
        return "dash"
    return "hls"
