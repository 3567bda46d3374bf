"""Every rule id a check can report has a severity and an RFC 8216 section in `RULES`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hlsd.hls.check import RULES, Severity, Violation

HLSD = Path(__file__).resolve().parents[3] / "hlsd"
# Modules that report violations: the pure checks and the fetching checker.
REPORTERS = [*sorted((HLSD / "hls" / "check").glob("*.py")),
             *sorted((HLSD / "client").glob("checker*.py"))]
# A rule id is the first argument of Violation(...) or MediaScan.add(...), or the rule
# argument of a helper that passes it on (`_integer(..., "target-duration")`).
_REPORTED = re.compile(r'(?:Violation\(|\.add\(|return |_integer\([^)]*?)\s*"([a-z0-9-]+)"')


def reported_ids() -> set[str]:
    return {m.group(1) for path in REPORTERS for m in _REPORTED.finditer(path.read_text())}


def test_the_scan_finds_the_reporters() -> None:
    ids = reported_ids()
    # One id of each reporting module, so that the pattern cannot silently stop matching.
    assert {"bom", "attribute-type", "target-duration", "media-sequence-decreased",
            "group-missing", "webvtt-header", "endlist-missing", "live-stalled",
            "segment-duration", "playlist-content-type"} <= ids


def test_every_reported_rule_is_catalogued() -> None:
    missing = reported_ids() - set(RULES)
    assert not missing, f"add these rule ids to hlsd/hls/check/_catalogue.py: {missing}"


@pytest.mark.parametrize(("rule", "severity", "section"), [
    ("target-duration", Severity.ERROR, "4.3.3.1"),
    ("media-sequence-decreased", Severity.ERROR, "6.2.2"),
    ("codecs-missing", Severity.WARNING, "4.3.4.2"),
    ("m3u8-parse", Severity.WARNING, None),
    ("no-such-rule", Severity.ERROR, None),  # unknown ids count as errors
])
def test_a_violation_carries_its_rules_severity_and_section(
        rule: str, severity: Severity, section: str | None) -> None:
    violation = Violation(rule, "what", 3)
    assert (violation.severity, violation.section) == (severity, section)
    assert str(violation) == f"[{rule}] line 3: what"
