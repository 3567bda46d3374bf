"""A broken spec rule found in a playlist or a segment."""

from __future__ import annotations

from dataclasses import dataclass

from hlsd.hls.check._catalogue import Severity, rule

__all__ = ["Violation"]


@dataclass(frozen=True)
class Violation:
    """One broken rule.

    `rule` is a short stable id ("target-duration", "codecs-missing", ...) that tests
    and callers can match on; `line` is the 1-based line number, when one line is to
    blame. The severity and the spec section come with the rule id (`_catalogue`).
    """

    rule: str
    message: str
    line: int | None = None

    @property
    def severity(self) -> Severity:
        return rule(self.rule).severity

    @property
    def section(self) -> str | None:
        """The section behind the rule ("6.2.2"), if it has one; of RFC 8216 unless
        `reference` names another document."""
        return rule(self.rule).section

    @property
    def reference(self) -> str | None:
        """Where the rule is stated: "RFC 8216 §6.2.2", "rfc8216bis §4.4.4.9", ..."""
        return rule(self.rule).reference

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"[{self.rule}] {where}{self.message}"
