"""Subtitles given with an asset: WebVTT or SRT in, one WebVTT file per language out,
added to both manifests as a sidecar text track.

HLS gets an EXT-X-MEDIA TYPE=SUBTITLES rendition (RFC 8216 §4.3.4.1) whose media
playlist is the whole file as one segment, and every variant names the group; DASH gets
a text AdaptationSet (ISO/IEC 23009-1 §5.3.3) with the file as its BaseURL. Both are
what hls.js, Safari, dash.js and ExoPlayer read.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from xml.sax.saxutils import escape, quoteattr

from hlsd.hls import (
    MasterPlaylist,
    MediaPlaylist,
    MediaSegment,
    MediaType,
    PlaylistType,
    Rendition,
    parse_master,
    render_master,
    render_media,
)

__all__ = ["GROUP", "MAX_BYTES", "SubtitleError", "Track", "add_to_master", "add_to_mpd",
           "media_playlist", "subtitles_key", "to_webvtt", "valid_language"]

GROUP = "subs"
MAX_BYTES = 4 * 1024 * 1024
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")
_SRT_TIME = re.compile(r"(\d{1,2}):(\d{2}):(\d{2})[,.](\d{3})")
_ADAPTATION_ID = re.compile(r'<AdaptationSet\b[^>]*\bid="(\d+)"')


class SubtitleError(ValueError):
    """A file that is neither WebVTT nor SRT, or a language tag that is no BCP 47 tag."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Track:
    language: str
    """A BCP 47 tag (``en``, ``pt-BR``)."""
    name: str
    """What players list it as."""
    uri: str
    """The WebVTT file, relative to the manifests."""
    playlist: str
    """Its HLS media playlist, relative to the master."""


def subtitles_key(asset_id: str, language: str) -> str:
    """Where subtitles given with an asset wait in the object store for its processing."""
    return f"assets/{asset_id}/subtitles/{language}.vtt"


def valid_language(tag: str) -> bool:
    return _LANGUAGE.fullmatch(tag) is not None


def to_webvtt(data: bytes) -> str:
    """`data` (WebVTT, or SRT) as WebVTT text."""
    if len(data) > MAX_BYTES:
        raise SubtitleError(f"a subtitles file is at most {MAX_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SubtitleError("subtitles must be UTF-8 text") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.startswith("WEBVTT"):
        return text if text.endswith("\n") else text + "\n"
    if not _SRT_TIME.search(text) or "-->" not in text:
        raise SubtitleError("the file is neither WebVTT nor SRT")
    cues = []
    for block in re.split(r"\n{2,}", text.strip()):
        lines = block.split("\n")
        if lines and lines[0].strip().isdigit():
            lines = lines[1:]  # SRT's cue number
        if not lines or "-->" not in lines[0]:
            continue
        timing = _SRT_TIME.sub(lambda m: f"{int(m[1]):02d}:{m[2]}:{m[3]}.{m[4]}", lines[0])
        cues.append("\n".join([timing, *lines[1:]]))
    if not cues:
        raise SubtitleError("the SRT file holds no cues")
    return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"


def media_playlist(track: Track, duration: float) -> str:
    """The subtitles rendition's playlist: the whole file, one segment long."""
    seconds = max(duration, 1.0)
    return render_media(MediaPlaylist(
        target_duration=math.ceil(seconds), playlist_type=PlaylistType.VOD, endlist=True,
        segments=(MediaSegment(uri=track.uri, duration=seconds),)))


def add_to_master(master: str, tracks: Sequence[Track]) -> str:
    """`master` with a SUBTITLES group holding `tracks`, named by every variant."""
    if not tracks:
        return master
    model: MasterPlaylist = parse_master(master)
    renditions = tuple(Rendition(type=MediaType.SUBTITLES, group_id=GROUP, name=t.name,
                                 language=t.language, uri=t.playlist,
                                 default=n == 0, autoselect=True)
                       for n, t in enumerate(tracks))
    return render_master(replace(
        model, renditions=(*model.renditions, *renditions),
        variants=tuple(replace(v, subtitles=GROUP) for v in model.variants)))


def add_to_mpd(mpd: str, tracks: Sequence[Track]) -> str:
    """`mpd` (as ffmpeg wrote it) with a text AdaptationSet per track, in its Period."""
    if not tracks:
        return mpd
    end = mpd.find("</Period>")
    if end < 0:
        raise SubtitleError("the MPD has no Period")
    taken = [int(i) for i in _ADAPTATION_ID.findall(mpd)]
    first = max(taken, default=-1) + 1
    added = "".join(
        f'\t\t<AdaptationSet id="{first + n}" contentType="text" mimeType="text/vtt" '
        f"lang={quoteattr(t.language)}>\n"
        '\t\t\t<Role schemeIdUri="urn:mpeg:dash:role:2011" value="subtitle" />\n'
        f'\t\t\t<Representation id={quoteattr("subs-" + t.language)} bandwidth="256">\n'
        f"\t\t\t\t<BaseURL>{escape(t.uri)}</BaseURL>\n"
        "\t\t\t</Representation>\n\t\t</AdaptationSet>\n"
        for n, t in enumerate(tracks))
    line_start = mpd.rfind("\n", 0, end) + 1
    return mpd[:line_start] + added + mpd[line_start:]
