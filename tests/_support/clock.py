"""The one fake clock of the tests: time moves only when the test says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class FakeClock:
    """Seconds that stand still until `advance` (or an assignment to `now`) moves them;
    call it where the code under test takes a ``clock`` callable. `wall` is the same
    instant as a datetime, `epoch` plus `now` seconds, for code that also takes a wall
    clock, so both move together."""

    def __init__(self, now: float = 1000.0, *, epoch: datetime = _EPOCH) -> None:
        self.now = now
        self.epoch = epoch

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def wall(self) -> datetime:
        return self.epoch + timedelta(seconds=self.now)
