"""HTTP push: the files ffmpeg's HLS muxer uploads (``-method PUT|POST``) become
segments of a live stream.

An uploaded segment waits, unseen, until a playlist names it: only then is it complete
and known, with its duration (EXTINF) and time (PROGRAM-DATE-TIME, else the wall clock).
A master playlist gives the variants' attributes. Paths are relative to the stream:
``index.m3u8`` and ``seg-3.ts`` for one variant, ``720p/index.m3u8`` and ``720p/seg-3.ts``
for several, ``init.mp4`` for fMP4.
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hlsd.hls import MediaPlaylist, PlaylistError, parse_master, parse_media
from hlsd.hls.rules import is_master_playlist
from hlsd.infra.logs import clip
from hlsd.streams import RenditionInfo, StreamHub
from hlsd.streams.rendition import MAX_SEGMENT_DURATION, duration_problem
from hlsd.streams.stream import Stream

log = logging.getLogger(__name__)

STREAM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.~-]{0,127}$")
_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.~-]{0,127}$")
_MAX_DEPTH = 2
_RECENT = 64
_SEGMENT_TYPES = {".ts": "ts", ".m4s": "m4s", ".mp4": "m4s", ".aac": "aac", ".m4a": "m4s"}
_FIRST_PDT = datetime(1970, 1, 1, tzinfo=UTC)
_LAST_PDT = datetime(9999, 1, 1, tzinfo=UTC)
"""A pushed PROGRAM-DATE-TIME is taken between these: anything else is a broken clock,
and times past the last would overflow once the window's arithmetic adds to them."""


class IngestError(Exception):
    """A push the client must be told about; `status` is the HTTP status to send."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def validate_stream_id(stream: str) -> str:
    if not STREAM_ID.fullmatch(stream) or ".." in stream:
        raise IngestError("stream ids are 1-128 characters of A-Z a-z 0-9 _ . ~ -", status=400)
    return stream


def _out_of_bounds(playlist: MediaPlaylist) -> str | None:
    """What in a pushed playlist is past the live bounds, or None."""
    if playlist.target_duration > MAX_SEGMENT_DURATION:
        return (f"EXT-X-TARGETDURATION {playlist.target_duration} is more than "
                f"{MAX_SEGMENT_DURATION:.0f}")
    for seg in playlist.segments:
        if (problem := duration_problem(seg.duration)) is not None:
            return f"EXTINF of {seg.uri}: a segment's duration {problem}"
        pdt = seg.program_date_time
        if pdt is not None and not _FIRST_PDT <= pdt < _LAST_PDT:
            return (f"EXT-X-PROGRAM-DATE-TIME of {seg.uri} is not between "
                    f"{_FIRST_PDT.year} and {_LAST_PDT.year}")
    return None


def validate_path(path: str) -> str:
    parts = path.split("/")
    if len(parts) > _MAX_DEPTH or not all(_PART.fullmatch(p) and ".." not in p for p in parts):
        raise IngestError(f"invalid ingest path {clip(path)!r}: at most {_MAX_DEPTH} "
                          "parts of 1-128 characters of A-Z a-z 0-9 _ . ~ -", status=400)
    return path


@dataclass
class _Pending:
    """Uploads not yet named by a playlist, oldest first, bounded in bytes."""

    files: OrderedDict[str, tuple[float, bytes]] = field(default_factory=OrderedDict)
    bytes: int = 0


@dataclass
class _Feed:
    """What one stream's publisher has delivered so far, per rendition folder."""

    last_sequence: dict[str, int] = field(default_factory=dict)
    pending: _Pending = field(default_factory=_Pending)
    committed: dict[str, OrderedDict[str, None]] = field(default_factory=dict)
    """The publisher's recent segment paths per folder: a playlist whose newest segment
    is among them is a late copy of an older one (ffmpeg's uploads overlap)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Accepted:
    committed: int = 0


class HttpPushIngest:
    def __init__(self, hub: StreamHub, *, max_pending_bytes: int, max_feeds: int,
                 pending_ttl: float = 60.0, upload_grace: float = 2.0,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._hub = hub
        self._feeds: dict[str, _Feed] = {}
        self._max_pending = max_pending_bytes
        self._max_feeds = max_feeds
        self._pending_ttl = pending_ttl
        self._grace = upload_grace
        self._inflight: dict[tuple[str, str], asyncio.Event] = {}
        self._clock = clock
        self._wall = wall_clock

    def upload_started(self, stream_id: str, path: str) -> None:
        """A segment's body is streaming in (ffmpeg writes it while it encodes)."""
        validate_stream_id(stream_id)
        validate_path(path)
        self._inflight.setdefault((stream_id, path), asyncio.Event())

    def upload_finished(self, stream_id: str, path: str, body: bytes | None) -> None:
        """The body is whole (`body`), or the upload failed (None: nothing is kept)."""
        event = self._inflight.pop((stream_id, path), None)
        try:
            if body is not None:
                self._stash(stream_id, path, body)
        finally:
            if event is not None:
                event.set()

    async def receive_playlist(self, stream_id: str, path: str, body: bytes,
                               publisher: str) -> Accepted:
        validate_stream_id(stream_id)
        validate_path(path)
        try:
            text = body.decode("utf-8")
            if is_master_playlist(text):
                self._master(stream_id, path, text, publisher)
                return Accepted()
            playlist = parse_media(text)
        except (UnicodeDecodeError, PlaylistError, ValueError) as exc:
            raise IngestError(f"malformed playlist {path}: {clip(exc)}", status=400) from exc
        if (problem := _out_of_bounds(playlist)) is not None:
            raise IngestError(f"malformed playlist {path}: {problem}", status=400)
        folder = posixpath.dirname(path)
        for uri in {seg.uri for seg in playlist.segments}:
            validate_path(self._resolve(folder, uri))  # names as uploads may be named
        # ffmpeg ends a segment's upload and sends the playlist on another connection at
        # once: a named segment may still be arriving. Wait for those, briefly.
        await self._await_uploads(stream_id, path, playlist)
        stream = self._hub.publish(stream_id, publisher)
        accepted = self._commit(stream, path, playlist, publisher)
        stream.touch()
        return accepted

    async def _await_uploads(self, stream_id: str, path: str, playlist: MediaPlaylist) -> None:
        folder = posixpath.dirname(path)
        feed = self._feeds.get(stream_id)
        pending = feed.pending.files if feed else {}
        uris = [seg.uri for seg in playlist.segments[-3:]]
        # An init section's upload starts with the stream and ends with the first segment.
        uris += [i.uri for i in (playlist.init, *(s.init for s in playlist.segments)) if i]
        waits = []
        for uri in uris:
            item = self._resolve(folder, uri)
            event = self._inflight.get((stream_id, item))
            if event is not None and item not in pending:
                waits.append(event.wait())
        if waits:
            try:
                async with asyncio.timeout(self._grace):
                    await asyncio.gather(*waits)
            except TimeoutError:
                pass  # what is still missing is reported by the commit

    def delete(self, stream_id: str, path: str) -> None:
        """ffmpeg's ``delete_segments`` flag: the window is ours, so only forget uploads."""
        validate_stream_id(stream_id)
        feed = self._feeds.get(stream_id)
        if feed is not None:
            self._forget(feed.pending, validate_path(path))

    def _feed(self, stream_id: str) -> _Feed:
        feed = self._feeds.get(stream_id)
        if feed is None:
            if len(self._feeds) >= self._max_feeds:
                self.sweep()
            if len(self._feeds) >= self._max_feeds:
                raise IngestError("too many streams are being pushed to this node", status=503)
            feed = self._feeds[stream_id] = _Feed()
        return feed

    def sweep(self) -> None:
        """Forget what was pushed for streams the hub no longer has, once their last
        upload is older than the pending bound's age limit."""
        stale_before = self._clock() - self._pending_ttl
        for stream_id, feed in list(self._feeds.items()):
            newest = max((t for t, _ in feed.pending.files.values()), default=float("-inf"))
            if self._hub.get(stream_id) is None and newest < stale_before:
                del self._feeds[stream_id]

    def _stash(self, stream_id: str, path: str, body: bytes) -> None:
        feed = self._feed(stream_id)
        pending = feed.pending
        now = self._clock()
        stale_before = now - self._pending_ttl
        self._forget(pending, path)
        while pending.files and (pending.bytes + len(body) > self._max_pending
                                 or next(iter(pending.files.values()))[0] < stale_before):
            oldest = next(iter(pending.files))
            log.warning("stream %r: dropping %s, never named by a playlist", stream_id, oldest)
            self._forget(pending, oldest)
        if len(body) > self._max_pending:
            raise IngestError("upload larger than the pending-upload bound", status=413)
        pending.files[path] = (now, body)
        pending.bytes += len(body)

    @staticmethod
    def _forget(pending: _Pending, path: str) -> None:
        old = pending.files.pop(path, None)
        if old is not None:
            pending.bytes -= len(old[1])

    def uncommitted(self, stream_id: str, path: str, playlist: MediaPlaylist) -> list[str]:
        """URIs of `playlist` not committed yet (the ones a pulling ingest must fetch)."""
        feed = self._feeds.get(stream_id)
        last = feed.last_sequence.get(posixpath.dirname(path), -1) if feed else -1
        first = playlist.media_sequence
        if first + len(playlist.segments) - 1 < last:
            return [seg.uri for seg in playlist.segments]  # numbering went back: a restart
        return [seg.uri for n, seg in enumerate(playlist.segments) if first + n > last]

    def _master(self, stream_id: str, path: str, text: str, publisher: str) -> None:
        master = parse_master(text)
        stream = self._hub.publish(stream_id, publisher)
        base = posixpath.dirname(path)
        for variant in master.variants:
            folder = posixpath.dirname(posixpath.normpath(posixpath.join(base, variant.uri)))
            validate_path(folder or "x")
            stream.rendition(folder).info = RenditionInfo(
                bandwidth=variant.bandwidth, average_bandwidth=variant.average_bandwidth,
                codecs=variant.codecs, resolution=variant.resolution,
                frame_rate=variant.frame_rate)

    def _commit(self, stream: Stream, path: str, playlist: MediaPlaylist,
                publisher: str) -> Accepted:
        feed = self._feed(stream.name)
        folder = posixpath.dirname(path)
        rendition = stream.rendition(folder)
        last = feed.last_sequence.get(folder, -1)
        first = playlist.media_sequence
        recent = feed.committed.setdefault(folder, OrderedDict())
        newest = self._resolve(folder, playlist.segments[-1].uri) if playlist.segments else ""
        if newest in recent and newest not in feed.pending.files:
            # Already committed, and not uploaded again (a restarted publisher reuses its
            # names, with new uploads): a late copy of an older playlist.
            if playlist.endlist:
                rendition.end()
            return Accepted()
        if playlist.segments and first + len(playlist.segments) - 1 < last:
            # The numbering went back: a new publishing session, a restart or a second
            # publisher. The publish policy decides; if it goes on, after a break.
            self._hub.restart(stream, publisher)
            feed.last_sequence.clear()
            recent.clear()
            rendition.mark_discontinuity()
            last = first - 1
        if rendition.ended and any(first + i > last for i in range(len(playlist.segments))):
            rendition.resume(stream.session)  # it said ENDLIST, and then went on
        committed = 0
        missing: list[str] = []
        init_uri = playlist.init.uri if playlist.init else None
        for offset, seg in enumerate(playlist.segments):
            sequence = first + offset
            if sequence <= last:
                continue
            init_uri = seg.init.uri if seg.init else init_uri
            if init_uri is not None:
                init_path = self._resolve(folder, init_uri)
                init = feed.pending.files.get(init_path)
                if init is not None:
                    rendition.set_init(posixpath.basename(init_path), init[1])
                elif rendition.segments == () and not committed:
                    missing.append(init_uri)
                    break
            seg_path = self._resolve(folder, seg.uri)
            upload = feed.pending.files.get(seg_path)
            if upload is None:
                missing.append(seg.uri)
                rendition.mark_discontinuity()
                last = sequence
                continue
            self._forget(feed.pending, seg_path)
            recent[seg_path] = None
            while len(recent) > _RECENT:
                recent.popitem(last=False)
            rendition.append(
                duration=seg.duration, data=upload[1],
                program_date_time=seg.program_date_time
                or rendition.air_time(seg.duration, self._wall()),
                extension=_SEGMENT_TYPES.get(posixpath.splitext(seg_path)[1], "ts"),
                target_hint=playlist.target_duration, discontinuity=seg.discontinuity)
            committed += 1
            last = sequence
        feed.last_sequence[folder] = last
        if playlist.endlist:
            # The publisher said it is done: the stream ends now, not after a timeout.
            rendition.end()
        if missing:
            raise IngestError(f"playlist names segments that were not uploaded: "
                              f"{', '.join(missing[:5])}", status=400)
        return Accepted(committed=committed)

    @staticmethod
    def _resolve(folder: str, uri: str) -> str:
        if "://" in uri or uri.startswith("/"):
            # ffmpeg names segments relative to the playlist; an absolute URI is not ours.
            uri = posixpath.basename(uri.split("?")[0])
        return posixpath.normpath(posixpath.join(folder, uri.split("?")[0])).lstrip("/")

