"""A ready asset as a channel program: its HLS ladder, read from the object store.

An asset's renditions are CMAF: video-only fragments per rung, and audio in renditions
of its own (one per audio rate). Each program variant keeps the rung's video fragments
and, as its `AudioTrack`, the audio rendition its master pairs it with; the playout
muxes the two by time into MPEG-TS segments.
"""

from __future__ import annotations

import json
import posixpath

from hlsd.assets.state import AssetState
from hlsd.channels.program import AudioTrack, Program, ProgramVariant, SourceKind
from hlsd.channels.sources import SourceUnavailable, SourceUnusable
from hlsd.db import assets as repo
from hlsd.db.errors import NotFound
from hlsd.db.repo import Sessions
from hlsd.hls import MediaPlaylist, MediaType, PlaylistError, parse_master, parse_media
from hlsd.storage import ObjectNotFound, ObjectStore, StorageError

__all__ = ["resolve_asset"]

_MAX_PLAYLIST = 4 * 1024 * 1024


async def resolve_asset(asset_id: str, *, sessions: Sessions, store: ObjectStore) -> Program:
    try:
        asset = await repo.get_asset(sessions, asset_id)
    except NotFound:
        raise SourceUnavailable(f"there is no asset {asset_id!r}") from None
    if asset.state != AssetState.READY.value or asset.outputs is None:
        raise SourceUnavailable(f"asset {asset_id} is {asset.state}, not ready")
    prefix = asset.outputs
    master_name = json.loads(asset.details or "{}").get("master", "index.m3u8")
    try:
        master = parse_master(await _text(store, prefix + master_name))
        audio_uris = {r.group_id: r.uri for r in master.renditions
                      if r.type is MediaType.AUDIO and r.uri}
        variants = []
        for variant in master.variants:
            video = parse_media(await _text(store, prefix + variant.uri))
            audio = None
            if variant.audio is not None and variant.audio in audio_uris:
                uri = audio_uris[variant.audio]
                assert uri is not None
                audio = _track(parse_media(await _text(store, prefix + uri)),
                               prefix + posixpath.dirname(uri))
            variants.append(ProgramVariant(
                bandwidth=variant.bandwidth, average_bandwidth=variant.average_bandwidth,
                codecs=variant.codecs, resolution=variant.resolution,
                frame_rate=variant.frame_rate,
                durations_us=tuple(round(s.duration * 1_000_000) for s in video.segments),
                uris=tuple(_key(prefix, variant.uri, s.uri) for s in video.segments),
                init=_key(prefix, variant.uri, video.init.uri) if video.init else None,
                audio=audio))
    except PlaylistError as exc:
        raise SourceUnusable(f"asset {asset_id}'s playlists cannot be read: {exc}") from None
    except (ObjectNotFound, StorageError) as exc:
        raise SourceUnavailable(f"asset {asset_id}'s outputs cannot be read: {exc}") from None
    try:
        return Program(kind=SourceKind.ASSET, ref=asset_id, variants=tuple(
            sorted(variants, key=lambda v: -v.bandwidth)))
    except ValueError as exc:
        raise SourceUnusable(f"asset {asset_id}: {exc}") from None


async def _text(store: ObjectStore, key: str) -> str:
    data = await store.get(key)
    if len(data) > _MAX_PLAYLIST:
        raise SourceUnusable(f"{key} is larger than {_MAX_PLAYLIST} bytes")
    return data.decode()


def _key(prefix: str, playlist: str, uri: str) -> str:
    """The object key of `uri`, relative to the playlist at `prefix + playlist`."""
    return prefix + posixpath.normpath(posixpath.join(posixpath.dirname(playlist), uri))


def _track(playlist: MediaPlaylist, folder: str) -> AudioTrack:
    if playlist.init is None:
        raise SourceUnusable("an audio rendition without an initialization section")
    base = folder.rstrip("/") + "/"
    return AudioTrack(
        durations_us=tuple(round(s.duration * 1_000_000) for s in playlist.segments),
        uris=tuple(base + s.uri for s in playlist.segments), init=base + playlist.init.uri)
