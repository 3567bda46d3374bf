"""What ``hlsd check`` runs: check a stream, print what was found, pick the exit code.

One line per finding, grouped by playlist, as compilers write them:

    http://h/live/cam/720p/index.m3u8:7: error: segment seg-3.ts lasts 7.2 s, which
    rounds above the target duration 6 (RFC 8216 §4.3.3.1) [target-duration]

then a summary. Findings of a reload name it (``[media-sequence-decreased, reload 2]``):
its line numbers are that load's. Exit codes: 0 no errors (warnings allowed), 1 errors,
2 a usage problem or a URL that gives nothing to check, 130 interrupted. Findings and
the summary go to stdout (``--json``: the report as JSON); progress and the reason a URL
cannot be checked go to the console (stderr). Text the stream wrote (URIs, media types)
is printed with its control characters escaped.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter

from rich.console import Console
from rich.markup import escape

from hlsd.client.checker import Checker, CheckOptions, Unreachable
from hlsd.client.checker_report import Finding, PlaylistKind, PlaylistReport, Report
from hlsd.infra.logs import escape as one_line

__all__ = ["check_stream", "finding_line"]

EXIT_CLEAN, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def check_stream(console: Console, url: str, *, reloads: int, segments: bool,
                 as_json: bool) -> int:
    if not url.startswith(("http://", "https://")):
        console.print("[red]URL must be an http:// or https:// URL[/red]")
        return EXIT_USAGE
    options = CheckOptions(reloads=reloads, segments=segments)
    try:
        if console.is_terminal:
            with console.status("checking", spinner="dots") as status:
                checker = Checker(options, progress=lambda what: status.update(escape(what)))
                report = asyncio.run(checker.check(url))
        else:
            report = asyncio.run(Checker(options).check(url))
    except Unreachable as exc:
        console.print(f"[red]{escape(one_line(str(exc)))}[/red]", soft_wrap=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        console.print("interrupted")
        return EXIT_INTERRUPTED
    if as_json:
        print(json.dumps(report.as_json(), indent=2), flush=True)
    else:
        # The stream under test wrote much of this text (URIs, media types): a control
        # character in it must not reach the terminal as one.
        for line in _lines(report):
            print(one_line(line), flush=True)
    return EXIT_ERRORS if report.errors else EXIT_CLEAN


def finding_line(finding: Finding) -> str:
    """``URL:LINE: severity: message (RFC 8216 §x) [rule]``; no ``LINE:`` when no one
    line is to blame, and ``, reload N`` after the rule for a finding of a reload. A
    Low-Latency rule names its own document (``rfc8216bis §4.4.4.9``)."""
    v = finding.violation
    where = finding.url if v.line is None else f"{finding.url}:{v.line}"
    section = f" ({v.reference})" if v.reference else ""
    reload = f", reload {finding.fetch - 1}" if finding.fetch > 1 else ""
    return f"{where}: {v.severity.value}: {v.message}{section} [{v.rule}{reload}]"


def _lines(report: Report) -> list[str]:
    lines: list[str] = []
    for playlist in report.playlists:
        lines.append(f"{playlist.url}: {_describe(playlist)}")
        lines.extend(finding_line(finding) for finding in playlist.findings)
    lines.extend(f"note: {note}" for note in report.notes)
    lines.append(_summary(report))
    return lines


def _describe(playlist: PlaylistReport) -> str:
    if playlist.kind is None:
        return "unreadable"
    words = [f"{playlist.kind.value} playlist"]
    if playlist.kind is PlaylistKind.MEDIA:
        live = "live, low-latency" if playlist.low_latency else "live"
        words.append(f"{live}, {_count(playlist.fetches, 'load')}" if playlist.live else "VOD")
    if playlist.segments:
        words.append(f"{_count(playlist.segments, 'segment')} fetched")
    if playlist.parts:
        words.append(f"{_count(playlist.parts, 'part')} fetched")
    return ", ".join(words)


def _summary(report: Report) -> str:
    kinds = Counter(p.kind.value for p in report.playlists if p.kind is not None)
    checked = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    return (f"checked {len(report.playlists)} playlist(s) ({checked}): "
            f"{_count(report.errors, 'error')}, {_count(report.warnings, 'warning')}")


def _count(number: int, word: str) -> str:
    return f"{number} {word}" + ("" if number == 1 else "s")
