"""Server logging that no client can stall or forge.

A log line is rendered on the event loop, so its cost must be linear and bounded:
server processes get a plain (or JSON) formatter, never rich's highlighter, whose
regexes cost the square of a long message. Every value a client controls (a path, an
id, a header, a playlist line, a websocket message) goes through `clip` before it
reaches a log call: cut to a bounded length, control characters and terminal escapes
written out, so one request can neither flood the log nor fake a line of it. The
formatters escape and cut the whole message again, for the log calls of libraries.
"""

from __future__ import annotations

import enum
import json
import logging
import logging.config
import time
from typing import Any

__all__ = ["MAX_MESSAGE", "MAX_VALUE", "JsonFormatter", "LogFormat", "PlainFormatter",
           "clip", "escape", "server_log_config", "setup_server_logging"]

MAX_VALUE = 160
"""Characters of one client-controlled value kept in a log line."""
MAX_MESSAGE = 4000
"""Characters of one log message (before its traceback, if any)."""

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: each would end
# a line, move the cursor or start a terminal escape sequence.
_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_ESCAPES |= {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", 0x2028: "\\u2028",
             0x2029: "\\u2029"}
_KEEP_NEWLINES = {k: v for k, v in _ESCAPES.items() if k != ord("\n")}


def escape(text: str) -> str:
    """`text` on one line: every control character written as an escape."""
    return text.translate(_ESCAPES)


def clip(value: object, limit: int = MAX_VALUE) -> str:
    """`value` as a short, single-line, escaped string for a log line.

    Cut before escaping, so the work is bounded by `limit` however long `value` is.
    """
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        return f"{escape(text[:limit])}…(+{len(text) - limit} chars)"
    return escape(text)


def _bounded_message(record: logging.LogRecord) -> str:
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # a bad format string must not lose the line
        message = f"{record.msg!r} {record.args!r}"
    return clip(message, MAX_MESSAGE)


class PlainFormatter(logging.Formatter):
    """``2026-12-06 12:00:00,123 INFO hlsd.streams.hub: message``, one line per message;
    a traceback follows on its own lines, its control characters escaped."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = _bounded_message(record)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        record.asctime = self.formatTime(record)
        line = self.formatMessage(record)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line = f"{line}\n{record.exc_text.translate(_KEEP_NEWLINES)}"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, and ``exception`` when there is a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _bounded_message(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=True)


class LogFormat(enum.StrEnum):
    PLAIN = "plain"
    JSON = "json"


def server_log_config(level: str, fmt: LogFormat) -> dict[str, Any]:
    """The server's logging as a `logging.config.dictConfig` mapping: one handler on
    stderr with a linear-time formatter, on the root logger.

    The same mapping is handed to the server engine (uvicorn's ``log_config``, granian's
    ``log_dictconfig``), which applies it again in its worker processes, so every line
    of the server's log (the engine's own included) is bounded and escaped.
    """
    formatter = JsonFormatter if fmt is LogFormat.JSON else PlainFormatter
    level = level.upper()
    propagate = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"hlsd": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "hlsd",
                                "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # One line per upstream request drowns the log; hlsd logs failures itself.
            "httpx": {"level": "WARNING"},
            "_granian": {**propagate, "level": level},
            "granian.access": propagate,
            "uvicorn": {**propagate, "level": level},
            "uvicorn.error": propagate,
            "uvicorn.access": propagate,
        },
    }


def setup_server_logging(level: str, fmt: LogFormat) -> dict[str, Any]:
    """Apply `server_log_config` in this process; returns it for the server engine."""
    config = server_log_config(level, fmt)
    logging.config.dictConfig(config)
    return config
