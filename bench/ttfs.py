"""Time to first segment: hlsd against the seed's whole-file approach, in one run.

    python bench/ttfs.py [--runs 3] [--only mp4|wav]

Sources (generated once into bench/out/, gitignored): a 10-minute 1280x720 H.264/AAC MP4
(keyframe every 2 s) and a 10-minute WAV, both served by a local `Upstream` (a real
threaded HTTP server on 127.0.0.1).

hlsd: from ``POST /api/token`` to the last byte of the first segment, i.e. token (hlsd
fetches, probes and indexes the source before answering) + master playlist + media
playlist + first segment. Every run uses a fresh qid, so nothing is cached in hlsd
(the OS page cache is warm for hlsd and the anchors alike). One untimed warm-up on a
short clip first, so the numbers are those of a running server, not of its imports.

Anchors, measured in the same run, alternating with hlsd's runs:
  seed     the seed's approach: download the whole file from the same upstream, then
           ``ffmpeg -i file -c:v copy -c:a aac -f hls -hls_time 6 -hls_playlist_type vod``
           over the whole file (for the WAV, ``-vn -c:a aac``), then read the first
           segment. Copying the video is generous to the seed (it transcodes).
  ffmpeg   one ffmpeg command doing just the first segment straight from the upstream
           URL (``-t 6``, same codecs): what on-demand packaging costs at best.

Printed: medians of N runs in seconds, speed-up = seed / hlsd, and the design's targets
(<= 0.5 s for the remuxable MP4, <= 1 s for the WAV that needs AAC transcoding); then
hlsd's breakdown, with its media steps (probe + index, build segment 0) timed alone.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urljoin

import _common as c
import httpx

TARGETS = {"mp4": 0.5, "wav": 1.0}
SEGMENT_SECONDS = 6


@dataclass
class Kind:
    name: str
    path: Path
    ffmpeg_codecs: list[str]
    hlsd: list[dict[str, float]] = field(default_factory=list)
    seed: list[dict[str, float]] = field(default_factory=list)
    one: list[float] = field(default_factory=list)
    index: list[float] = field(default_factory=list)
    build: list[float] = field(default_factory=list)


def first_uri(playlist: str) -> str:
    for line in playlist.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return line
    raise RuntimeError(f"no URI in playlist:\n{playlist}")


def hlsd_once(base: str, qid: str) -> dict[str, float]:
    """One cold time-to-first-segment through hlsd, with its breakdown."""
    with httpx.Client(timeout=300) as client:
        client.get(f"{base}/api/health").raise_for_status()  # connection up, untimed
        with c.stopwatch() as total:
            issued = c.issue_token(client, base, qid)
            t_token = total()
            root = f"{base}/hls/{quote(issued.rid, safe='')}/"
            master = client.get(root + "index.m3u8", headers=issued.headers)
            master.raise_for_status()
            media_url = urljoin(root, first_uri(master.text))
            media = client.get(media_url, headers=issued.headers)
            media.raise_for_status()
            t_playlists = total()
            segment = client.get(urljoin(media_url, first_uri(media.text)),
                                 headers=issued.headers)
            segment.raise_for_status()
            body = segment.content
        if not body or body[0] != 0x47:
            raise RuntimeError(f"{qid}: first segment is not MPEG-TS ({len(body)} bytes)")
    return {"total": total(), "token": t_token, "playlists": t_playlists - t_token,
            "segment": total() - t_playlists, "bytes": float(len(body))}


def seed_once(url: str, kind: Kind, scratch: Path) -> dict[str, float]:
    """Download everything, package everything with ffmpeg, then read segment 0."""
    scratch.mkdir(parents=True)
    source = scratch / ("source" + kind.path.suffix)
    try:
        with c.stopwatch() as total:
            with httpx.Client(timeout=300) as client, client.stream("GET", url) as response:
                response.raise_for_status()
                with source.open("wb") as out:
                    for chunk in response.iter_bytes(1 << 20):
                        out.write(chunk)
            t_download = total()
            subprocess.run(
                [c.FFMPEG, "-hide_banner", "-v", "error", "-y", "-i", str(source),
                 *kind.ffmpeg_codecs, "-f", "hls", "-hls_time", str(SEGMENT_SECONDS),
                 "-hls_playlist_type", "vod",
                 "-hls_segment_filename", str(scratch / "seg-%d.ts"),
                 str(scratch / "index.m3u8")],
                check=True)
            t_ffmpeg = total()
            playlist = (scratch / "index.m3u8").read_text()
            body = (scratch / first_uri(playlist)).read_bytes()
        if not body or body[0] != 0x47:
            raise RuntimeError("seed anchor: first segment is not MPEG-TS")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"total": total(), "download": t_download, "ffmpeg": t_ffmpeg - t_download,
            "read": total() - t_ffmpeg}


def one_segment_once(url: str, kind: Kind, scratch: Path) -> float:
    """ffmpeg, one command: the first segment straight from the upstream URL."""
    scratch.mkdir(parents=True)
    try:
        with c.stopwatch() as total:
            subprocess.run(
                [c.FFMPEG, "-hide_banner", "-v", "error", "-y", "-i", url,
                 "-t", str(SEGMENT_SECONDS), *kind.ffmpeg_codecs, "-f", "mpegts",
                 str(scratch / "seg-0.ts")],
                check=True)
            body = (scratch / "seg-0.ts").read_bytes()
        if not body or body[0] != 0x47:
            raise RuntimeError("ffmpeg anchor: segment is not MPEG-TS")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return total()


def media_work_once(kind: Kind) -> None:
    """hlsd's own media steps on the local file, in this process (no HTTP, no fetch)."""
    from hlsd.media import build_index, build_segment

    with c.stopwatch() as elapsed:
        index = build_index(kind.path, float(SEGMENT_SECONDS))
    kind.index.append(elapsed())
    with c.stopwatch() as elapsed:
        build_segment(kind.path, index, 0)
    kind.build.append(elapsed())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per source (median)")
    parser.add_argument("--only", choices=sorted(TARGETS), help="one source only")
    args = parser.parse_args()

    kinds = [
        Kind("mp4", c.mp4_720p(), ["-c:v", "copy", "-c:a", "aac"]),
        Kind("wav", c.wav_tone(), ["-vn", "-c:a", "aac"]),
    ]
    kinds = [k for k in kinds if args.only in (None, k.name)]
    warmup = c.OUT_DIR / "warmup-4s.mp4"
    if not warmup.is_file():
        c.media.h264_aac_mp4(warmup, seconds=4)
    run_id = secrets.token_hex(3)
    scratch = c.OUT_DIR / f"ttfs-{run_id}"

    try:
        with c.Upstream() as up, c.HlsdServer(c.hlsd_config(up.url),
                                              tmp_dir=scratch / "hlsd") as server:
            up.add_file("/media/warmup.mp4", warmup)
            hlsd_once(server.url, "warmup.mp4")
            for kind in kinds:
                for i in range(args.runs):
                    qid = f"{kind.name}-{run_id}-{i}{kind.path.suffix}"
                    up.add_file(f"/media/{qid}", kind.path)
                    url = f"{up.url}/media/{quote(qid)}"
                    kind.hlsd.append(hlsd_once(server.url, qid))
                    kind.seed.append(seed_once(url, kind, scratch / f"seed-{kind.name}-{i}"))
                    kind.one.append(one_segment_once(url, kind, scratch / f"one-{kind.name}-{i}"))
                    h = kind.hlsd[-1]
                    print(f"  {kind.name} run {i + 1}: hlsd {h['total']:.3f} s "
                          f"(token {h['token']:.3f}), seed {kind.seed[-1]['total']:.3f} s, "
                          f"ffmpeg one segment {kind.one[-1]:.3f} s",
                          file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for kind in kinds:
        for _ in range(args.runs):
            media_work_once(kind)

    report(kinds, args.runs)


def med(runs: list[dict[str, float]], key: str) -> float:
    return c.median([r[key] for r in runs])


def report(kinds: list[Kind], runs: int) -> None:
    rows = []
    for k in kinds:
        hlsd, seed, one = med(k.hlsd, "total"), med(k.seed, "total"), c.median(k.one)
        spread = [r["total"] for r in k.hlsd]
        rows.append([f"{k.name} ({k.path.stat().st_size / 1e6:.0f} MB)", hlsd,
                     f"{min(spread):.3f}-{max(spread):.3f}", seed, f"{seed / hlsd:.1f}x", one,
                     f"{hlsd / one:.1f}", f"<= {TARGETS[k.name]}",
                     "met" if hlsd <= TARGETS[k.name] else "MISSED"])
    c.print_table(["source", "hlsd s", "hlsd min-max", "seed s", "speed-up (seed/hlsd)",
                   "ffmpeg-1seg s", "hlsd/ffmpeg-1seg", "target s", ""], rows,
                  title=f"Time to first segment, median of {runs} cold runs")

    rows = []
    for k in kinds:
        token, index = med(k.hlsd, "token"), c.median(k.index)
        rows.append([k.name, token, med(k.hlsd, "playlists"), med(k.hlsd, "segment"),
                     f"{med(k.hlsd, 'bytes') / 1e6:.2f} MB", index, token - index,
                     c.median(k.build)])
    c.print_table(["source", "token s", "playlists s", "first segment s", "segment size",
                   "probe+index alone s", "token - index s", "build seg 0 alone s"], rows,
                  title="hlsd breakdown (medians). 'alone' = hlsd.media on the local file in "
                        "this process;\n'token - index' is the whole-file fetch from the "
                        "upstream plus API overhead")

    rows = [[k.name, med(k.seed, "download"), med(k.seed, "ffmpeg"), med(k.seed, "read")]
            for k in kinds]
    c.print_table(["source", "download s", "ffmpeg -f hls whole file s", "read seg 0 s"],
                  rows, title="seed anchor breakdown (medians)")


if __name__ == "__main__":
    main()
