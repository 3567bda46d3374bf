"""What ``/openapi.json`` says of the playback paths that `hlsd.delivery.Playback`
serves before the framework (``/hls``, ``/live``, ``/vod``, ``/play``, ``/recordings``,
LiveMix's ``/v1/vod``).

Those are plain ASGI for speed, so FastAPI never sees them: their operations are
declared here and added to the document FastAPI makes (`document_playback`), and
nothing is routed through the framework. Each operation carries ``x-hlsd-fast-path``.
GET is declared; HEAD is answered the same way without a body. Every file takes one
byte range (206, or 416 past its end) and answers If-None-Match with 304 when it has
an ETag (every playlist does). Errors are the ``{"error"}`` shape of
`hlsd.infra.asgi.respond_error`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI

from hlsd.api._openapi import ERROR_SCHEMA, JSON
from hlsd.assets.processor import OUTPUT_TYPES
from hlsd.streams.segment import SEGMENT_MEDIA_TYPES

__all__ = ["PLAYBACK_PATHS", "document_playback"]

M3U8 = "application/vnd.apple.mpegurl"
_BINARY = {"type": "string", "format": "binary"}
_TEXT = {"type": "string"}

Op = dict[str, Any]


def _content(*media_types: str) -> dict[str, Any]:
    return {kind: {"schema": _TEXT if kind.startswith(("application/vnd.apple", "text/",
                                                      "application/dash"))
                   else _BINARY} for kind in media_types}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ERROR_SCHEMA}}}


def _path(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "minLength": 1, **schema}}


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "string", **schema}}


def _token(when: str) -> list[dict[str, Any]]:
    """The playback token, where it may come from (also ``Authorization: Bearer``,
    which OpenAPI does not let a parameter declare)."""
    return [
        {"name": "x-gostreamer-token", "in": "header", "required": False,
         "description": f"The playback token ({when}); it may also come as "
                        "`Authorization: Bearer <token>` or `?token=`.",
         "schema": _TEXT},
        _query("token", f"The playback token ({when}), for players that cannot set "
                        "headers: the playlists returned then carry it in their URIs."),
    ]


_NOT_MODIFIED = {"description": "Not Modified: the ETag matches If-None-Match"}
_REFUSED = _error("Refused: no such stream, file or segment (404, 410 once gone), a "
                  "missing (401) or wrong (403) token; the reason in `error`")
_RANGE = {"name": "range", "in": "header", "required": False,
          "description": "One byte range (`bytes=a-b`, `bytes=a-`, `bytes=-n`); several "
                         "ranges are answered with the whole file.", "schema": _TEXT}
_UNSATISFIABLE = {"description": "the range starts past the end (no body; `Content-Range: "
                                 "bytes */<size>`)"}


def _get(summary: str, description: str, tag: str, parameters: list[dict[str, Any]],
         responses: dict[str, Any], operation_id: str, *, ranged: bool = True,
         ) -> dict[str, Op]:
    """A GET (and HEAD); `ranged`: the answer is a file, which takes one byte range."""
    if ranged:
        parameters = [*parameters, _RANGE]
        responses = {**responses, "304": _NOT_MODIFIED,
                     "206": {"description": "the byte range asked for",
                             "content": responses["200"]["content"]},
                     "416": _UNSATISFIABLE}
    return {"get": {
        "tags": [tag], "summary": summary, "description": description,
        "operationId": operation_id, "parameters": parameters,
        "responses": {**responses, "4XX": _REFUSED}, "x-hlsd-fast-path": True}}


def _playlist(summary: str, description: str, tag: str, parameters: list[dict[str, Any]],
              operation_id: str) -> dict[str, Op]:
    return _get(summary, description, tag, parameters, {
        "200": {"description": "the playlist (with an ETag)", "content": _content(M3U8)}},
        operation_id)


_LIVE_TYPES = sorted({M3U8, "video/mp4", "application/octet-stream",
                      *SEGMENT_MEDIA_TYPES.values()})
_ASSET_TYPES = sorted({"application/octet-stream", *OUTPUT_TYPES.values()})
_STREAM = _path("stream", "A live stream's id, as one path segment (percent-encode a `/` in "
                          "a websocket stream id: `room%2Fcam`).", maxLength=255)
_ASSET = _path("asset", "An asset's id.")
_RECORDING = _path("recording_id", "A recording's id.")
_SOURCE = _path("source_id", "A LiveMix video source's id.")
_LIVE_GATE = "needed when `live.access` is `token`: a token bound to `live/<stream>`"
_RECORDING_GATE = ("needed when `recording.access` is `token`: a token bound to "
                   "`recording/<id>`")
_ASSET_GATE = "needed for an asset whose access is `token`: a token bound to `asset/<id>`"


def _hls() -> dict[str, dict[str, Op]]:
    file = _path("file", "`index.m3u8` (master), `playlist.m3u8` (media), "
                         "`subtitles.m3u8`, `seg-<n>.ts` or `sub-<n>.vtt`, as the playlists "
                         "name them. `/hls/<rid>` alone redirects (307) to the master.",
                 pattern=r"^(index|playlist|subtitles)\.m3u8$|^seg-[0-9]{1,7}\.ts$"
                         r"|^sub-[0-9]{1,7}\.vtt$")
    rid = _path("rid", "The stream's rid, from `POST /api/token` or `/api/batch`.",
                maxLength=4096)
    return {"/hls/{rid}/{file}": _get(
        "On-demand HLS (Go-HLS-Streamer): playlists, segments, subtitles",
        "Token-gated, always. Playlists are rendered once and served with an ETag; a "
        "segment is built on first request (remux, or transcode where HLS needs it) and "
        "kept.",
        "gostreamer", [rid, file, *_token("always needed: a token bound to this rid")],
        {"200": {"description": "a playlist, an MPEG-TS segment or a WebVTT segment",
                 "content": _content(M3U8, "video/mp2t", "text/vtt")},
         "5XX": _error("The upstream media could not be fetched or packaged (502, 503, "
                       "504, 507 past a cache ceiling)")},
        "hls_file")}


def _live() -> dict[str, dict[str, Op]]:
    path = _path("path", "A variant's playlist (`<variant>/index.m3u8`) or a segment or "
                         "init section, by the name the playlists give it.", maxLength=1024)
    segments = {"200": {"description": "a playlist, a segment or an init section",
                        "content": _content(*_LIVE_TYPES)}}
    return {
        "/live/{stream}/index.m3u8": _playlist(
            "A live stream or channel",
            "The media playlist of a single-variant stream, or the master of a "
            "multivariant one. Streams pushed over HTTP, LiveMix, RTMP, SRT or the "
            "websocket, relayed ones and VOD-to-live channels all play here. Public "
            "unless `live.access` is `token`.",
            "live", [_STREAM, *_token(_LIVE_GATE)], "live_playlist"),
        "/live/{stream}/{path}": _get(
            "A live stream's variant playlists and segments",
            "Segment names are unique for the stream's life (cached for a year).",
            "live", [_STREAM, path, *_token(_LIVE_GATE)], segments, "live_file"),
    }


def _assets() -> dict[str, dict[str, Op]]:
    path = _path("path", "A file the master or the MPD names (playlists, CMAF init and "
                         "media segments, subtitles, the poster, thumbnails).",
                 maxLength=1024)
    return {
        "/vod/{asset}/index.m3u8": _playlist(
            "A ready asset as HLS", "The master playlist of the asset's ABR ladder.",
            "assets", [_ASSET, *_token(_ASSET_GATE)], "vod_hls"),
        "/vod/{asset}/manifest.mpd": _get(
            "A ready asset as DASH", "The MPD of the asset's ABR ladder (the same CMAF "
            "segments as the HLS master).", "assets", [_ASSET, *_token(_ASSET_GATE)],
            {"200": {"description": "the MPD (with an ETag)",
                     "content": _content("application/dash+xml")}}, "vod_dash"),
        "/vod/{asset}/{path}": _get(
            "A ready asset's files", "Immutable once the asset is ready (cached for a "
            "year unless gated).", "assets", [_ASSET, path, *_token(_ASSET_GATE)],
            {"200": {"description": "the file", "content": _content(*_ASSET_TYPES)},
             "502": _error("the object store did not answer")}, "vod_file"),
        "/play/{asset}": _get(
            "A ready asset, HLS or DASH by client",
            "Redirects Safari and iOS to HLS, Android and ExoPlayer to DASH, others to "
            "HLS.", "assets",
            [_ASSET, _query("format", "Decides instead of the User-Agent.",
                            enum=["hls", "dash"]),
             _query("token", "Carried into the URL redirected to.")],
            {"302": {"description": "to `/vod/<asset>/index.m3u8` or `manifest.mpd`",
                     "headers": {"location": {"schema": _TEXT}}}}, "play_asset",
            ranged=False),
    }


def _recordings() -> dict[str, dict[str, Op]]:
    path = _path("path", "A variant's playlist (`<variant>/index.m3u8`) or a segment, by "
                         "the name the playlists give it.", maxLength=1024)
    return {
        "/recordings/{recording_id}/index.m3u8": _playlist(
            "A recording as HLS",
            "A master when the stream had several variants, else the media playlist; a "
            "recording still under way grows (EVENT playlist), a stopped one is VOD. "
            "Public unless `recording.access` is `token`.",
            "recordings", [_RECORDING, *_token(_RECORDING_GATE)], "recording_playlist"),
        "/recordings/{recording_id}/{path}": _get(
            "A recording's variant playlists and segments", "Segments are immutable.",
            "recordings", [_RECORDING, path, *_token(_RECORDING_GATE)],
            {"200": {"description": "a playlist or a segment",
                     "content": _content(*_LIVE_TYPES)},
             "502": _error("the object store did not answer")}, "recording_file"),
        "/recordings/{recording_id}.mp4": _get(
            "A recording exported as one MP4", "Joined without re-encoding, up to "
            "`recording.max_export_bytes`.", "recordings",
            [_RECORDING, _query("variant", "Which variant (default: the best).",
                                maxLength=255), *_token(_RECORDING_GATE)],
            {"200": {"description": "the MP4 (a download)", "content": _content("video/mp4")},
             "5XX": _error("the recording could not be exported")}, "recording_mp4"),
    }


def _livemix() -> dict[str, dict[str, Op]]:
    path = _path("path", "A segment the playlist names.", maxLength=1024)
    return {
        "/v1/vod/live/{source_id}/vid.m3u8": _playlist(
            "A LiveMix source's live stream",
            "The live stream of a source that is streaming (`/live/<its name>/`).",
            "livemix", [_SOURCE, *_token(_LIVE_GATE)], "livemix_live_playlist"),
        "/v1/vod/live/{source_id}/{path}": _get(
            "A LiveMix source's segments", "As `/live/{stream}/{path}`.", "livemix",
            [_SOURCE, path, *_token(_LIVE_GATE)],
            {"200": {"description": "a playlist or a segment",
                     "content": _content(*_LIVE_TYPES)}}, "livemix_live_file"),
        "/v1/vod/recording/{recording_id}/vid.m3u8": _playlist(
            "A LiveMix recording", "As `/recordings/{recording_id}/index.m3u8`.",
            "livemix", [_RECORDING, *_token(_RECORDING_GATE)],
            "livemix_recording_playlist"),
        "/v1/vod/recording/{recording_id}/{path}": _get(
            "A LiveMix recording's segments", "As `/recordings/{recording_id}/{path}`.",
            "livemix", [_RECORDING, path, *_token(_RECORDING_GATE)],
            {"200": {"description": "a playlist or a segment",
                     "content": _content(*_LIVE_TYPES)},
             "502": _error("the object store did not answer")},
            "livemix_recording_file"),
    }


PLAYBACK_PATHS: dict[str, dict[str, Op]] = {
    **_hls(), **_live(), **_assets(), **_recordings(), **_livemix()}
"""Every playback path `hlsd.delivery.Playback` serves, as OpenAPI path items."""


def document_playback(app: FastAPI, paths: Iterable[tuple[str, dict[str, Op]]] | None = None,
                      ) -> None:
    """Make ``app.openapi()`` (``/openapi.json``, ``/docs``) include `PLAYBACK_PATHS`:
    the document FastAPI makes, plus these, made once."""
    extra = dict(paths if paths is not None else PLAYBACK_PATHS.items())
    made: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = made()
            document["paths"] = {**document["paths"], **extra}
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
