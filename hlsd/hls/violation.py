"""A broken spec rule found in a playlist by `hlsd.hls.rules`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Violation"]


@dataclass(frozen=True)
class Violation:
    """One broken rule.

    `rule` is a short stable id ("target-duration", "codecs-missing", ...) that tests
    and callers can match on; `line` is the 1-based line number, when one line is to
    blame.
    """

    rule: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"[{self.rule}] {where}{self.message}"
