"""MPEG-TS continuity counters that run on from one segment into the next.

A PID's 4-bit continuity_counter goes up by one, modulo 16, with each of its packets
that carries payload (ISO/IEC 13818-1 §2.4.3.3), and demuxers check it: VLC through
libdvbpsi for PAT and PMT ("TS discontinuity") and its own ts demuxer for PES, ffmpeg by
marking the packet corrupt. A player reads an HLS stream's segments as one transport
stream, so segments whose counters all restart at 0 break continuity at every boundary.

Segments are built independently: any one first, on any node, after a restart, so what
the previous segment ended with is not known. Instead every segment starts each PID at
0 (as ffmpeg's muxer does) and is made to end it at 15, by giving each PID a multiple
of 16 payload packets. Any segment then continues any other, whatever was built when,
across a channel's clips and slate too.

Not used: the adaptation field's discontinuity_indicator, the standard way to announce
a counter jump. On the PCR PID it also announces a system time-base discontinuity
(§2.4.3.5), which these segments do not have, and libdvbpsi ignores the flag: VLC would
still log the PAT and PMT discontinuities.

The packets added:
- a PSI PID (PAT, PMT, SDT) repeats its last table, whole in one packet, as a muxer
  repeats tables all along (the repeats carry the following counters, so libdvbpsi does
  not take them for duplicates);
- a PES PID has payload packets near its end split in two or more, the payload shared
  out after adaptation-field stuffing (§2.4.3.5): the PES bytes a demuxer gathers are
  unchanged, the PCR and random-access flags stay where they were.
That is 0 to 15 packets of 188 bytes per PID, 7.5 on average (`PADDING_PACKETS`).

The work is a few scans of the bytes in C (slices, `translate`, `count`, `rfind`) and
Python for the handful of packets changed, so a 2 MB segment costs well under a ms.
"""

from __future__ import annotations

__all__ = ["PADDING_PACKETS", "continuous"]

_TS = 188
_SYNC = 0x47
_NULL_PID = 0x1FFF
_PUSI = 0x40
_CYCLE = 16
PADDING_PACKETS = _CYCLE - 1
"""The most packets one PID of a segment gains (the index counts them in BANDWIDTH)."""

# One key of three bytes per packet: the PID's top 5 bits, its low byte, then 0xFF when
# the packet carries payload, else 0xFE. The third byte is never a first byte (those
# are at most 0x1F), so a key is only ever found at a packet's place.
_KEY_HI = bytes(b & 0x1F for b in range(256))
_KEY_SEP = bytes(0xFF if b & 0x10 else 0xFE for b in range(256))
_WITH_PAYLOAD = 0xFF
_NO_PAYLOAD = 0xFE


def continuous(data: bytes) -> bytes:
    """`data`, a segment of whole MPEG-TS packets, with every PID holding a multiple of
    16 payload packets and counting them from 0, so its counters end at 15. Anything
    that is not such a segment comes back as it was."""
    count = len(data) // _TS
    if not count or len(data) % _TS or data[0] != _SYNC:
        return data
    keys = bytearray(3 * count)
    keys[0::3] = data[1::_TS].translate(_KEY_HI)
    keys[1::3] = data[2::_TS]
    keys[2::3] = data[3::_TS].translate(_KEY_SEP)
    frozen = bytes(keys)
    changes: dict[int, bytes] = {}
    for pid, payloads in _pids(frozen):
        if pid != _NULL_PID:
            _pad(data, frozen, pid, payloads, changes)
    if not changes:
        return data
    view = memoryview(data)  # slices of it are not copies: the join copies once
    parts: list[bytes | memoryview] = []
    at = 0
    for index in sorted(changes):
        parts += (view[at:index * _TS], changes[index])
        at = (index + 1) * _TS
    parts.append(view[at:])
    return b"".join(parts)


def _pids(keys: bytes) -> list[tuple[int, int]]:
    """Every PID in the segment with its count of payload packets. Each PID found has
    its keys removed in C, so this loops once per PID, not once per packet."""
    found = []
    while keys:
        hi, lo = keys[0], keys[1]
        rest = keys.replace(bytes([hi, lo, _WITH_PAYLOAD]), b"")
        found.append(((hi << 8) | lo, (len(keys) - len(rest)) // 3))
        keys = rest.replace(bytes([hi, lo, _NO_PAYLOAD]), b"")
    return found


def _pad(data: bytes, keys: bytes, pid: int, payloads: int,
         changes: dict[int, bytes]) -> None:
    need = -payloads % _CYCLE
    keyed = [bytes([pid >> 8, pid & 0xFF, s]) for s in (_WITH_PAYLOAD, _NO_PAYLOAD)]
    keyed = [k for k in keyed if k in keys]
    first = min(keys.find(k) for k in keyed) // 3
    last = max(keys.rfind(k) for k in keyed) // 3
    counted_from_zero = (data[first * _TS + 3] & 0x0F) == 0 and \
        (data[last * _TS + 3] & 0x0F) == (payloads - 1) % _CYCLE
    if not need and counted_from_zero:
        return
    mine = _indexes(keys, keyed, last, first if not counted_from_zero else None)
    starts = _last_start(data, mine)
    if starts is not None and _is_section(data, starts):
        extra = _repeat_table(data, starts, need)
        renumber_from = mine[-1]
        pieces = {mine[-1]: [_packet(data, mine[-1]), *extra]}
    else:
        split = _split_payloads(data, mine, need)
        if split is None:
            return  # not enough payload to share out (never so with real PES)
        pieces = split
        renumber_from = min(pieces) if pieces else mine[-1]
    if not counted_from_zero:
        renumber_from = first
        cc = -1
    else:
        cc = (data[renumber_from * _TS + 3] & 0x0F) - 1
    for index in (i for i in mine if i >= renumber_from):
        out = bytearray()
        for packet in pieces.get(index, [_packet(data, index)]):
            if packet[3] & 0x10:
                cc = (cc + 1) % _CYCLE
            out += packet[:3] + bytes([(packet[3] & 0xF0) | (cc % _CYCLE)]) + packet[4:]
        changes[index] = bytes(out)


def _indexes(keys: bytes, keyed: list[bytes], last: int, everything_from: int | None
             ) -> list[int]:
    """The PID's packet indexes, in order: from `everything_from` if given, else the
    tail that padding can touch (back to 16 payload packets before the end)."""
    found: list[int] = []
    end = 3 * (last + 1)
    payloads = 0
    while True:
        at = max(keys.rfind(k, 0, end) for k in keyed)
        if at < 0:
            break
        index = at // 3
        if everything_from is not None:
            if index < everything_from:
                break
        elif payloads >= _CYCLE:
            break
        found.append(index)
        payloads += keys[at + 2] == _WITH_PAYLOAD
        end = at
    found.reverse()
    return found


def _packet(data: bytes, index: int) -> bytes:
    return data[index * _TS:(index + 1) * _TS]


def _payload_at(packet: bytes) -> int:
    """Where the payload starts (188 when there is none)."""
    if not packet[3] & 0x10:
        return _TS
    return 5 + packet[4] if packet[3] & 0x20 else 4


def _last_start(data: bytes, mine: list[int]) -> int | None:
    for index in reversed(mine):
        packet = _packet(data, index)
        if packet[1] & _PUSI and packet[3] & 0x10:
            return index
    return None


def _is_section(data: bytes, index: int) -> bool:
    """A packet that starts a PSI section and holds all of it (not a PES start)."""
    packet = _packet(data, index)
    at = _payload_at(packet)
    payload = packet[at:]
    if len(payload) < 4 or payload[:3] == b"\x00\x00\x01":
        return False
    start = 1 + payload[0]
    if start + 3 > len(payload):
        return False
    length = ((payload[start + 1] & 0x0F) << 8) | payload[start + 2]
    return start + 3 + length <= len(payload)


def _repeat_table(data: bytes, index: int, count: int) -> list[bytes]:
    return [_packet(data, index)] * count


def _split_payloads(data: bytes, mine: list[int], need: int) -> dict[int, list[bytes]] | None:
    """Payload packets from the end of `mine` split into `need` more packets."""
    pieces: dict[int, list[bytes]] = {}
    for index in reversed(mine):
        if not need:
            return pieces
        packet = _packet(data, index)
        at = _payload_at(packet)
        payload = packet[at:]
        keep = 1  # bytes the first piece keeps at least
        if packet[1] & _PUSI:
            if payload[:3] == b"\x00\x00\x01" and len(payload) >= 9:
                keep = 9 + payload[8]  # the whole PES header stays in one packet
            else:
                continue  # a section start: leave it whole
        more = min(need, len(payload) - keep)
        if more <= 0:
            continue
        pieces[index] = _split(packet, at, more)
        need -= more
    return pieces if not need else None


def _split(packet: bytes, at: int, more: int) -> list[bytes]:
    """`packet` as 1 + `more` packets: the first keeps its header flags, adaptation
    fields and all but `more` payload bytes, each of the others one payload byte."""
    payload = packet[at:]
    head = len(payload) - more
    fields = _adaptation_fields(packet)
    out = [_with_payload(packet[0], packet[1], packet[2], packet[3], fields, payload[:head])]
    for k in range(more):
        out.append(_with_payload(packet[0], packet[1] & ~_PUSI & 0xFF, packet[2], packet[3],
                                 b"", payload[head + k:head + k + 1]))
    return out


def _adaptation_fields(packet: bytes) -> bytes:
    """The adaptation field's flags and optional fields, without its stuffing."""
    if not packet[3] & 0x20 or packet[4] == 0:
        return b""
    flags = packet[5]
    end = 6
    if flags & 0x10:  # PCR
        end += 6
    if flags & 0x08:  # OPCR
        end += 6
    if flags & 0x04:  # splice countdown
        end += 1
    if flags & 0x02:  # transport private data
        end += 1 + packet[end]
    if flags & 0x01:  # adaptation field extension
        end += 1 + packet[end]
    return packet[5:min(end, 5 + packet[4])]


def _with_payload(sync: int, b1: int, b2: int, b3: int, fields: bytes, payload: bytes) -> bytes:
    room = _TS - 4 - len(payload)
    if room == 0 and not fields:
        return bytes([sync, b1, b2, (b3 & 0xCF) | 0x10]) + payload
    length = room - 1  # the adaptation_field_length byte itself
    # A flags byte (the fields' own, or none set), then stuffing; a length of 0 is
    # itself the one byte of stuffing needed.
    body = b"" if length == 0 else (fields or b"\x00") + b"\xff" * (length - max(1, len(fields)))
    return bytes([sync, b1, b2, (b3 & 0xCF) | 0x30, length]) + body + payload
