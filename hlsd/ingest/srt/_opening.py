"""Asking `Publishers.open` from libsrt's receiving thread, with a deadline.

The listen callback must answer before libsrt goes on with the handshake, so it waits
for `open` on the event loop, at most `OPEN_WAIT`: meanwhile libsrt reads no packet of
this port (its receive latency and the kernel's socket buffer absorb a short wait). The
answer is a session, or a `Refusal` carrying the access-control code the caller is shown.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass

from hlsd.ingest.continuous import (
    IngestSession,
    Publishers,
    PublishRefused,
    PublishRequest,
    RefusalReason,
)
from hlsd.ingest.srt.streamid import RejectCode

__all__ = ["CLOSING", "OPEN_WAIT", "Refusal", "open_from_thread"]

OPEN_WAIT = 2.0
"""Seconds the listen callback waits for `Publishers.open`."""
CLOSING = "the server is closing"

_CODES = {
    RefusalReason.UNAUTHORIZED: RejectCode.UNAUTHORIZED,
    RefusalReason.BAD_NAME: RejectCode.BAD_REQUEST,
    RefusalReason.BUSY: RejectCode.CONFLICT,
    RefusalReason.FULL: RejectCode.OVERLOAD,
}


@dataclass(frozen=True, slots=True)
class Refusal:
    message: str
    """Why, for the log line (the caller only sees `code`)."""
    code: RejectCode


def open_from_thread(publishers: Publishers, request: PublishRequest,
                     loop: asyncio.AbstractEventLoop, *,
                     late: Callable[[IngestSession], None]) -> IngestSession | Refusal:
    """(not the loop's thread) `publishers.open(request)` run on `loop`, waited for.
    Past the deadline the open is cancelled (a cancelled open leaves no session); one
    that finished in that instant is handed to `late` (from any thread) to be closed:
    the caller was refused meanwhile."""
    opening = publishers.open(request)
    try:
        future = asyncio.run_coroutine_threadsafe(opening, loop)
    except RuntimeError:  # the loop is closed
        opening.close()
        return Refusal(CLOSING, RejectCode.DOWN)
    try:
        return future.result(OPEN_WAIT)
    except PublishRefused as e:
        return Refusal(e.message, _CODES.get(e.reason, RejectCode.FORBIDDEN))
    except concurrent.futures.TimeoutError:
        future.cancel()
        future.add_done_callback(
            lambda done: late(done.result())
            if not done.cancelled() and done.exception() is None else None)
        return Refusal(f"the server did not answer within {OPEN_WAIT:g} s", RejectCode.ISE)
    except concurrent.futures.CancelledError:
        return Refusal(CLOSING, RejectCode.DOWN)
    except Exception as e:  # told to the caller as a server error
        return Refusal(f"the server failed: {type(e).__name__}: {e}", RejectCode.ISE)
