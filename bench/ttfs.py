"""Time to first segment: hlsd reading by range or downloading whole, against the seed's
whole-file approach, in one run, over loopback and over throttled links.

    python bench/ttfs.py [--runs 3] [--only mp4|wav] [--links loopback,1g,100m]

Sources (generated once into bench/out/, gitignored): a 10-minute 1280x720 H.264/AAC MP4
(keyframe every 2 s) and a 10-minute WAV, both served by a local `Upstream` (a real
threaded HTTP server on 127.0.0.1) through a `Link`: loopback as it is, or a shared
bottleneck of 1 Gbit/s with a 2 ms round trip, or 100 Mbit/s with 20 ms.

hlsd: from ``POST /api/token`` to the last byte of the first segment, i.e. token (hlsd
fetches, probes and indexes the source before answering) + master playlist + media
playlist + first segment, in two modes set by the upstream:
  ranged   the upstream honours Range (206): hlsd reads the header, the sample table and
           the first segment's bytes, block by block;
  whole    the upstream ignores Range (200 with the whole body): hlsd downloads it all
           before it can index.
Every run uses a fresh qid, so nothing is cached in hlsd (the OS page cache is warm for
hlsd and the anchors alike). One untimed warm-up on a short clip first.

Anchors, measured in the same run, alternating with hlsd's runs:
  seed     the seed's approach: download the whole file over the same link, then
           ``ffmpeg -i file -c:v copy -c:a aac -f hls -hls_time 6 -hls_playlist_type vod``
           over the whole file (for the WAV, ``-vn -c:a aac``), then read the first
           segment. Copying the video is generous to the seed (it transcodes).
  ffmpeg   one ffmpeg command doing just the first segment straight from the upstream
           URL (``-t 6``, same codecs, ranges honoured): on-demand packaging at its best.

Printed: medians of N runs in seconds, the ratios, the bytes each mode took from the
upstream, and the design's targets (<= 0.5 s for the remuxable MP4, <= 1 s for the WAV
that needs AAC transcoding); then hlsd's breakdown, with its media steps (probe + index,
build segment 0) timed alone on the local file.
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
LINKS = {
    "loopback": ("loopback", None, 0.0),
    "1g": ("1 Gbit/s, 2 ms RTT", 1e9, 0.002),
    "100m": ("100 Mbit/s, 20 ms RTT", 1e8, 0.020),
}
MODES = ("ranged", "whole")


@dataclass
class Case:
    """One source over one link: every run's figures."""

    kind: str
    path: Path
    ffmpeg_codecs: list[str]
    link: c.Link
    hlsd: dict[str, list[dict[str, float]]] = field(
        default_factory=lambda: {m: [] for m in MODES})
    seed: list[dict[str, float]] = field(default_factory=list)
    one: list[float] = field(default_factory=list)


@dataclass
class Local:
    """hlsd's media steps on the local file, in this process."""

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


def seed_once(url: str, kind: Case, scratch: Path) -> dict[str, float]:
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


def one_segment_once(url: str, kind: Case, scratch: Path) -> float:
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


def media_work_once(path: Path, local: Local) -> None:
    """hlsd's own media steps on the local file, in this process (no HTTP, no fetch)."""
    from hlsd.media import build_index, build_segment

    with c.stopwatch() as elapsed:
        index = build_index(path, float(SEGMENT_SECONDS))
    local.index.append(elapsed())
    with c.stopwatch() as elapsed:
        build_segment(path, index, 0)
    local.build.append(elapsed())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per case (median)")
    parser.add_argument("--only", choices=sorted(TARGETS), help="one source only")
    parser.add_argument("--links", default=",".join(LINKS),
                        help=f"comma-separated, of {', '.join(LINKS)}")
    args = parser.parse_args()
    links = [name.strip() for name in args.links.split(",") if name.strip()]
    if not links or any(name not in LINKS for name in links):
        parser.error(f"--links takes names from {', '.join(LINKS)}")

    sources = [("mp4", c.mp4_720p(), ["-c:v", "copy", "-c:a", "aac"]),
               ("wav", c.wav_tone(), ["-vn", "-c:a", "aac"])]
    sources = [s for s in sources if args.only in (None, s[0])]
    cases = [Case(kind, path, codecs, c.Link(*LINKS[name]))
             for name in links for kind, path, codecs in sources]
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
            for n, case in enumerate(cases):
                for i in range(args.runs):
                    run(up, server.url, case, f"{case.kind}-{run_id}-{n}-{i}", scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    local = {path: Local() for _, path, _ in sources}
    for path, figures in local.items():
        for _ in range(args.runs):
            media_work_once(path, figures)

    report(cases, local, args.runs)


def run(up: c.Upstream, base: str, case: Case, stem: str, scratch: Path) -> None:
    """One run of every measurement of `case`, each on a fresh qid."""
    suffix = case.path.suffix
    for mode in MODES:
        qid = f"{stem}-{mode}{suffix}"
        c.serve_file(up, f"/media/{qid}", case.path, case.link, ranges=mode == "ranged")
        before = case.link.sent
        figures = hlsd_once(base, qid)
        figures["upstream"] = float(case.link.sent - before)
        case.hlsd[mode].append(figures)
    qid = f"{stem}-anchor{suffix}"
    c.serve_file(up, f"/media/{qid}", case.path, case.link, ranges=True)
    url = f"{up.url}/media/{quote(qid)}"
    case.seed.append(seed_once(url, case, scratch / f"seed-{stem}"))
    case.one.append(one_segment_once(url, case, scratch / f"one-{stem}"))
    ranged, whole = case.hlsd["ranged"][-1], case.hlsd["whole"][-1]
    print(f"  {case.kind} over {case.link.name}: hlsd ranged {ranged['total']:.3f} s, "
          f"whole {whole['total']:.3f} s, seed {case.seed[-1]['total']:.3f} s, "
          f"ffmpeg one segment {case.one[-1]:.3f} s", file=sys.stderr, flush=True)


def med(runs: list[dict[str, float]], key: str) -> float:
    return c.median([r[key] for r in runs])


def report(cases: list[Case], local: dict[Path, Local], runs: int) -> None:
    rows = []
    for k in cases:
        ranged, whole = med(k.hlsd["ranged"], "total"), med(k.hlsd["whole"], "total")
        seed, one = med(k.seed, "total"), c.median(k.one)
        spread = [r["total"] for r in k.hlsd["ranged"]]
        target = TARGETS[k.kind]
        rows.append([f"{k.kind} ({k.path.stat().st_size / 1e6:.0f} MB)", k.link.name,
                     ranged, f"{min(spread):.3f}-{max(spread):.3f}", whole,
                     f"{whole / ranged:.1f}x", seed, f"{seed / ranged:.1f}x", one,
                     f"{ranged / one:.2f}", f"<= {target}",
                     "met" if ranged <= target else "MISSED"])
    c.print_table(["source", "link", "ranged s", "min-max", "whole s", "whole/ranged",
                   "seed s", "seed/ranged", "ffmpeg-1seg s", "ranged/ffmpeg-1seg",
                   "target s", ""], rows,
                  title=f"Time to first segment, median of {runs} cold runs "
                        "(hlsd ranged: the upstream honours Range; whole: it does not)")

    rows = []
    for k in cases:
        for mode in MODES:
            r = k.hlsd[mode]
            rows.append([k.kind, k.link.name, mode, med(r, "token"), med(r, "playlists"),
                         med(r, "segment"), f"{med(r, 'upstream') / 1e6:.1f} MB",
                         f"{med(r, 'bytes') / 1e6:.2f} MB"])
    c.print_table(["source", "link", "mode", "token s", "playlists s", "first segment s",
                   "from upstream", "segment size"], rows,
                  title="hlsd breakdown (medians); 'from upstream' = body bytes the "
                        "upstream sent for that qid")

    rows = [[path.suffix.lstrip("."), c.median(f.index), c.median(f.build)]
            for path, f in local.items()]
    c.print_table(["source", "probe+index s", "build seg 0 s"], rows,
                  title="hlsd.media alone on the local file, in this process (medians)")

    rows = [[k.kind, k.link.name, med(k.seed, "download"), med(k.seed, "ffmpeg"),
             med(k.seed, "read")] for k in cases]
    c.print_table(["source", "link", "download s", "ffmpeg -f hls whole file s",
                   "read seg 0 s"], rows, title="seed anchor breakdown (medians)")


if __name__ == "__main__":
    main()
