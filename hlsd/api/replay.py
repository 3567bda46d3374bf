"""``GET /recordings/{id}/…`` and ``/recordings/{id}.mp4``: recordings replayed as HLS
and exported as MP4, as plain ASGI. ``/v1/vod/recording/{id}/vid.m3u8`` is LiveMix's
name for the same playlist.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from starlette.responses import FileResponse
from starlette.types import Receive, Scope, Send

from hlsd.api._asgi import Cors, request_headers, respond, respond_error, send_playlist
from hlsd.api._gate import TokenGate, recording_subject
from hlsd.api._query_token import TOKEN_HEADERS
from hlsd.api.errors import status_of
from hlsd.infra.logs import clip
from hlsd.media.errors import MediaError
from hlsd.recording import Exporter, RecordingError, Replay, ReplayCatalog
from hlsd.recording.replay import PLAYLIST
from hlsd.storage import ObjectNotFound, StorageError
from hlsd.streams.segment import media_type

log = logging.getLogger(__name__)

PREFIX = "/recordings/"
_WANTED = TOKEN_HEADERS | {b"if-none-match", b"origin"}
_M3U8 = (b"content-type", b"application/vnd.apple.mpegurl")
# A stopped recording's playlist changes only if it is deleted; a growing one every
# segment. Segment URIs are never reused.
# Gated recordings keep out of shared caches.
_FINISHED = {False: (b"cache-control", b"public, max-age=60"),
             True: (b"cache-control", b"private, max-age=60")}
_GROWING = {False: (b"cache-control", b"public, max-age=1"),
            True: (b"cache-control", b"private, max-age=1")}
_IMMUTABLE = {False: "public, max-age=31536000, immutable",
              True: "private, max-age=31536000, immutable"}


class RecordingPlayback:
    """With a `gate`, playback and export need a token bound to ``recording/<id>``
    (header, bearer, or ``?token=``, which then travels in the playlists' URIs)."""

    def __init__(self, *, catalog: ReplayCatalog, exporter: Exporter, cors: Cors,
                 gate: TokenGate | None) -> None:
        self._catalog = catalog
        self._exporter = exporter
        self._cors = cors
        self._gate = gate
        self._gated = gate is not None
        self._immutable = _IMMUTABLE[self._gated]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = request_headers(scope, _WANTED)
        cors = self._cors.headers(headers.get(b"origin"))
        rest = scope["path"][len(PREFIX):]
        export = "/" not in rest and rest.endswith(".mp4")
        recording_id, _, path = rest.removesuffix(".mp4" if export else "").partition("/")
        query_token = None
        if self._gate is not None:
            refusal, query_token = self._gate.admit(scope, headers,
                                                    recording_subject(recording_id))
            if refusal is not None:
                await respond_error(send, refusal[0], refusal[1], cors)
                return
        if export:
            await self._export(scope, receive, send, recording_id, cors)
            return
        replay = await self._catalog.replay(recording_id) if recording_id else None
        if replay is None:
            await respond_error(send, 404, "no such recording", cors)
            return
        folder, _, name = path.rpartition("/")
        head = scope["method"] == "HEAD"
        if name == PLAYLIST and not folder and replay.master is not None:
            playlist = replay.master
        else:
            variant = replay.variants.get(folder)
            if variant is None:
                await respond_error(send, 404, "no such variant, or no segments yet", cors)
                return
            if name != PLAYLIST:
                await self._segment(scope, receive, send, replay, folder, name, cors)
                return
            playlist = variant.playlist
        caching = (_GROWING if replay.growing else _FINISHED)[self._gated]
        if query_token is not None:
            assert self._gate is not None
            playlist = self._gate.playlists.with_token(playlist, query_token)
        await send_playlist(send, playlist.body, playlist.etag, [_M3U8, caching, *cors],
                            headers.get(b"if-none-match"), head=head)

    async def _segment(self, scope: Scope, receive: Receive, send: Send, replay: Replay,
                       folder: str, name: str, cors: list[tuple[bytes, bytes]]) -> None:
        variant = replay.variants[folder]
        key = variant.keys.get(name)
        if key is None:
            await respond_error(send, 404, "no such segment", cors)
            return
        segment_type = media_type(name)
        extra = {"cache-control": self._immutable,
                 **{k.decode(): v.decode() for k, v in cors}}
        path = self._catalog.local_path(key)
        if path is not None:
            if not path.is_file():
                await respond_error(send, 404, "segment no longer stored", cors)
                return
            await FileResponse(path, media_type=segment_type, headers=extra)(scope, receive,
                                                                             send)
            return
        try:
            data = await self._catalog.read(variant, name)
        except ObjectNotFound:
            await respond_error(send, 404, "segment no longer stored", cors)
            return
        except StorageError:
            await respond_error(send, 502, "the object store did not answer", cors)
            return
        await respond(send, 200, [(b"content-type", segment_type.encode()),
                                  (b"cache-control", self._immutable.encode()), *cors], data,
                      head=scope["method"] == "HEAD")

    async def _export(self, scope: Scope, receive: Receive, send: Send, recording_id: str,
                      cors: list[tuple[bytes, bytes]]) -> None:
        replay = await self._catalog.replay(recording_id) if recording_id else None
        if replay is None:
            await respond_error(send, 404, "no such recording", cors)
            return
        try:
            async with self._exporter.export(replay, _query_value(scope, "variant")) as path:
                response = FileResponse(
                    path, media_type="video/mp4", filename=f"{recording_id}.mp4",
                    headers={"cache-control": "no-store",
                             **{k.decode(): v.decode() for k, v in cors}})
                # Streamed here, not handed to the server (pathsend): the file is removed
                # as soon as this returns.
                extensions = {k: v for k, v in scope.get("extensions", {}).items()
                              if k != "http.response.pathsend"}
                await response({**scope, "extensions": extensions}, receive, send)
        except RecordingError as exc:
            await respond_error(send, status_of(exc), exc.message, cors)
        except (MediaError, StorageError) as exc:
            log.error("export of recording %s failed: %s", clip(recording_id), clip(exc))
            await respond_error(send, 500, f"the recording could not be exported: {exc}", cors)


def _query_value(scope: Scope, name: str) -> str | None:
    values = parse_qs(scope["query_string"].decode("latin-1")).get(name)
    return values[0] if values else None


class LiveMixRecordingPlayback:
    """``/v1/vod/recording/{id}/vid.m3u8`` and what it names: `RecordingPlayback`."""

    PREFIX = "/v1/vod/recording/"

    def __init__(self, playback: RecordingPlayback) -> None:
        self._playback = playback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rest = scope["path"][len(self.PREFIX):]
        recording_id, _, name = rest.partition("/")
        if name == "vid.m3u8":
            name = PLAYLIST
        await self._playback({**scope, "path": f"{PREFIX}{recording_id}/{name}"},
                             receive, send)
