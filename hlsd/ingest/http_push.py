"""HTTP push: the files ffmpeg's HLS muxer uploads (``-method PUT|POST``) become
segments of a live stream.

An uploaded segment waits, unseen, until a playlist names it: only then is it complete
and known, with its duration (EXTINF) and time (PROGRAM-DATE-TIME, else the wall clock).
A master playlist gives the variants' attributes. Paths are relative to the stream:
``index.m3u8`` and ``seg-3.ts`` for one variant, ``720p/index.m3u8`` and ``720p/seg-3.ts``
for several, ``init.mp4`` for fMP4.

Arrival order does not matter, within bounds. A buffering proxy (nginx's default) sends
each upload on only once it has it whole, so a playlist often arrives before the segment
it names. Such a segment is awaited: the playlist is accepted (202, naming it), later
segments queue behind it in sequence order, and it is committed when it arrives, in its
place. One still missing after `wait_durations` target durations, or with more than
`max_awaited` segments queued behind it, is given up: the stream goes on after a
discontinuity, the loss is counted in ``/metrics`` and logged once, and its upload, should
it still come, is refused (410). So a 2xx for a segment upload means it will be in the
stream once a playlist names it; where a bound forbids that, the upload is refused
instead (507 past ``live.max_pending_bytes``) or, if it was already acknowledged (never
named within the pending TTL, or its stream ended), the loss is counted and logged.
An ENDLIST ends a variant once nothing it named is still awaited.
"""

from __future__ import annotations

import logging
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass

from hlsd.hls import MasterPlaylist, MediaPlaylist, PlaylistError, parse_master, parse_media
from hlsd.hls.parse import is_master_playlist
from hlsd.infra.logs import clip
from hlsd.ingest.errors import (
    IngestError,
    IngestFull,
    InvalidPush,
    MalformedPush,
    NotKept,
    PendingFull,
    PushTooLarge,
    PushTooLate,
)
from hlsd.ingest.names import out_of_bounds, validate_path, validate_stream_id
from hlsd.ingest.publishers import KeyQuota, Publisher
from hlsd.ingest.push_state import (
    LOST_WHY,
    NEVER_ARRIVED,
    Feed,
    Folder,
    Lost,
    Named,
    Seen,
)
from hlsd.metrics import Metrics
from hlsd.streams import InitSegment, Producer, RenditionInfo, StreamHub

__all__ = ["Accepted", "HttpPushIngest", "IngestError", "Publisher", "validate_path",
           "validate_stream_id"]

log = logging.getLogger(__name__)

_NAMES_LOGGED = 5
_SEGMENT_TYPES = {".ts": "ts", ".m4s": "m4s", ".mp4": "m4s", ".aac": "aac", ".m4a": "m4s"}
_MISSING = object()


@dataclass(frozen=True, kw_only=True, slots=True)
class Accepted:
    committed: int = 0
    """Segments that went live with this request."""
    awaited: tuple[str, ...] = ()
    """URIs the playlist's variant still waits for (named before they were uploaded)."""


KEEP_TIMEOUT = 10.0
"""Seconds an answer waits for the hub's keepers (an edge's disk cache) to keep what the
request committed; past them the publisher is told to send it again (503)."""


class HttpPushIngest:
    def __init__(self, hub: StreamHub, *, max_pending_bytes: int, max_feeds: int,
                 max_streams_per_key: int | None = None, wait_durations: float = 3.0,
                 max_awaited: int = 10, pending_ttl: float = 60.0,
                 metrics: Metrics | None = None, quota: KeyQuota | None = None,
                 keep_timeout: float = KEEP_TIMEOUT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`wait_durations`: target durations a named segment is awaited; `max_awaited`:
        segments of a variant that may queue behind a missing one. `quota`: the stream
        ids each publish key holds, shared with the other ingests."""
        self._hub = hub
        self._keep_timeout = keep_timeout
        self._feeds: dict[str, Feed] = {}
        self._max_pending = max_pending_bytes
        self._max_feeds = max_feeds
        self._quota = quota or KeyQuota(max_streams_per_key or max_feeds)
        self._wait = wait_durations
        self._max_awaited = max_awaited
        self._pending_ttl = pending_ttl
        self._metrics = metrics
        self._clock = clock

    # -- uploads ----------------------------------------------------------------------

    def admit_upload(self, stream_id: str, path: str, publisher: Publisher) -> None:
        """Refuse an upload before its body is read (bad names, no room for the stream)."""
        validate_stream_id(stream_id)
        validate_path(path)
        self._feed(stream_id, publisher)

    def receive_upload(self, stream_id: str, path: str, body: bytes,
                       publisher: Publisher) -> Accepted:
        """A whole upload: kept until a playlist names it, or committed at once if one
        already has and it is next in line. Refused rather than acknowledged when it
        could not be kept."""
        validate_stream_id(stream_id)
        validate_path(path)
        feed = self._feed(stream_id, publisher)
        now = self._clock()
        self._expire(stream_id, feed, now)
        if len(body) > self._max_pending:
            raise PushTooLarge("upload larger than the pending-upload bound",
                               limit="live.max_pending_bytes")
        if feed.given_up(path):
            self._refused("given_up")
            raise PushTooLate(f"{path} came too late: a playlist named it and the stream "
                              "went on without it (live.segment_wait_durations)",
                              limit="live.segment_wait_durations")
        next_in_line = any(f.next_wants(path) for f in feed.folders.values())
        grown = feed.pending.total + len(body) - feed.pending.size_of(path)
        if grown > self._max_pending and not next_in_line:
            self._refused("pending_full")
            raise PendingFull(f"{feed.pending.total} bytes of this stream's uploads are "
                              "waiting for playlists to name them; no room for more "
                              "(live.max_pending_bytes)",
                              limit="live.max_pending_bytes")
        feed.pending.add(path, body, now)
        committed = 0
        if next_in_line:
            for name, folder in list(feed.folders.items()):
                if folder.next_wants(path):
                    committed += self._drain(stream_id, feed, name, folder)
        return Accepted(committed=committed)

    def delete(self, stream_id: str, path: str) -> None:
        """ffmpeg's ``delete_segments`` flag: the window is ours, so only forget an upload
        no playlist has named (one that is awaited is kept)."""
        validate_stream_id(stream_id)
        feed = self._feeds.get(stream_id)
        if feed is not None and not feed.named(validate_path(path)):
            feed.pending.forget(path)

    # -- playlists --------------------------------------------------------------------

    async def receive_playlist(self, stream_id: str, path: str, body: bytes,
                               publisher: Publisher) -> Accepted:
        validate_stream_id(stream_id)
        validate_path(path)
        try:
            text = body.decode("utf-8")
            master = parse_master(text) if is_master_playlist(text) else None
            playlist = None if master else parse_media(text)
        except (UnicodeDecodeError, PlaylistError, ValueError) as exc:
            raise MalformedPush(f"malformed playlist {path}: {clip(exc)}") from exc
        folder = posixpath.dirname(path)
        if playlist is not None:
            if (problem := out_of_bounds(playlist)) is not None:
                raise MalformedPush(f"malformed playlist {path}: {problem}")
            for uri in {seg.uri for seg in playlist.segments}:
                validate_path(self._resolve(folder, uri))  # names as uploads may be named
        feed = self._feed(stream_id, publisher)
        if feed.key != publisher.key and self._quota.full(stream_id, publisher.key):
            self.sweep()
            feed = self._feed(stream_id, publisher)
            if feed.key != publisher.key:
                self._quota.claim(stream_id, publisher.key)  # refused: at its limit
        producer = self._publish(stream_id, feed, publisher)
        self._owned_by(stream_id, feed, publisher)
        if master is not None:
            self._master(producer, path, master)
            return Accepted()
        assert playlist is not None
        accepted = self._commit(producer, feed, path, playlist)
        producer.touch()
        variant = feed.folders.get(folder)
        if variant is not None and len(variant.never_arrived) == NEVER_ARRIVED:
            # Taken, but the publisher must hear that its segments go somewhere else.
            missing = ", ".join(clip(uri, 60) for uri in variant.never_arrived)
            raise InvalidPush(
                f"the segments this playlist names never arrive ({missing} were given "
                f"up): upload each to /ingest/{stream_id}/"
                f"{posixpath.join(posixpath.dirname(path), '<segment>')} (with ffmpeg: "
                "-hls_segment_filename must be an http:// URL under /ingest, not a local "
                "path)")
        await self.settled()
        return accepted

    async def settled(self) -> None:
        """Returns once what was committed so far is kept by every keeper of the hub
        (`streams.keepers`: an edge's cache), so that an answer acknowledges only what a
        kill -9 cannot lose; `NotKept` past `keep_timeout`."""
        if not await self._hub.settled(self._keep_timeout):
            raise NotKept(f"the segments were taken but not kept within "
                          f"{self._keep_timeout:g}s: send them again")

    def uncommitted(self, stream_id: str, path: str, playlist: MediaPlaylist) -> list[str]:
        """URIs of `playlist` not committed yet (the ones a pulling ingest must fetch)."""
        feed = self._feeds.get(stream_id)
        name = posixpath.dirname(path)
        folder = feed.folders.get(name) if feed else None
        if feed is None or folder is None:
            return [seg.uri for seg in playlist.segments]
        first = playlist.media_sequence
        if first + len(playlist.segments) - 1 < folder.last:
            return [seg.uri for seg in playlist.segments]  # numbering went back: a restart
        missing = {n.path for n in folder.awaited if n.path not in feed.pending.files}
        return [seg.uri for n, seg in enumerate(playlist.segments)
                if first + n > folder.last or self._resolve(name, seg.uri) in missing]

    def _publish(self, stream_id: str, feed: Feed, publisher: Publisher) -> Producer:
        """The stream claimed for `publisher` (the hub's publish policy), with every
        playlist: a stream that ended (it went quiet) resumes."""
        producer = self._hub.producer(stream_id, publisher.identity, kind=publisher.kind)
        producer.publish()
        feed.producer = producer
        return producer

    @staticmethod
    def _master(producer: Producer, path: str, master: MasterPlaylist) -> None:
        base = posixpath.dirname(path)
        for variant in master.variants:
            folder = posixpath.dirname(posixpath.normpath(posixpath.join(base, variant.uri)))
            validate_path(folder or "x")
            producer.describe(folder, RenditionInfo(
                bandwidth=variant.bandwidth, average_bandwidth=variant.average_bandwidth,
                codecs=variant.codecs, resolution=variant.resolution,
                frame_rate=variant.frame_rate))

    def _commit(self, producer: Producer, feed: Feed, path: str,
                playlist: MediaPlaylist) -> Accepted:
        if feed.session != producer.session:
            # The hub began a new session (a takeover, or a return after the end): what
            # was awaited of the last one will not come.
            self._flush(feed)
            feed.session = producer.session
        name = posixpath.dirname(path)
        folder = feed.folder(name)
        producer.describe(name)
        segments = playlist.segments
        first = playlist.media_sequence
        newest = first + len(segments) - 1
        if self._late_copy(feed, folder, name, playlist):
            # A late copy of an older playlist (ffmpeg's uploads overlap): nothing new.
            folder.end = folder.end or playlist.endlist
            return Accepted(committed=self._drain(producer.name, feed, name, folder),
                            awaited=tuple(n.uri for n in folder.awaited))
        if segments and newest < folder.last:
            # The numbering went back: a new publishing session, a restart or a second
            # publisher. The publish policy decides; if it goes on, after a break.
            self._flush(feed)
            producer.restart()
            feed.session = producer.session
            for each in feed.folders.values():
                each.reset()
            producer.discontinuity(name)
        if newest > folder.last:
            folder.end = False  # a variant that said ENDLIST goes on (`append` reopens it)
        start = 0
        if not folder.started and segments:
            # Joining: from the oldest segment already uploaded, else the newest only
            # (older ones were pushed before this stream was ours to keep; should they
            # still come, they are refused).
            start = next((i for i, s in enumerate(segments)
                          if self._resolve(name, s.uri) in feed.pending.files),
                         len(segments) - 1)
            for offset, seg in enumerate(segments[:start]):
                skipped = self._resolve(name, seg.uri)
                folder.give_up(skipped)
                folder.remember(first + offset, Seen(skipped, seg.program_date_time))
            folder.started = True
        now = self._clock()
        deadline = now + self._wait * max(1, playlist.target_duration)
        init_uri = playlist.init.uri if playlist.init else None
        for offset, seg in enumerate(segments):
            init_uri = seg.init.uri if seg.init else init_uri
            sequence = first + offset
            if sequence <= folder.last or offset < start:
                continue
            seg_path = self._resolve(name, seg.uri)
            folder.remember(sequence, Seen(seg_path, seg.program_date_time))
            # A sequence number no playlist named (the list slid past it) is a break.
            gap = folder.last >= 0 and sequence > folder.last + 1
            early = seg_path not in feed.pending.files
            folder.awaited.append(Named(
                sequence=sequence, path=seg_path, uri=seg.uri,
                init_path=self._resolve(name, init_uri) if init_uri else None,
                duration=seg.duration, program_date_time=seg.program_date_time,
                discontinuity=seg.discontinuity or gap,
                target_hint=playlist.target_duration, deadline=deadline,
                extension=_SEGMENT_TYPES.get(posixpath.splitext(seg_path)[1], "ts"),
                early=early))
            folder.last = sequence
        folder.end = folder.end or playlist.endlist
        committed = self._drain(producer.name, feed, name, folder)
        return Accepted(committed=committed, awaited=tuple(n.uri for n in folder.awaited))

    def _late_copy(self, feed: Feed, folder: Folder, name: str,
                   playlist: MediaPlaylist) -> bool:
        """Whether `playlist` is an older one arriving late: its newest segment is one a
        playlist already named, with the same name (and time), and none of its segments
        was uploaded anew (a restarted publisher reuses its names, with new uploads)."""
        if not playlist.segments:
            return False
        newest = playlist.segments[-1]
        seen = folder.recent.get(playlist.media_sequence + len(playlist.segments) - 1)
        if seen is None or seen.path != self._resolve(name, newest.uri):
            return False
        if (newest.program_date_time is not None and seen.program_date_time is not None
                and newest.program_date_time != seen.program_date_time):
            return False
        return not any(
            (p := self._resolve(name, s.uri)) in feed.pending.files and not folder.wants(p)
            for s in playlist.segments)

    # -- committing what has arrived, in order -----------------------------------------

    def _drain(self, stream_id: str, feed: Feed, name: str, folder: Folder, *,
               force: bool = False) -> int:
        """Commit the awaited segments that have arrived, in sequence order, up to the
        first still missing; give that one up if it is overdue (or `force`)."""
        producer = feed.producer
        gone = producer is None or not producer.holds
        now = self._clock()
        committed = 0
        lost: dict[Lost, list[str]] = {}
        while folder.awaited:
            head = folder.awaited[0]
            upload = feed.pending.files.get(head.path)
            init = self._init(feed, folder, head)
            if upload is not None and init is not _MISSING and not gone:
                assert producer is not None
                folder.awaited.popleft()
                feed.pending.forget(head.path)
                section = None
                if head.init_path is not None and isinstance(init, bytes):
                    section = InitSegment(name=posixpath.basename(head.init_path), data=init)
                if producer.append(
                        name, duration=head.duration, data=upload.data,
                        program_date_time=head.program_date_time, extension=head.extension,
                        target_hint=head.target_hint, discontinuity=head.discontinuity,
                        init=section) is None:
                    lost.setdefault(Lost.TOO_LONG, []).append(head.path)
                    continue
                if section is not None and head.init_path is not None \
                        and feed.pending.forget(head.init_path) is not None:
                    folder.keep_init(head.init_path, section.data)
                if head.early and self._metrics is not None:
                    self._metrics.live_reordered.inc()
                folder.never_arrived.clear()
                committed += 1
                continue
            if not (force or gone or now >= head.deadline
                    or len(folder.awaited) > self._max_awaited):
                break  # still awaited
            folder.awaited.popleft()
            folder.give_up(head.path)
            if upload is not None:
                feed.pending.forget(head.path)
                reason = Lost.ENDED if gone else Lost.NO_INIT
            else:
                reason = Lost.NOT_UPLOADED
                folder.never_arrived.append(head.uri)
            lost.setdefault(reason, []).append(head.path)
            if producer is not None:
                producer.discontinuity(name)
        for reason, paths in lost.items():
            self._lost(stream_id, reason, paths)
        if not folder.awaited and folder.end and producer is not None:
            folder.end = False
            producer.end(name)  # the publisher said ENDLIST, and everything named is in
        return committed

    @staticmethod
    def _init(feed: Feed, folder: Folder, head: Named) -> object:
        """The init section `head` needs: its bytes, None when it needs none, or
        `_MISSING`."""
        if head.init_path is None:
            return None
        upload = feed.pending.files.get(head.init_path)
        if upload is not None:
            return upload.data
        return folder.inits.get(head.init_path, _MISSING)

    def _flush(self, feed: Feed) -> None:
        """Commit what has arrived of every awaited segment and give up the rest."""
        for name, folder in list(feed.folders.items()):
            if folder.awaited and feed.producer is not None:
                self._drain(feed.producer.name, feed, name, folder, force=True)

    # -- bounds -----------------------------------------------------------------------

    def _feed(self, stream_id: str, publisher: Publisher) -> Feed:
        feed = self._feeds.get(stream_id)
        if feed is None:
            if (len(self._feeds) >= self._max_feeds
                    or self._quota.full(stream_id, publisher.key)):
                self.sweep()
            if len(self._feeds) >= self._max_feeds:
                raise IngestFull("too many streams are being pushed to this node",
                                 limit="live.max_streams")
            self._quota.claim(stream_id, publisher.key)
            feed = self._feeds[stream_id] = Feed(key=publisher.key)
        return feed

    def _owned_by(self, stream_id: str, feed: Feed, publisher: Publisher) -> None:
        """The stream is now `publisher`'s: it counts against that key."""
        if feed.key != publisher.key:
            self._quota.claim(stream_id, publisher.key)
            self._quota.release(stream_id, feed.key)
            feed.key = publisher.key

    def sweep(self) -> None:
        """Give up awaited segments that are overdue (and commit what queued behind
        them); drop acknowledged uploads no playlist named within the pending TTL; forget
        what was pushed for streams the hub no longer has."""
        now = self._clock()
        for stream_id, feed in list(self._feeds.items()):
            self._expire(stream_id, feed, now)
            stream = self._hub.get(stream_id)
            for name, folder in list(feed.folders.items()):
                if folder.awaited or (folder.end and stream is not None):
                    self._drain(stream_id, feed, name, folder)
            if stream is None and not feed.pending.files:
                del self._feeds[stream_id]
                self._quota.release(stream_id, feed.key)

    def _expire(self, stream_id: str, feed: Feed, now: float) -> None:
        stale_before = now - self._pending_ttl
        expired = []
        for path, upload in feed.pending.files.items():
            if upload.at >= stale_before:
                break
            if not feed.named(path):
                expired.append(path)
        for path in expired:
            feed.pending.forget(path)
        if expired:
            self._lost(stream_id, Lost.NOT_NAMED, expired)

    def _lost(self, stream_id: str, reason: Lost, paths: list[str]) -> None:
        """Count each loss, and log it: one line for the lot."""
        if self._metrics is not None:
            self._metrics.live_lost.labels(reason.value).inc(len(paths))
        names = ", ".join(clip(p) for p in paths[:_NAMES_LOGGED])
        more = f" and {len(paths) - _NAMES_LOGGED} more" if len(paths) > _NAMES_LOGGED else ""
        log.warning("stream %s: %s%s: %s", clip(stream_id), names, more, LOST_WHY[reason])

    def _refused(self, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.live_refused.labels(reason).inc()

    @staticmethod
    def _resolve(folder: str, uri: str) -> str:
        if "://" in uri or uri.startswith("/"):
            # ffmpeg names segments relative to the playlist; an absolute URI is not ours.
            uri = posixpath.basename(uri.split("?")[0])
        return posixpath.normpath(posixpath.join(folder, uri.split("?")[0])).lstrip("/")
