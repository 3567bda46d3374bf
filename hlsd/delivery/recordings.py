"""``/recordings/{id}/…``: recordings replayed as HLS; ``/recordings/{id}.mp4``: one
exported as an MP4; ``/v1/vod/recording/{id}/vid.m3u8``: LiveMix's name for the same
playlist.

A stopped recording's playlist changes only if it is deleted; a growing one's every
segment, so it is cached as a live playlist. Segment URIs are never reused. Segments
are files of a local store, or bytes read from the object store through the replay
cache. With a gate (``recording.access: token``), replay and export need a token bound
to ``recording/<id>`` and answers keep out of shared caches.
"""

from __future__ import annotations

import contextlib
import logging

from hlsd.auth.subjects import recording_subject
from hlsd.delivery.gate import TokenGate
from hlsd.delivery.request import Request
from hlsd.delivery.resource import (
    IMMUTABLE,
    LIVE_PLAYLIST,
    NO_STORE,
    PLAYLIST,
    FileBody,
    Refused,
    Resource,
    content_type,
    playlist_of,
)
from hlsd.infra.logs import clip
from hlsd.infra.statuses import status_of
from hlsd.media.errors import MediaError
from hlsd.recording import Exporter, RecordingError, Replay, ReplayCatalog
from hlsd.recording.replay import PLAYLIST as INDEX
from hlsd.recording.replay import ReplayVariant
from hlsd.storage import ObjectNotFound, StorageError
from hlsd.streams.segment import media_type

__all__ = ["LIVEMIX_PREFIX", "PREFIX", "LiveMixRecordingResolver", "RecordingResolver"]

log = logging.getLogger(__name__)

PREFIX = "/recordings/"
LIVEMIX_PREFIX = "/v1/vod/recording/"
_MP4 = content_type("video/mp4")
_GONE = "segment no longer stored"


class RecordingResolver:
    def __init__(self, *, catalog: ReplayCatalog, exporter: Exporter,
                 gate: TokenGate | None) -> None:
        self._catalog = catalog
        self._exporter = exporter
        self._gate = gate

    async def __call__(self, request: Request) -> Resource:
        rest = request.rest
        export = "/" not in rest and rest.endswith(".mp4")
        recording_id, _, path = rest.removesuffix(".mp4" if export else "").partition("/")
        return await self.resolve(request, recording_id, None if export else path)

    async def resolve(self, request: Request, recording_id: str,
                      path: str | None) -> Resource:
        """`path` under the recording, or None for its MP4 export."""
        if self._gate is not None:
            self._gate.admit(request, recording_subject(recording_id))
        replay = await self._catalog.replay(recording_id) if recording_id else None
        if replay is None:
            raise Refused(404, "no such recording")
        if path is None:
            return await self._export(request, replay, recording_id)
        folder, _, name = path.rpartition("/")
        if name == INDEX and not folder and replay.master is not None:
            playlist = replay.master
        else:
            variant = replay.variants.get(folder)
            if variant is None:
                raise Refused(404, "no such variant, or no segments yet")
            if name != INDEX:
                return await self._segment(variant, name)
            playlist = variant.playlist
        return playlist_of(playlist, LIVE_PLAYLIST if replay.growing else PLAYLIST)

    async def _segment(self, variant: ReplayVariant, name: str) -> Resource:
        key = variant.keys.get(name)
        if key is None:
            raise Refused(404, "no such segment")
        kind = content_type(media_type(name))
        path = self._catalog.local_path(key)
        if path is not None:
            return Resource(FileBody(path, missing=_GONE), kind, IMMUTABLE)
        try:
            data = await self._catalog.read(variant, name)
        except ObjectNotFound:
            raise Refused(404, _GONE) from None
        except StorageError:
            raise Refused(502, "the object store did not answer") from None
        return Resource(data, kind, IMMUTABLE)

    async def _export(self, request: Request, replay: Replay, recording_id: str) -> Resource:
        """The MP4, a file removed once the answer ends."""
        made = contextlib.AsyncExitStack()
        try:
            path = await made.enter_async_context(
                self._exporter.export(replay, request.query("variant")))
        except RecordingError as exc:
            raise Refused(status_of(exc), exc.message) from None
        except (MediaError, StorageError) as exc:
            log.error("export of recording %s failed: %s", clip(recording_id), clip(exc))
            raise Refused(500, f"the recording could not be exported: {exc}") from None
        return Resource(FileBody(path, missing="the export is gone",
                                 download=f"{recording_id}.mp4", release=made.aclose),
                        _MP4, NO_STORE)


class LiveMixRecordingResolver:
    """``/v1/vod/recording/{id}/vid.m3u8`` and what it names: `RecordingResolver`."""

    def __init__(self, recordings: RecordingResolver) -> None:
        self._recordings = recordings

    async def __call__(self, request: Request) -> Resource:
        recording_id, _, name = request.rest.partition("/")
        return await self._recordings.resolve(request, recording_id,
                                              INDEX if name == "vid.m3u8" else name)
