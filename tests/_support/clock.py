"""The one fake clock of the tests: time moves only when the test says so."""

from __future__ import annotations


class FakeClock:
    """Seconds that stand still until `advance` (or an assignment to `now`) moves them;
    call it where the code under test takes a ``clock`` callable."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
