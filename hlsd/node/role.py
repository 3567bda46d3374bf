"""Which part a server process plays among the workers of its node (`hlsd serve
--workers N`).

Every worker serves every request: players, websocket spectators, the API, and the
publishers whose connection it took (a websocket PUSH, a continuous HTTP upload). One
worker is the leader, elected through a file lock in the node's run folder: it also
runs what a node must run once (the RTMP, SRT and websocket listeners, the recorder,
the registry's announcer) and takes the ingest that comes as separate requests (HTTP
push, LiveMix), which the others hand it (`hlsd.node.forward`). The lock is the
kernel's: it is let go when the leader dies however it dies, and the engine's new
worker takes it as it starts.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NODE_DIR_ENV", "NodeRole", "leader_id", "node_role"]

NODE_DIR_ENV = "HLSD_NODE_DIR"
"""The node's run folder, made by `hlsd serve` (private: it holds the workers' sockets,
which take requests as if from the network's own clients)."""
_LEADER_LOCK = "leader.lock"


@dataclass(frozen=True, slots=True)
class NodeRole:
    workers: int
    leader: bool
    """This process runs the node's single parts (always, with one worker)."""
    run_dir: Path | None
    """The node's run folder (None with one worker: nothing to share)."""
    worker_id: str
    lock: int | None = None
    """The leader lock's descriptor, open for the life of the process: closing it would
    hand the leadership on while this process still acts as leader."""

    @property
    def shared(self) -> bool:
        """Whether other worker processes share this node."""
        return self.run_dir is not None

    def socket_path(self, worker_id: str) -> Path:
        assert self.run_dir is not None
        return self.run_dir / f"w-{worker_id}.sock"


def node_role(workers: int) -> NodeRole:
    """This process's role: the only one, or one of `workers` sharing the run folder
    `hlsd serve` named in ``HLSD_NODE_DIR``."""
    worker_id = str(os.getpid())
    if workers <= 1:
        return NodeRole(workers=1, leader=True, run_dir=None, worker_id=worker_id)
    folder = os.environ.get(NODE_DIR_ENV)
    if not folder:
        raise RuntimeError(f"{workers} workers share live streams through the run folder "
                           f"`hlsd serve` makes ({NODE_DIR_ENV}); start the server with "
                           "`hlsd serve`")
    run_dir = Path(folder)
    lock = _take_leadership(run_dir, worker_id)
    return NodeRole(workers=workers, leader=lock is not None, run_dir=run_dir,
                    worker_id=worker_id, lock=lock)


def _take_leadership(run_dir: Path, worker_id: str) -> int | None:
    """The leader lock's descriptor if this process took it, else None."""
    fd = os.open(run_dir / _LEADER_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, worker_id.encode())
    return fd


def leader_id(run_dir: Path) -> str | None:
    """The worker id of the node's leader, as its lock file says (None: none yet)."""
    try:
        text = (run_dir / _LEADER_LOCK).read_text().strip()
    except OSError:
        return None
    return text or None
