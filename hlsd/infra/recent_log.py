"""`RecentLog`: the last log records of a logger, kept in memory for a status page.

A `logging.Handler` holding a bounded ring of the newest records at or above its level
(the console's "recent errors"), each reduced to its time, level, logger and message.
A message may carry client-controlled text (a stream name, a path): it is cut to
`max_message` characters and its control characters written out (`infra.logs.clip`),
so a client can neither fill the memory nor forge lines; whoever shows it shows it as
text. The cost per record is that of one `clip`, bounded whatever the message.

Installed on a logger by `install` and taken off by `remove`, so each app (a process
may build several: the tests do) keeps its own ring and leaves nothing behind.
"""

from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass

from hlsd.infra.logs import clip

__all__ = ["LogEntry", "RecentLog"]

CAPACITY = 50
"""Records kept: the newest, the oldest dropped."""
MAX_MESSAGE = 300
"""Characters kept of one message (with its exception, if any)."""


@dataclass(frozen=True, slots=True)
class LogEntry:
    time: str
    """When it was logged: UTC, ISO 8601 with milliseconds."""
    level: str
    """``WARNING``, ``ERROR``, ``CRITICAL``."""
    logger: str
    message: str
    """Cut and escaped (`infra.logs.clip`)."""


class RecentLog(logging.Handler):
    def __init__(self, *, capacity: int = CAPACITY, level: int = logging.WARNING,
                 max_message: int = MAX_MESSAGE) -> None:
        super().__init__(level)
        self._entries: collections.deque[LogEntry] = collections.deque(maxlen=capacity)
        self._max_message = max_message
        self._logger: logging.Logger | None = None
        self.version = 0
        """One more per record kept: whoever shows the ring knows when it changed."""

    def emit(self, record: logging.LogRecord) -> None:
        # Called under the handler's lock (`Handler.handle`), from any thread.
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string still leaves a line
            message = f"{record.msg!r} {record.args!r}"
        if record.exc_info and record.exc_info[1] is not None:
            # The exception's own text is what says why; its traceback stays in the log.
            exc = record.exc_info[1]
            cut = self._max_message
            message = f"{message[:cut]}: {type(exc).__name__}: {str(exc)[:cut]}"
        stamp = (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                 + f".{int(record.msecs):03d}Z")
        self._entries.append(LogEntry(time=stamp, level=record.levelname, logger=record.name,
                                      message=clip(message, self._max_message)))
        self.version += 1

    def entries(self) -> list[LogEntry]:
        """The records kept, oldest first."""
        self.acquire()
        try:
            return list(self._entries)
        finally:
            self.release()

    def install(self, name: str = "hlsd") -> None:
        """Start keeping the records of logger `name` (and its children); once."""
        if self._logger is None:
            self._logger = logging.getLogger(name)
            self._logger.addHandler(self)

    def remove(self) -> None:
        """Stop keeping records (the app closes)."""
        if self._logger is not None:
            self._logger.removeHandler(self)
            self._logger = None
        self.close()

