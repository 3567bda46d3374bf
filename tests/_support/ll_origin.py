"""A scripted Low-Latency HLS origin for tests: a test double of an upstream LL server,
on a real loopback HTTP server (`Upstream`), for `hlsd check` to check.

The stream is made of 2 s segments of four 0.5 s parts (segment `msn` has parts
`part<msn>.<i>.mp4`); time is the count of parts published and moves only when a
blocking reload asks for a part not out yet (so the tests run at once, and in step):

    with LowLatencyOrigin() as origin:
        url = origin.url("index.m3u8?token=abc")

- `GET /ll/index.m3u8` answers the playlist as it is; with `_HLS_msn`/`_HLS_part`, as
  soon as that part is out (publishing up to it), 503 past the end of the script, 400
  for `_HLS_part` alone; with `_HLS_skip=YES|v2`, a delta update (rfc8216bis §6.2.5).
- A part out is served at once; the next one (the one hinted) is held until it is out,
  as a real origin holds a preload hint request; any later one is 404.

Faults for the checker to find are flags of the constructor (see `Faults`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from tests._support.servers import Upstream

__all__ = ["Faults", "LowLatencyOrigin"]

M3U8 = "application/vnd.apple.mpegurl"
PARTS = 4  # per segment
PART = 0.5
TARGET = 2
FIRST = 100  # MSN of the first segment
WINDOW = 10  # segments listed at most
SKIP_UNTIL = 12.0
START = datetime(2026, 11, 21, 19, 0, tzinfo=UTC)
_HOLD = 10.0  # seconds a hinted part is held at most


@dataclass(frozen=True)
class Faults:
    """`blocking`: honour _HLS_msn (else answer the playlist as it is). `can_block`:
    write CAN-BLOCK-RELOAD=YES. `delta`: honour _HLS_skip. `hint_status`: the answer to
    a request for a part that was hinted (held until it is out), 200 or say 404.
    `part_status`: the answer to a part out before the test began. `hint_prefix`: the
    hint names `<prefix><msn>.<i>.mp4`, where the part published is `part<msn>.<i>.mp4`.
    `rewind_at`: the blocking reload with that number (1 first) is answered with the
    playlist of two parts earlier."""

    blocking: bool = True
    can_block: bool = True
    delta: bool = True
    hint_status: int = 200
    part_status: int = 200
    hint_prefix: str = "part"
    rewind_at: int | None = None


class LowLatencyOrigin:
    """The origin: `published` parts are out, `last` at most (the script's end)."""

    def __init__(self, faults: Faults | None = None, *, published: int = 8 * PARTS + 2,
                 last: int = 8 * PARTS + 20) -> None:
        self.faults = faults or Faults()
        self.published = published
        self._hinted_from = published  # every part from this one on was hinted first
        self.last = last
        self.blocking_reloads = 0
        self._changed = threading.Condition()
        self._closing = False
        self.upstream = Upstream()
        self.upstream.add_handler("/ll/index.m3u8", self._playlist)
        self.upstream.add_handler("/ll/init.mp4", self._media)
        for msn in range(FIRST, FIRST + last // PARTS + 2):  # every name the script makes
            self.upstream.add_handler(f"/ll/seg{msn}.mp4", self._media)
            for index in range(PARTS):
                self.upstream.add_handler(f"/ll/part{msn}.{index}.mp4", self._media)

    def url(self, path: str) -> str:
        return f"{self.upstream.url}/ll/{path}"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self.upstream.close()

    # -- the stream -------------------------------------------------------------------
    def render(self, published: int, *, skip: bool = False) -> str:
        """The playlist once `published` parts are out."""
        whole = published // PARTS
        msns = range(FIRST + max(0, whole - WINDOW), FIRST + whole)
        skipped = 0
        if skip:  # segments ending more than the Skip Boundary before the last one's end
            skipped = sum(1 for msn in msns if (FIRST + whole - 1 - msn) * TARGET > SKIP_UNTIL)
        control = "CAN-BLOCK-RELOAD=YES," if self.faults.can_block else ""
        lines = [
            "#EXTM3U", f"#EXT-X-VERSION:{9 if skip else 6}", f"#EXT-X-TARGETDURATION:{TARGET}",
            f"#EXT-X-SERVER-CONTROL:{control}PART-HOLD-BACK=1.5,CAN-SKIP-UNTIL={SKIP_UNTIL}",
            f"#EXT-X-PART-INF:PART-TARGET={PART}", f"#EXT-X-MEDIA-SEQUENCE:{msns[0]}",
        ]
        if skipped:
            lines.append(f"#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}")
        first = msns[skipped]
        stamp = START + timedelta(seconds=TARGET * (first - FIRST))
        lines += ['#EXT-X-MAP:URI="init.mp4"',
                  f"#EXT-X-PROGRAM-DATE-TIME:{stamp.isoformat(timespec='milliseconds')}"]
        for msn in range(first, FIRST + whole):
            if msn >= FIRST + whole - 2:  # parts of the last two segments only
                lines += [self._part(msn, index) for index in range(PARTS)]
            lines += [f"#EXTINF:{TARGET}.0,", f"seg{msn}.mp4"]
        lines += [self._part(FIRST + whole, index) for index in range(published % PARTS)]
        msn, index = divmod(published, PARTS)
        lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{self.faults.hint_prefix}'
                     f'{FIRST + msn}.{index}.mp4"')
        return "\n".join(lines) + "\n"

    @staticmethod
    def _part(msn: int, index: int) -> str:
        independent = ",INDEPENDENT=YES" if index == 0 else ""
        return f'#EXT-X-PART:DURATION={PART},URI="part{msn}.{index}.mp4"{independent}'

    def _publish(self, count: int) -> bool:
        """Publish up to `count` parts; False past the end of the script."""
        with self._changed:
            if count > self.last:
                return False
            if count > self.published:
                self.published = count
                self._changed.notify_all()
            return True

    # -- the routes -------------------------------------------------------------------
    def _playlist(self, h: Any) -> None:
        query = {name: values[-1] for name, values in parse_qs(urlsplit(h.path).query).items()}
        msn, part = query.get("_HLS_msn"), query.get("_HLS_part")
        skip = self.faults.delta and query.get("_HLS_skip") in ("YES", "v2")
        if part is not None and msn is None:
            h._simple(400, b"_HLS_part needs _HLS_msn", "text/plain")
            return
        shown = self.published
        if msn is not None and self.faults.blocking:
            self.blocking_reloads += 1
            wanted = (int(msn) - FIRST) * PARTS + (int(part) + 1 if part is not None else PARTS)
            # A part index past the segment's last asks for the next segment's first.
            if not self._publish(max(wanted, self.published)):
                h._simple(503, b"not that far", "text/plain")
                return
            shown = self.published
            if self.blocking_reloads == self.faults.rewind_at:
                shown -= 2
        h._simple(200, self.render(shown, skip=skip).encode(), M3U8)

    def _media(self, h: Any) -> None:
        name = urlsplit(h.path).path.rsplit("/", 1)[-1]
        if not name.startswith("part"):
            h._simple(200, b"media " + name.encode(), "video/mp4")
            return
        msn, index = (int(n) for n in name.removeprefix("part").removesuffix(".mp4").split("."))
        number = (msn - FIRST) * PARTS + index  # parts before this one
        with self._changed:
            out = number < self.published
            if not out and number == self.published:  # the hinted one: held till it is out
                out = self._changed.wait_for(
                    lambda: self._closing or number < self.published, timeout=_HOLD)
                out = out and not self._closing
        status = self.faults.hint_status if number >= self._hinted_from else \
            self.faults.part_status
        if not out:
            h._simple(404, b"no such part", "text/plain")
        else:
            h._simple(status, b"part " + name.encode() if status == 200 else b"", "video/mp4")
