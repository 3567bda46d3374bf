"""The floor of LL-HLS blocking-reload fan-out: long-polls on bare asyncio, no framework.

``lowlatency.py --only fanout`` runs it as the anchor of its fan-out table: the same
clients, the same core, the same count. It does the least an LL-HLS origin must do to
hold blocking playlist reloads and nothing else: one ``asyncio.Protocol`` per connection
reads ``GET <path>?_HLS_msn=M&_HLS_part=P`` (any path; a request without ``_HLS_msn``
is answered at once), parks the transport while part (M, P) does not exist yet, and a
timer makes a new part every ``--part`` seconds (five parts a segment). Each tick builds
the playlist and its response head once and calls ``transport.write`` with that one
bytes object for every parked request it satisfies. No parsing beyond the request line,
no headers checked, no timeouts, no gate, no rendering from a model: one kernel copy per
client.

The playlist looks like hlsd's (the same tags, a 1 s segment of five 0.2 s parts, six
segments, the parts of the last three and of the open one, a preload hint) and is padded
with a comment line to ``--body-bytes`` (what hlsd's answers measured), so the bytes per
answer match.

    python bench/_ll_floor.py --port P [--part 0.2] [--body-bytes 2000] [--loop asyncio]
"""

from __future__ import annotations

import argparse
import asyncio
import time

PARTS_PER_SEGMENT = 5
WINDOW = 6  # whole segments in the playlist
PART_SEGMENTS = 3  # of which the last this many keep their EXT-X-PART tags


class Origin:
    """The newest part, the answer that carries it, and the parked requests."""

    def __init__(self, part: float, body_bytes: int) -> None:
        self.part = part
        self.body_bytes = body_bytes
        self.produced = PARTS_PER_SEGMENT * (WINDOW + 1)  # parts made so far
        self.parked: list[tuple[int, asyncio.Transport]] = []
        self.response = self._response()

    def newest(self) -> int:
        """The newest part as a running index (msn * parts per segment + part)."""
        return self.produced - 1

    def _response(self) -> bytes:
        whole, open_parts = divmod(self.produced, PARTS_PER_SEGMENT)
        first = max(0, whole - WINDOW)
        now = time.time()
        lines = ["#EXTM3U", "#EXT-X-VERSION:9", "#EXT-X-TARGETDURATION:1",
                 f"#EXT-X-MEDIA-SEQUENCE:{first}",
                 "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6,"
                 "CAN-SKIP-UNTIL=6.0",
                 "#EXT-X-PART-INF:PART-TARGET=0.2", '#EXT-X-MAP:URI="init.mp4"']
        for msn in range(first, whole + 1):
            if msn == whole and not open_parts:
                break
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(
                now - (whole - msn) * PARTS_PER_SEGMENT * self.part))
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{stamp}.000Z")
            if msn >= whole - PART_SEGMENTS:
                count = open_parts if msn == whole else PARTS_PER_SEGMENT
                lines += [f'#EXT-X-PART:DURATION={self.part:.3f},'
                          f'{"INDEPENDENT=YES," if k == 0 else ""}URI="s{msn}-p{k}.m4s"'
                          for k in range(count)]
            if msn < whole:
                lines += [f"#EXTINF:{PARTS_PER_SEGMENT * self.part:.3f},", f"s{msn}.m4s"]
        lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="s{whole}-p{open_parts}.m4s"')
        text = "\n".join(lines) + "\n"
        short = self.body_bytes - len(text) - 2
        if short > 0:
            text += "#" + "x" * short + "\n"  # a comment: players skip it
        body = text.encode()
        return (b"HTTP/1.1 200 OK\r\ncontent-type: application/vnd.apple.mpegurl\r\n"
                b"cache-control: max-age=6\r\ncontent-length: " + str(len(body)).encode()
                + b"\r\n\r\n" + body)

    def tick(self) -> None:
        self.produced += 1
        self.response = response = self._response()
        newest = self.newest()
        keep: list[tuple[int, asyncio.Transport]] = []
        for wanted, transport in self.parked:
            if wanted <= newest:
                transport.write(response)
            else:
                keep.append((wanted, transport))
        self.parked = keep


class Conn(asyncio.Protocol):
    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end], self.buffer[end + 4:]
            target = head.split(b" ", 2)[1]
            self._answer(target)

    def _answer(self, target: bytes) -> None:
        assert self.transport is not None
        _, _, query = target.partition(b"?")
        params = dict(p.split(b"=", 1) for p in query.split(b"&") if b"=" in p)
        if b"_HLS_msn" not in params:
            self.transport.write(self.origin.response)
            return
        wanted = (int(params[b"_HLS_msn"]) * PARTS_PER_SEGMENT
                  + min(int(params.get(b"_HLS_part", b"0")), PARTS_PER_SEGMENT))
        if wanted <= self.origin.newest():
            self.transport.write(self.origin.response)
        else:
            self.origin.parked.append((wanted, self.transport))

    def connection_lost(self, exc: Exception | None) -> None:
        self.origin.parked = [(w, t) for w, t in self.origin.parked if t is not self.transport]


async def serve(port: int, part: float, body_bytes: int) -> None:
    loop = asyncio.get_running_loop()
    origin = Origin(part, body_bytes)
    server = await loop.create_server(lambda: Conn(origin), "127.0.0.1", port, backlog=4096)
    start = loop.time()

    def tick(n: int) -> None:
        origin.tick()
        loop.call_at(start + (n + 1) * part, tick, n + 1)  # on a grid: no drift

    loop.call_at(start + part, tick, 1)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--part", type=float, default=0.2)
    parser.add_argument("--body-bytes", type=int, default=2000)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(serve(args.port, args.part, args.body_bytes))
    else:
        asyncio.run(serve(args.port, args.part, args.body_bytes))


if __name__ == "__main__":
    main()
