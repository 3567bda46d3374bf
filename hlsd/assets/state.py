"""The life of an asset: `AssetState` and the moves between states.

    created ─upload done─▶ uploaded ─▶ queued ─▶ processing ─▶ ready
                                         ▲           │ └──────▶ failed (reason)
                                         └─ retry ───┘
    any unfinished state ─▶ cancelled;  failed ─ retry ─▶ queued
    failed ─ retry of a URL import ─▶ created (fetched again)

A move is a compare-and-set in the database (`hlsd.db.assets.move`), so two workers, or
a worker and a cancel, can never both win.
"""

from __future__ import annotations

import enum

__all__ = ["AssetState", "InvalidTransition", "check_move", "sources_of"]


class AssetState(enum.Enum):
    CREATED = "created"
    """Made, waiting for its upload (or import) to complete."""
    UPLOADED = "uploaded"
    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (AssetState.READY, AssetState.FAILED, AssetState.CANCELLED)


_MOVES: dict[AssetState, frozenset[AssetState]] = {
    AssetState.CREATED: frozenset({AssetState.UPLOADED, AssetState.FAILED,
                                   AssetState.CANCELLED}),
    AssetState.UPLOADED: frozenset({AssetState.QUEUED, AssetState.FAILED,
                                    AssetState.CANCELLED}),
    AssetState.QUEUED: frozenset({AssetState.PROCESSING, AssetState.FAILED,
                                  AssetState.CANCELLED}),
    AssetState.PROCESSING: frozenset({AssetState.READY, AssetState.FAILED,
                                      AssetState.CANCELLED, AssetState.QUEUED}),
    AssetState.READY: frozenset(),
    AssetState.FAILED: frozenset({AssetState.QUEUED, AssetState.CREATED}),
    AssetState.CANCELLED: frozenset(),
}


class InvalidTransition(ValueError):
    def __init__(self, current: AssetState, wanted: AssetState) -> None:
        super().__init__(f"an asset that is {current.value} cannot become {wanted.value}")
        self.current = current
        self.wanted = wanted


def check_move(current: AssetState, wanted: AssetState) -> None:
    if wanted not in _MOVES[current]:
        raise InvalidTransition(current, wanted)


def sources_of(wanted: AssetState) -> frozenset[AssetState]:
    """The states from which an asset may become `wanted`."""
    return frozenset(s for s, moves in _MOVES.items() if wanted in moves)
