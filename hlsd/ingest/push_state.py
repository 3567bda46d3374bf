"""What HTTP push ingest holds per stream: uploads not yet committed, and per rendition
folder the segments playlists named that are still awaited, in sequence order; and why
a segment can be lost.

Pure bookkeeping with bounds; the rules (when to commit, wait or give up) are in
`http_push`.
"""

from __future__ import annotations

import enum
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime

from hlsd.streams import Producer

NEVER_ARRIVED = 3
"""Segments given up in a row, never uploaded, after which playlists are refused with
the reason (the publisher is told its segments go somewhere else)."""
RECENT = 64
"""Sequence numbers (and given-up names) a folder remembers."""
KEPT_INITS = 8
"""Init sections a folder keeps once taken (a window spans few encoding changes)."""


class Lost(enum.StrEnum):
    """Why the stream went on without a pushed segment (the metric's label)."""

    NOT_UPLOADED = "not_uploaded"
    """Named by a playlist, not uploaded within the wait."""
    NO_INIT = "no_init"
    """Uploaded and named, but the init section it needs never came."""
    NOT_NAMED = "not_named"
    """Acknowledged, but never named by a playlist within the pending TTL."""
    ENDED = "ended"
    """Acknowledged and named, but its stream had ended or gone."""
    TOO_LONG = "too_long"
    """Longer than the target duration its variant's first segment fixed."""


LOST_WHY = {
    Lost.NOT_UPLOADED: "named by a playlist but not uploaded in time; the stream went on "
                       "after a discontinuity",
    Lost.NO_INIT: "uploaded, but its init section never came; the stream went on after a "
                  "discontinuity",
    Lost.NOT_NAMED: "uploaded (acknowledged) but never named by a playlist; dropped",
    Lost.ENDED: "uploaded (acknowledged) but its stream had ended; dropped",
    Lost.TOO_LONG: "longer than the target duration the stream's first segment fixed "
                   "(RFC 8216 lets it neither change nor be exceeded); the stream went on "
                   "after a discontinuity: put keyframes at most a target duration apart",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class Named:
    """A segment a playlist named, waiting for its upload (and its init section's)."""

    sequence: int
    path: str
    uri: str
    init_path: str | None
    duration: float
    program_date_time: datetime | None
    discontinuity: bool
    target_hint: int
    deadline: float
    """Given up (a discontinuity instead) if it is still missing by then."""
    extension: str
    early: bool
    """Named before its upload was whole."""


@dataclass(frozen=True, slots=True)
class Seen:
    """What a playlist said of one sequence number: a later playlist saying the same is
    a late copy."""

    path: str
    program_date_time: datetime | None


@dataclass(slots=True)
class Upload:
    at: float
    data: bytes


@dataclass
class Pending:
    """Acknowledged uploads not committed yet, oldest first, bounded in bytes."""

    files: OrderedDict[str, Upload] = field(default_factory=OrderedDict)
    total: int = 0
    """Bytes held."""

    def add(self, path: str, data: bytes, now: float) -> None:
        self.forget(path)
        self.files[path] = Upload(now, data)
        self.total += len(data)

    def forget(self, path: str) -> Upload | None:
        old = self.files.pop(path, None)
        if old is not None:
            self.total -= len(old.data)
        return old

    def size_of(self, path: str) -> int:
        old = self.files.get(path)
        return len(old.data) if old is not None else 0


@dataclass
class Folder:
    """One rendition folder (``""`` for a single variant) of a pushed stream."""

    last: int = -1
    """The highest sequence number taken: committed, awaited or given up."""
    started: bool = False
    """A playlist has placed this folder (before that, a playlist's older segments that
    were never uploaded are not awaited: the stream joins at its newest one)."""
    awaited: deque[Named] = field(default_factory=deque)
    recent: OrderedDict[int, Seen] = field(default_factory=OrderedDict)
    given_up: OrderedDict[str, None] = field(default_factory=OrderedDict)
    """Paths given up: their upload, should it still come, is refused."""
    inits: OrderedDict[str, bytes] = field(default_factory=OrderedDict)
    """Init sections taken from uploads, by path."""
    end: bool = False
    """The publisher sent ENDLIST: the rendition ends once nothing is awaited."""
    never_arrived: deque[str] = field(default_factory=lambda: deque(maxlen=NEVER_ARRIVED))
    """The segments given up for never being uploaded since the last one that was
    (a publisher writing its segments elsewhere: to local disk)."""

    def remember(self, sequence: int, seen: Seen) -> None:
        self.recent[sequence] = seen
        self.recent.move_to_end(sequence)
        while len(self.recent) > RECENT:
            self.recent.popitem(last=False)

    def give_up(self, path: str) -> None:
        self.given_up[path] = None
        self.given_up.move_to_end(path)
        while len(self.given_up) > RECENT:
            self.given_up.popitem(last=False)

    def keep_init(self, path: str, data: bytes) -> None:
        self.inits[path] = data
        self.inits.move_to_end(path)
        while len(self.inits) > KEPT_INITS:
            self.inits.popitem(last=False)

    def wants(self, path: str) -> bool:
        """Whether an awaited segment is, or needs, the upload at `path`."""
        return any(n.path == path or n.init_path == path for n in self.awaited)

    def next_wants(self, path: str) -> bool:
        """Whether the first awaited segment is, or needs, the upload at `path`: it is
        committed as soon as it arrives."""
        return bool(self.awaited) and path in (self.awaited[0].path, self.awaited[0].init_path)

    def reset(self) -> None:
        """A new publishing session: nothing of the last one applies."""
        self.never_arrived.clear()
        self.last = -1
        self.started = False
        self.awaited.clear()
        self.recent.clear()
        self.given_up.clear()
        self.inits.clear()
        self.end = False


@dataclass
class Feed:
    """What one stream's publisher has delivered so far."""

    key: str | None
    """The publish key (its fingerprint) the stream id is counted against."""
    pending: Pending = field(default_factory=Pending)
    folders: dict[str, Folder] = field(default_factory=dict)
    session: str | None = None
    """The hub session the folders' state belongs to."""
    producer: Producer | None = None
    """The handle of the publisher that published the stream last: what arrives is
    committed through it."""

    def folder(self, name: str) -> Folder:
        folder = self.folders.get(name)
        if folder is None:
            folder = self.folders[name] = Folder()
        return folder

    def named(self, path: str) -> bool:
        """Whether a playlist named the upload at `path` and it is still awaited."""
        return any(f.wants(path) for f in self.folders.values())

    def given_up(self, path: str) -> bool:
        return any(path in f.given_up for f in self.folders.values())

    def awaiting(self) -> bool:
        return any(f.awaited for f in self.folders.values())
