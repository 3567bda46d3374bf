"""What ``/openapi.json`` says of the playback paths that `hlsd.delivery.Playback`
serves before the framework (``/hls``, ``/live``, ``/vod``, ``/play``, ``/recordings``,
LiveMix's ``/v1/vod``).

Those are plain ASGI for speed, so FastAPI never sees them: their operations are
declared here and added to the document FastAPI makes (`document_playback`), and
nothing is routed through the framework. Each operation carries ``x-hlsd-fast-path``.
GET is declared; HEAD is answered the same way without a body. Every file takes one
byte range (206, or 416 past its end) and answers If-None-Match with 304 when it has
an ETag (every playlist does). Errors are the ``{"error"}`` shape of
`hlsd.infra.asgi.respond_error`. ``/live`` also says what Low-Latency HLS adds there
(`hlsd.delivery.lowlatency`): the delivery directives of a playlist request, parts and
the hinted part, and how their answers may be cached.
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


_DIRECTIVES = [
    _query(
        "_HLS_msn", "LL-HLS blocking playlist reload (rfc8216bis §6.2.5.2): the answer is "
        "held until the playlist holds segment M (its Media Sequence Number) whole, or with "
        "`_HLS_part` that part of it or a later one, then is that playlist at once (every "
        "request held for it is released together); at most three target durations (503, "
        "`Retry-After: 1`). 400: not a decimal integer of up to 20 digits, or more than two "
        "segments past the newest. Once the stream ends, the ended playlist answers.",
        type="integer", minimum=0),
    _query(
        "_HLS_part", "With `_HLS_msn` (400 alone): the Part Index in segment M to wait for, "
        "from 0 (one past a segment's last part stands for the next segment's first). 400 "
        "past the Advance Part Limit: three parts past the newest, or three seconds of "
        "parts when they are shorter than a second.",
        type="integer", minimum=0),
    _query(
        "_HLS_skip", "A delta update (rfc8216bis §6.2.5.1), alone or with `_HLS_msn`: "
        "EXT-X-SKIP stands for the segments older than the Skip Boundary (CAN-SKIP-UNTIL, "
        "six target durations); `v2` also skips date ranges (there are none: it lists none "
        "removed). Any other value asks for the whole playlist.",
        enum=["YES", "v2"]),
]
"""The delivery directives of a live media playlist request; a playlist without parts
(classic), a master and a channel's playlists ignore them."""
_CACHE_CONTROL = {"cache-control": {"schema": _TEXT, "description": (
    "A live playlist `public, max-age=1`; the answer to a blocking request (`_HLS_msn`) "
    "is the one version of the playlist its URL names, `max-age` six target durations "
    "(rfc8216bis Appendix B.1). Segments, init sections and parts keep their names for "
    "the stream's life: `max-age=31536000, immutable`. `private` instead of `public` "
    "when a token is needed.")}}
_HELD = {
    "400": _error("A delivery directive that is not a number, `_HLS_part` without "
                  "`_HLS_msn`, or one asking too far ahead"),
    "503": {**_error("Held three target durations without the playlist reaching what was "
                     "asked for, or the stream has 4096 requests held already"),
            "headers": {"retry-after": {"schema": _TEXT, "description": "`1`"}}},
}
_LOW_LATENCY = (
    " A stream hlsd cuts itself (RTMP, SRT, `PUT /ingest/{stream}.ts`) is also Low-Latency "
    "HLS at the same URLs: its playlists carry EXT-X-PART-INF, EXT-X-SERVER-CONTROL "
    "(CAN-BLOCK-RELOAD, PART-HOLD-BACK, HOLD-BACK, CAN-SKIP-UNTIL), EXT-X-PART for the "
    "newest parts, one EXT-X-PRELOAD-HINT naming the next part and, with several "
    "variants, EXT-X-RENDITION-REPORTs; classic players play them as any live playlist, "
    "and the query parameters `_HLS_msn`, `_HLS_part` and `_HLS_skip` (rfc8216bis "
    "§6.2.5) ask for a blocking reload or a delta update (a playlist without parts, "
    "a master and a channel's playlists ignore them).")


def _live() -> dict[str, dict[str, Op]]:
    path = _path("path", "A variant's playlist (`<variant>/index.m3u8`, which takes the "
                         "LL-HLS query parameters too), a segment, an init section or an "
                         "LL-HLS part (`<session>-p<n>.m4s`, EXT-X-PART or "
                         "EXT-X-PRELOAD-HINT), by the name the playlists give it.",
                 maxLength=1024)
    playlist = _playlist(
        "A live stream or channel",
        "The media playlist of a single-variant stream, or the master of a multivariant "
        "one. Streams pushed over HTTP, LiveMix, RTMP, SRT or the websocket, relayed ones "
        "and VOD-to-live channels all play here. Public unless `live.access` is `token`."
        + _LOW_LATENCY,
        "live", [_STREAM, *_DIRECTIVES, *_token(_LIVE_GATE)], "live_playlist")
    files = _get(
        "A live stream's variant playlists, segments and parts",
        "Segment, init section and part names are unique for the stream's life (cached "
        "for a year). A part is served while its segment is available; the part the "
        "playlist hints (EXT-X-PRELOAD-HINT) is held until it exists (at most three "
        "target durations, then 404) and answered the moment it does.",
        "live", [_STREAM, path, *_DIRECTIVES, *_token(_LIVE_GATE)],
        {"200": {"description": "a playlist, a segment, an init section or a part",
                 "content": _content(*_LIVE_TYPES)}},
        "live_file")
    for item in (playlist, files):
        responses = item["get"]["responses"]
        responses["200"] = {**responses["200"], "headers": _CACHE_CONTROL}
        responses.update(_HELD)
    return {"/live/{stream}/index.m3u8": playlist, "/live/{stream}/{path}": files}


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
